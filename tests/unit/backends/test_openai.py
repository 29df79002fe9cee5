"""OpenAI and OpenAI-compatible backends against the loopback server, through the real SDK."""

from __future__ import annotations

import pytest

from autointerp.backends import LLMRequest, Message
from autointerp.errors import BackendError
from tests.support.api_server import openai_chat
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask, complete_all


def test_openai_payload_and_response(keys, server):
    request = LLMRequest(
        system="You explain neurons.",
        messages=(Message(role="user", content="a b c"), Message(role="assistant", content="d"),
                  Message(role="user", content="what fires")),
        max_tokens=7, json_mode=True, stop=("\n\n",),
    )
    (response,), _ = run(complete_all("openai:gpt-4.1-mini", [request]))
    body = server.requests_to("/chat/completions")[0].json
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"][0] == {"role": "system", "content": "You explain neurons."}
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body
    assert body["response_format"] == {"type": "json_object"} and body["stop"] == ["\n\n"]
    assert "logprobs" not in body
    assert response.text == "echo: what fires" and response.logprobs is None
    # fake tokenizer: whitespace words -> 3 + 3 + 1 + 2 = 9 prompt tokens, 3 output tokens
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.requests) == (9, 3, 1)


def test_logprobs_are_parsed(keys, server):
    (response,), _ = run(complete_all("openai:gpt-4.1-mini", [ask("x y", top_logprobs=3)]))
    body = server.requests_to("/chat/completions")[0].json
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert [t.token for t in response.logprobs] == ["echo:", "x", "y"]
    first = response.logprobs[1]
    assert first.logprob == pytest.approx(-0.1)
    assert first.top == {"x": -0.1, "<alt0>": -2.5, "<alt1>": -3.5}


def test_cached_prompt_tokens_are_split_out(keys, server):
    server.handler = lambda req: openai_chat("hi", prompt_tokens=1000, completion_tokens=5, cached_tokens=800)
    (response,), _ = run(complete_all("openai:gpt-4.1-mini", [ask("q")]))
    usage = response.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (200, 800, 5)


def test_openai_compatible_uses_base_url_and_max_tokens(monkeypatch, server):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = f"openai-compatible:Qwen/Qwen2.5-0.5B@{server.openai_base_url}"
    (response,), backend = run(complete_all(spec, [ask("hello", max_tokens=5)]))
    body = server.requests_to("/chat/completions")[0].json
    assert body["model"] == "Qwen/Qwen2.5-0.5B" and body["max_tokens"] == 5
    assert response.text == "echo: hello" and backend.spec == spec and backend.model == "Qwen/Qwen2.5-0.5B"


def test_openai_compatible_never_sends_the_openai_key(keys, server):
    run(complete_all(f"openai-compatible:m@{server.openai_base_url}", [ask("hi")]))
    assert keys not in server.requests[0].headers.get("authorization", "")


def test_prefill_scoring_is_refused(keys, server):
    request = ask("x", prefill=("a",), candidates=("0", "1"))
    with pytest.raises(BackendError, match="prompt_logprobs"):
        run(complete_all("openai:gpt-4.1-mini", [request]))
    assert server.requests == []
