"""Local transformers backend on the packaged smollm2-135m (slow: loads the real model)."""

from __future__ import annotations

import asyncio
import math

import pytest
import torch

from autointerp.backends import LLMRequest, Message
from autointerp.errors import BackendError
from tests.unit.backends.conftest import run

pytestmark = pytest.mark.slow

DIGITS = tuple(str(d) for d in range(10))


@pytest.fixture(scope="module")
def local():
    from autointerp.backends.local import LocalBackend

    return LocalBackend("smollm2-135m")


def _scoring_request(text: str) -> LLMRequest:
    return LLMRequest(
        system="Rate each token from 0 to 9.",
        messages=(Message(role="user", content=f"Text: {text}"),),
        prefill=("the\t", "cat\t", "sat\t"),
        candidates=DIGITS,
    )


def test_short_generation_batched_with_logprobs(local):
    async def scenario():  # concurrent requests are generated in one padded batch
        requests = [LLMRequest(messages=(Message(role="user", content=q),), max_tokens=6, top_logprobs=k)
                    for q, k in (("What is 2+2?", 3), ("Name a colour.", 0), ("Say hello.", 0))]
        return await asyncio.gather(*(local.complete(r) for r in requests))

    responses = run(scenario())
    for r in responses:
        assert r.text.strip() and 0 < r.usage.output_tokens <= 6 and r.usage.input_tokens > 0
        assert r.finish_reason in ("stop", "length")
    first = responses[0]
    assert len(first.logprobs) == first.usage.output_tokens and responses[1].logprobs is None
    for position in first.logprobs:  # greedy: the chosen token is the most likely one
        assert position.logprob <= 0 and position.logprob == pytest.approx(max(position.top.values()), abs=1e-5)
        assert len(position.top) <= 3


def test_candidate_logprobs_match_a_direct_forward_pass(local):
    request = _scoring_request("the cat sat")

    async def scenario():  # two concurrent requests share one padded forward pass
        return await asyncio.gather(local.complete(request), local.complete(_scoring_request("a much longer text")))

    response, _ = run(scenario())
    assert len(response.candidate_logprobs) == 3 and response.text == ""
    ids, ends = local.segment_ids(request)
    with torch.no_grad():
        logits = local.lm(input_ids=torch.tensor([ids])).logits[0]
    reference = torch.log_softmax(logits.float(), dim=-1)
    cand_ids = local.candidate_ids(DIGITS)
    for segment, end in zip(response.candidate_logprobs, ends):
        assert sum(math.exp(v) for v in segment.values()) <= 1.0 + 1e-6
        for digit, token_id in zip(DIGITS, cand_ids):
            assert segment[digit] == pytest.approx(float(reference[end, token_id]), abs=1e-4)


def test_multi_token_candidate_is_refused(local):
    request = LLMRequest(messages=(Message(role="user", content="x"),), prefill=("a",), candidates=("9", "10"))
    with pytest.raises(BackendError, match=r"candidate '10' is 2 tokens .*single tokens"):
        run(local.complete(request))


def test_build_backend_local_spec():
    from autointerp.backends import build_backend, usage_of

    async def scenario():
        backend = build_backend("local:smollm2-135m")
        response = await backend.complete(LLMRequest(messages=(Message(role="user", content="Hi"),), max_tokens=3))
        await backend.aclose()
        return response, usage_of(backend)

    response, usage = run(scenario())
    assert response.usage.cost_usd == 0 and usage.requests == 1 and usage.output_tokens == response.usage.output_tokens



def test_shared_prefix_is_run_once_and_exact(local):
    system = "You rate tokens. " * 12  # a long common prefix (system text), as the stages' few-shot prompts have
    rows = [
        local.segment_ids(LLMRequest(system=system, messages=(Message(role="user", content=f"Text: {t}"),),
                                     prefill=("the\t", "cat\t"), candidates=DIGITS))[0]
        for t in ("one", "two words", "three whole words here")
    ]
    with torch.no_grad():
        hidden, shared = local._forward_shared_prefix(rows)
        assert shared >= 16  # the common prefix ran once; its KV cache served all three rows
        for row, ids in enumerate(rows):
            reference = local.lm.base_model(input_ids=torch.tensor([ids])).last_hidden_state[0]
            torch.testing.assert_close(hidden[row, : len(ids) - shared], reference[shared:], atol=1e-4, rtol=1e-4)
