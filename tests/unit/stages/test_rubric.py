import asyncio
import re

import pytest

from autointerp.errors import BackendError, BudgetExceeded
from autointerp.scorers.specificity import RubricConfig, score_specificity
from autointerp.types import Explanation, Provenance
from tests.support.scripted_backend import ScriptedBackend, replies

from .conftest import CONTEXT_RE, first_user_of_live_turn, live_user

PROV = Provenance(backend="x", model="x", prompt_id="explain", prompt_version="1", prompt_hash="h")
CATS = {"cat", "cats", "kitten", "lion", "tabby"}


def explanation(samples, text="cat words", ok=True):
    return Explanation(unit=samples.unit, ok=ok, text=text if ok else None, error=None if ok else "x", provenance=PROV)


def oracle(request):
    """3 when the highlighted token is a cat word, else 0."""
    out = []
    for m in CONTEXT_RE.finditer(first_user_of_live_turn(request)):
        hl = re.search(r"<<(.*?)>>", m.group(2)).group(1).strip()
        out.append(f"{m.group(1)}: {3 if hl in CATS else 0}")
    return "\n".join(out)


def run(samples, backend, config=None, seed=0, text="cat words"):
    return asyncio.run(score_specificity(samples, explanation(samples, text), backend, config or RubricConfig(), seed=seed))


def test_rates_every_level_including_non_activating(samples):
    backend = ScriptedBackend(oracle)
    res = run(samples, backend)
    assert res.ok and res.explanation == "cat words" and res.provenance.prompt_id == "specificity"
    assert len(backend.requests) == 2  # 8 contexts, 5 per prompt
    by_id = {j.context_id: j for j in res.judgements}
    assert set(by_id) == {"w11", "w12", "w13", "w14", "w15", "w16", "w17", "w18"}
    assert {j.level for j in res.judgements} == {3, 2, 1, 0, -1}
    assert by_id["w11"].true_activation == 3.8 and by_id["w11"].kind == "top"
    assert all(j.ok and j.score == (3 if j.level >= 1 else 0) for j in res.judgements if j.context_id != "w15")
    assert by_id["w15"].score == 0  # 'fur' is highlighted: not a cat word
    assert all(by_id[w].level == -1 and by_id[w].score == 0 for w in ("w16", "w17", "w18"))
    assert res.mean_score_all == pytest.approx(12 / 8)
    assert res.usage.requests == 2


def test_prompts_are_delimited_shuffled_and_seeded(samples):
    def order(seed):
        backend = ScriptedBackend(oracle)
        run(samples, backend, RubricConfig(contexts_per_prompt=8), seed=seed)
        return live_user(backend.requests[0])

    user = order(0)
    assert user.count('<context id="') == user.count("</context>") == 8
    assert "‹/context›" in user and "Ignore" in user
    assert order(0) == order(0)
    orders = {order(s) for s in range(6)}
    assert len(orders) > 1


def test_only_missing_or_invalid_ids_are_reasked(samples):
    first = "c1: 3\nc3: 7\nc4: 0\nc5: 1"  # c2 missing, c3 out of range
    backend = ScriptedBackend(replies(first, "c2: 2\nc3: 1\nc1: 0", oracle))
    res = run(samples, backend, RubricConfig(contexts_per_prompt=5))
    retry = backend.requests[1]
    assert retry.messages[-2].content == first and "c2: no score given" in retry.messages[-1].content
    assert "c3: 7 is outside 0-3" in retry.messages[-1].content
    first_prompt_ids = [m.group(1) for m in CONTEXT_RE.finditer(first_user_of_live_turn(backend.requests[0]))]
    assert first_prompt_ids == ["c1", "c2", "c3", "c4", "c5"]
    scores = [j.score for j in res.judgements[:5]]
    assert scores == [3, 2, 1, 0, 1]  # c1 keeps its first score; only c2/c3 were taken from the re-ask


def test_persistent_failures_become_failed_judgements(samples):
    backend = ScriptedBackend(lambda r: "c1: 3\nc2: 9")
    res = run(samples, backend, RubricConfig(contexts_per_prompt=8, max_retries=1))
    assert len(backend.requests) == 2
    failed = [j for j in res.judgements if not j.ok]
    assert len(failed) == 7 and all(j.score is None for j in failed)
    assert any("9 is outside 0-3" in j.error for j in failed)
    assert res.ok and res.judgements[0].score == 3
    none = run(samples, ScriptedBackend(lambda r: "I cannot rate these."), RubricConfig(max_retries=0))
    assert not none.ok and "no context could be rated" in none.error


def test_backend_errors_and_budget(samples):
    res = run(samples, ScriptedBackend(replies(BackendError("HTTP 401 unauthorized"), BackendError("x"))))
    assert not res.ok and res.error.startswith("backend error:")
    assert all(not j.ok and j.error.startswith("backend error:") for j in res.judgements)
    with pytest.raises(BudgetExceeded):
        run(samples, ScriptedBackend(lambda r: BudgetExceeded("max_cost reached")))


def test_failed_explanation_is_not_rated(samples):
    backend = ScriptedBackend(replies())
    res = asyncio.run(score_specificity(samples, explanation(samples, ok=False), backend, RubricConfig()))
    assert not res.ok and backend.requests == []
