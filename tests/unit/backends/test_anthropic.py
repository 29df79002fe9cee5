"""Anthropic backend against the loopback server, through the real SDK."""

from __future__ import annotations

import pytest

from autointerp.backends import LLMRequest, Message
from autointerp.errors import BackendError
from tests.support.api_server import anthropic_message
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask, complete_all


def test_prompt_caching_marks_system_and_last_stable_message(keys, server):
    request = LLMRequest(
        system="rubric text",
        messages=(Message(role="user", content="example 1"), Message(role="assistant", content="answer 1"),
                  Message(role="user", content="live question")),
        cache_prefix_messages=2, max_tokens=9, stop=("END",), prefill=("Score:",),
    )
    (response,), backend = run(complete_all("anthropic:claude-sonnet-4-5", [request]))
    sent = server.requests_to("/v1/messages")[0]
    body = sent.json
    assert body["model"] == "claude-sonnet-4-5" and body["max_tokens"] == 9 and body["stop_sequences"] == ["END"]
    assert body["system"] == [{"type": "text", "text": "rubric text", "cache_control": {"type": "ephemeral"}}]
    assert body["messages"][0] == {"role": "user", "content": "example 1"}
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "answer 1", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"][2] == {"role": "user", "content": "live question"}
    assert body["messages"][3] == {"role": "assistant", "content": "Score:"}  # prefill opens the reply
    assert any(keys in value for value in sent.headers.values())  # the SDK sent the key from the environment
    assert response.text == "echo: live question" and not backend.capabilities.logprobs


def test_usage_with_cache_tokens(keys, server):
    server.handler = lambda req: anthropic_message("ok", input_tokens=12, output_tokens=3,
                                                   cache_read_input_tokens=2000, cache_creation_input_tokens=500)
    (response,), _ = run(complete_all("anthropic:claude-sonnet-4-5", [ask("q")]))
    u = response.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens) == (12, 3, 2000, 500)
    assert response.finish_reason == "end_turn" and response.request_id.startswith("msg_")


def test_logprob_requests_are_refused(keys, server):
    with pytest.raises(BackendError, match="no logprobs"):
        run(complete_all("anthropic:claude-sonnet-4-5", [ask("q", top_logprobs=5)]))
    assert server.requests == []
