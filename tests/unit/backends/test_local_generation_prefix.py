"""Generation reuses the batch's shared prompt prefix (one KV cache, expanded) and stays exact (slow: real model)."""

from __future__ import annotations

import asyncio

import pytest
import torch

from autointerp.backends import LLMRequest, Message

pytestmark = pytest.mark.slow

SYSTEM = "You describe what a highlighted word has in common with others. Answer in a few words. " * 3


@pytest.fixture(scope="module")
def local():
    from autointerp.backends.local import LocalBackend

    return LocalBackend("smollm2-135m")


def _request(text: str, top: int = 0) -> LLMRequest:
    return LLMRequest(system=SYSTEM, messages=(Message(role="user", content=text),), max_tokens=8, top_logprobs=top)


def test_batched_generation_with_shared_prefix_matches_one_at_a_time(local, monkeypatch):
    texts = ["The <<cat>> sat.", "A <<dog>> barked loudly at night.", "<<Paris>> is a city."]
    calls = []
    real = local.lm.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(local.lm, "generate", spy)

    async def together():
        return await asyncio.gather(*(local.complete(_request(t, top=3)) for t in texts))

    batched = asyncio.run(together())
    assert any(len(c["input_ids"]) == 3 and c.get("cache") is not None for c in calls), "prefix cache not used"
    alone = [asyncio.run(local.complete(_request(t, top=3))) for t in texts]  # batch of one: no sharing, no padding
    for b, a in zip(batched, alone):
        assert b.text == a.text
        for lb, la in zip(b.logprobs, a.logprobs):
            assert lb.token == la.token
            torch.testing.assert_close(torch.tensor(lb.logprob), torch.tensor(la.logprob), atol=2e-3, rtol=0)


def test_shared_prefix_length(local):
    rows = [[1] * 20 + [2, 3], [1] * 20 + [4], [1] * 20 + [5, 6, 7]]
    assert local._shared_prefix(rows) == 20
    assert local._shared_prefix([[1] * 20 + [2]]) == 0  # one row: nothing to share
    assert local._shared_prefix([[1] * 5 + [2], [1] * 5 + [3]]) == 0  # too short to be worth a separate pass


def test_stop_strings_end_generation_early_and_cut_the_text(local, monkeypatch):
    """A row stops generating once its text holds a stop string after some non-blank text; the text is cut there
    and is the start of what the same request generates without a stop."""
    lines = LLMRequest(system=SYSTEM, messages=(Message(role="user", content="List three fruits, one per line."),),
                       max_tokens=40)  # fmt: skip
    free = asyncio.run(local.complete(lines))
    stopped = asyncio.run(local.complete(lines.model_copy(update={"stop": ("\n",)})))
    assert "\n" in free.text.strip() and "\n" not in stopped.text.strip()
    assert free.text.startswith(stopped.text) and stopped.text.strip()
    assert stopped.finish_reason == "stop" and stopped.usage.output_tokens < free.usage.output_tokens


def test_stop_at_skips_leading_blanks():
    from autointerp.backends.local import stop_at

    assert stop_at(" names of days\nmore", ("\n",)) == 14
    assert stop_at("\n\n names\n", ("\n",)) == 8
    assert stop_at("\n  ", ("\n",)) == -1 and stop_at("abc", ()) == -1
