"""Golden tests of the exact requests each scorer sends, and of what each one shows the judge.

Refresh after a deliberate wording change with ``UPDATE_GOLDEN=1 pytest tests/unit/scorers`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from autointerp.scorers import SCORERS
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.detection import DetectionConfig
from autointerp.scorers.fuzzing import FuzzingConfig
from autointerp.scorers.intruder import IntruderConfig
from autointerp.scorers.records import ForeignContext, ForeignContexts
from autointerp.scorers.saebench import SaebenchConfig
from autointerp.types import Context, Explanation, Provenance, UnitId, UnitSamples, UnitStats

GOLDEN = Path(__file__).parent / "golden"
WORDS = ["The", " cat", " sat", " on", " the", " mat", " near", " a", " dog", "."]
PROV = Provenance(backend="t", model="t", prompt_id="p", prompt_version="1", prompt_hash="h")


def ctx(w: int, kind: str, level: int, hot: int | None, value: float = 4.0) -> Context:
    acts = tuple(value if i == hot else 0.0 for i in range(len(WORDS)))
    return Context(context_id=f"w{w}", window_index=w, tokens=tuple(WORDS), activations=acts, kind=kind, level=level)


def unit_samples() -> UnitSamples:
    unit = UnitId(basis="sae:test", index=3)
    stats = UnitStats(n_tokens=100, n_windows=10, n_active_tokens=10, firing_frequency=0.1, max_activation=8.0,
                      mean_activation=0.2, mean_active_activation=2.0, histogram_edges=(0.0, 8.0),
                      histogram_counts=(10,))
    explain = tuple(ctx(100 + i, "top", 4, 1, 8.0 - i) for i in range(3)) + (ctx(110, "quantile", 1, 5, 2.0),)
    heldout = (
        tuple(ctx(200 + i, "top", 4, 1, 7.0 - i) for i in range(3))
        + tuple(ctx(210 + i, "quantile", lv, 5, 2.0 * lv) for i, lv in enumerate((1, 1, 2, 2, 3)))
        + tuple(ctx(220 + i, "random", -1, None) for i in range(10))
    )
    return UnitSamples(unit=unit, stats=stats, bin_edges=(0, 2, 4, 6, 8, 10), explain=explain, heldout=heldout)


def scorer_input() -> ScoreInput:
    us = unit_samples()
    foreign = ForeignContexts(unit=us.unit, contexts=tuple(
        ForeignContext(context=ctx(300 + i, "random", -1, None), source_unit=7 + i, similarity=0.5 - 0.1 * i,
                       source_active=(8,)) for i in range(3)
    ))
    exp = Explanation(unit=us.unit, ok=True, text="animals <sitting> on things", provenance=PROV)
    return ScoreInput(samples=us, explanation=exp, foreign=foreign)


def dump(calls) -> str:
    parts = []
    for k, call in enumerate(calls, 1):
        r = call.request
        parts.append(f"=== request {k} (max_tokens {r.max_tokens}, top_logprobs {r.top_logprobs}) ===\n"
                     f"[system]\n{r.system}")
        parts += [f"[{m.role}]\n{m.content}" for m in r.messages]
    return "\n".join(parts) + "\n"


CASES = {
    "detection": DetectionConfig(per_level=1, n_negatives=3, contexts_per_prompt=4),
    "fuzzing": FuzzingConfig(per_level=1, contexts_per_prompt=4),
    "saebench": SaebenchConfig(),
    "intruder": IntruderConfig(n_activating=2, n_trials=2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_requests(name):
    text = dump(SCORERS.get(name).plan(scorer_input(), CASES[name], seed=0))
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def _live(calls) -> list[str]:
    return [c.request.messages[-1].content for c in calls]


def test_detection_shows_every_level_and_no_marks():
    calls = SCORERS.get("detection").plan(scorer_input(), DetectionConfig(per_level=1, n_negatives=3), seed=0)
    live = "\n".join(_live(calls))
    assert "<<" not in live  # nothing highlighted: the judge finds the concept itself
    assert len(re.findall(r'<context id="c\d+">', live)) == 4 + 3  # one per level (1, 2, 3, 4) + 3 negatives
    assert "animals ‹sitting› on things" in live  # the explanation is neutralised like corpus text


def test_detection_neighbour_negatives_come_from_the_foreign_pool():
    inp = scorer_input()
    from dataclasses import replace

    shown = SCORERS.get("detection")._shown(replace(inp, negatives="neighbours"), DetectionConfig(n_negatives=3), 0)
    assert sorted(s.source for s in shown if not s.label) == ["neighbour:7", "neighbour:8", "neighbour:9"]
    shown = SCORERS.get("detection")._shown(inp, DetectionConfig(n_negatives=3), 0)
    assert {s.source for s in shown if not s.label} == {"self"}


def test_fuzzing_wrong_marks_avoid_activating_tokens():
    shown = SCORERS.get("fuzzing")._shown(scorer_input(), FuzzingConfig(per_level=2), 0)
    right = [s for s in shown if s.label]
    wrong = [s for s in shown if not s.label]
    assert right and wrong and abs(len(right) - len(wrong)) <= 1
    for s in right:
        assert all(s.context.activations[i] > 0 for i in s.highlights)
    for s in wrong:
        assert s.highlights and all(s.context.activations[i] <= 0 for i in s.highlights)


def test_saebench_shows_14_shuffled_documents_with_the_10_of_14_floor():
    # n_top_explain=2: the explain split's 2 strongest windows + 2 weighted below them for the explainer (its default
    # 10 would take all 4 windows as top documents); the held-out split's 2 strongest + 2 weighted + 10 random
    calls = SCORERS.get("saebench").plan(scorer_input(), SaebenchConfig(n_top_explain=2), seed=0)
    explain, score = _live(calls)
    assert explain.count("<<") == 2 + 2  # 2 top + 2 importance-weighted explain documents, each marked
    assert len(re.findall(r"^\d+\. ", score, re.MULTILINE)) == 14 and "<<" not in score


def test_intruder_puts_one_foreign_context_at_a_seeded_position():
    calls = SCORERS.get("intruder").plan(scorer_input(), IntruderConfig(n_activating=2, n_trials=2), seed=0)
    for live in _live(calls):
        blocks = re.findall(r'<context id="c\d+">\n(.*?)\n</context>', live, re.DOTALL)
        assert len(blocks) == 3
        assert sum("<<dog>>" in b for b in blocks) == 1  # the intruder marks its own unit's token
