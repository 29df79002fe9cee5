import asyncio

import numpy as np
import pytest

from autointerp.errors import BackendError, BudgetExceeded
from autointerp.judging.explain import ExplainConfig, LogitTokens, explain_unit, select_contexts
from autointerp.judging.prompts import load_prompt
from tests.support.scripted_backend import ScriptedBackend, replies

from .conftest import ctx, live_user, make_samples


def run(samples, backend, config=None, **kw):
    return asyncio.run(explain_unit(samples, backend, config or ExplainConfig(), **kw))


def test_explains_from_explain_split_only(samples):
    backend = ScriptedBackend(replies("The highlighted words are cats.\nExplanation: \"cat words\""))
    expl = run(samples, backend, seed=7)
    assert expl.ok and expl.text == "cat words" and expl.error is None
    spec = load_prompt("explain")
    p = expl.provenance
    assert (p.backend, p.model, p.prompt_id, p.prompt_version, p.prompt_hash, p.seed) == (
        "scripted:test", "scripted-1", "explain", spec.version, spec.content_hash, 7)
    assert p.config_hash and expl.usage.requests == 1
    [request] = backend.requests
    user = live_user(request)
    assert "The <<cat sat>>." in user and "cat (10), sat (1)" in user  # top context, strongest first
    assert user.index("<<cat sat>>") < user.index("<<kitten>>")
    assert "‹‹" in user and "<<sale" not in user  # corpus markers neutralised
    for heldout in ("purred", "lion", "Stock"):
        assert heldout not in user
    assert "Rain" not in user  # non-activating contexts are not shown
    assert request.cache_prefix_messages == 2 and request.messages[1].role == "assistant"


def test_logit_tokens_are_shown_when_given(samples):
    backend = ScriptedBackend(replies("Explanation: cats"))
    run(samples, backend, logit_tokens=LogitTokens(promoted=(" meow", " purr"), suppressed=(" bark",)))
    user = live_user(backend.requests[0])
    assert "meow, purr" in user and "bark" in user
    backend2 = ScriptedBackend(replies("Explanation: cats"))
    run(samples, backend2)
    assert "more likely" not in live_user(backend2.requests[0])


def test_unreadable_answer_is_reasked_then_recorded(samples):
    backend = ScriptedBackend(replies("", "Explanation: cats"))
    expl = run(samples, backend)
    assert expl.ok and expl.text == "cats" and len(backend.requests) == 2 and expl.usage.requests == 2
    follow = backend.requests[1].messages
    assert follow[-2].role == "assistant" and "empty" in follow[-1].content
    backend = ScriptedBackend(replies("", "  ", "Explanation:"))
    expl = run(samples, backend, ExplainConfig(max_retries=2))
    assert not expl.ok and expl.text is None and "unreadable answer after 3 attempt(s)" in expl.error
    assert len(backend.requests) == 3


CHATTY = "Sure! Here's my analysis: it depends on the context, but mostly on the highlighted words…"


def test_off_format_answers_are_reasked_then_fail_the_unit(samples):
    backend = ScriptedBackend(replies(CHATTY, "10", "Explanation: 10"))
    expl = run(samples, backend, ExplainConfig(max_retries=2))
    assert not expl.ok and expl.text is None
    assert expl.error == "unreadable answer after 3 attempt(s): the explanation '10' has no words"
    assert len(backend.requests) == 3 and expl.usage.requests == 3  # every attempt is counted
    retry = backend.requests[1].messages
    assert retry[-2].content == CHATTY and "no line starts with 'Explanation:'" in retry[-1].content
    # a re-ask that comes back in the format is accepted
    backend = ScriptedBackend(replies("10", "The words are cats.\nExplanation: cat words"))
    expl = run(samples, backend)
    assert expl.ok and expl.text == "cat words" and expl.usage.requests == 2


def test_backend_errors_are_records_but_budget_stops(samples):
    expl = run(samples, ScriptedBackend(replies(BackendError("HTTP 400 bad request"))))
    assert not expl.ok and expl.error == "backend error: HTTP 400 bad request"
    with pytest.raises(BudgetExceeded):
        run(samples, ScriptedBackend(replies(BudgetExceeded("max_cost reached"))))


def test_dead_unit_needs_no_request(samples):
    dead = samples.model_copy(update={"explain": tuple(c for c in samples.explain if c.kind == "random")})
    backend = ScriptedBackend(replies())
    expl = run(dead, backend)
    assert not expl.ok and "no activating" in expl.error and backend.requests == []


def test_selection_is_seeded_and_spans_levels():
    base = make_samples()
    many = tuple(ctx(f"q{i}", 100 + i, ["a", "b"], [0, 0.5 + (i % 4)], "quantile", i % 4) for i in range(20))
    s = base.model_copy(update={"explain": many})
    cfg = ExplainConfig(n_top=0, n_quantile=4)
    pick = lambda seed: [c.context_id for c in select_contexts(s, cfg, np.random.default_rng(seed))]
    assert pick(1) == pick(1)
    assert len({pick(seed)[0] for seed in range(10)}) > 1
    assert sorted({c.level for c in select_contexts(s, cfg, np.random.default_rng(0))}) == [0, 1, 2, 3]


def test_answer_prefill_is_sent_and_read_with_the_continuation(samples):
    """explain.answer_prefill: the reply is forced to start with it; the parser reads prefill + continuation."""
    backend = ScriptedBackend(replies(" words about cats"))
    expl = run(samples, backend, ExplainConfig(answer_prefill="Explanation:"))
    assert expl.ok and expl.text == "words about cats"
    assert backend.requests[0].prefill == ("Explanation:",)
    backend = ScriptedBackend(replies("\n  dates and days\nThe excerpts show more things.\nExplanation: other"))
    expl = run(samples, backend, ExplainConfig(answer_prefill="Explanation:"))
    assert expl.ok and expl.text == "dates and days"  # the prefilled line; what follows is not the answer
    backend = ScriptedBackend(replies(" 10", " 10", " 10"))  # the format check still applies to the answer
    expl = run(samples, backend, ExplainConfig(answer_prefill="Explanation:"))
    assert not expl.ok and "has no words" in expl.error
