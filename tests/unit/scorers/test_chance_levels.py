"""Every metric's value *and* chance level against a hand-computed case with an asymmetric answer.

Each case is built so that the plausible slips give a different number: plain accuracy for balanced accuracy,
1/k for the intruder's 1/(k+1), a changed F1 chance formula, AUROC with flipped labels or scores, the last
unit's chance for the mean of per-unit chance levels. The mutations tried by hand (each made one of these tests
fail, then was reverted) are listed in docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from autointerp.report.load import RunData
from autointerp.report.reseeds import seed_spreads
from autointerp.scorers import SCORERS, metrics
from autointerp.scorers.intervention import balanced_accuracy as intervention_balanced_accuracy
from autointerp.scorers.intruder import IntruderConfig, trials
from autointerp.scorers.orchestrate import reseed_spread
from autointerp.scorers.records import Metric, ScoreItem, ScoreResult
from autointerp.scorers.saebench import SaebenchConfig
from autointerp.types import ContextSimulation, Provenance, Simulation, UnitId
from tests.support.scripted_backend import ScriptedBackend, replies
from tests.unit.scorers.test_prompts_golden import scorer_input

PROV = Provenance(backend="t", model="t", prompt_id="p", prompt_version="1", prompt_hash="h")


def item(label: bool, predicted: bool | None, score: float | None = None, level: int = 0, ok: bool = True):
    return ScoreItem(item_id="x", context_ids=("w",), kind="top" if label else "random", level=level if label else -1,
                     true_activation=1.0 if label else 0.0, label=label, predicted=predicted, score=score, ok=ok)


# 3 activating items, 5 non-activating: TP 2, FN 1, FP 1, TN 4, plus one failed item that counts nowhere.
# P(yes) scores: positives 0.9, 0.4, 0.8; negatives 0.3, 0.5, 0.1, 0.2, 0.6.
CASE = [
    item(True, True, 0.9, level=3), item(True, False, 0.4, level=1), item(True, True, 0.8, level=3),
    item(False, False, 0.3), item(False, True, 0.5), item(False, False, 0.1), item(False, False, 0.2),
    item(False, False, 0.6), item(False, None, None, ok=False),
]  # fmt: skip


def test_balanced_accuracy_value_and_chance():
    m = metrics.balanced_accuracy(CASE)
    assert m.value == pytest.approx((2 / 3 + 4 / 5) / 2)  # 0.7333; plain accuracy would be 6/8 = 0.75
    assert m.chance == 0.5 and m.n == 8


def test_f1_value_and_chance_at_the_units_class_mix():
    m = metrics.f1(CASE)
    assert m.value == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # 2/3
    assert m.chance == pytest.approx(2 * 3 / (3 + 8))  # all-yes judge: precision 3/8, recall 1 -> 6/11
    all_yes = [i.model_copy(update={"predicted": True}) if i.ok else i for i in CASE]
    assert metrics.f1(all_yes).value == pytest.approx(m.chance)  # the chance level is what that judge scores


def test_f1_chance_moves_with_the_class_mix():
    fewer_pos = CASE[:1] + CASE[3:]  # 1 positive, 5 negatives
    assert metrics.f1(fewer_pos).chance == pytest.approx(2 * 1 / (1 + 6))


def test_auroc_value_is_not_symmetric_in_labels_or_scores():
    m = metrics.auroc(CASE)
    assert m.value == pytest.approx(13 / 15) and m.chance == 0.5 and m.n == 8  # 5 + 5 + 3 pairs of 15 ordered
    flipped = [i.model_copy(update={"label": not i.label}) for i in CASE if i.ok]
    assert metrics.auroc(flipped).value == pytest.approx(2 / 15)
    negated = [i.model_copy(update={"score": -i.score}) for i in CASE if i.ok]
    assert metrics.auroc(negated).value == pytest.approx(2 / 15)


def test_recall_per_level_chance_is_the_false_positive_rate():
    got = {m.name: m for m in metrics.recall_per_level(CASE)}
    assert got["recall_level_3"].value == 1.0 and got["recall_level_1"].value == 0.0
    assert [m.chance for m in got.values()] == pytest.approx([1 / 5, 1 / 5])  # 1 of 5 answered negatives: yes


def test_class_counts_are_counts_without_chance():
    pos, neg = metrics.class_counts(CASE)
    assert (pos.value, neg.value, pos.chance, neg.chance) == (3.0, 6.0, None, None)


def test_classifiers_report_no_plain_accuracy():
    names = [m.name for m in metrics.classifier_metrics(CASE)]
    assert "accuracy" not in names and names[:3] == ["balanced_accuracy", "f1", "auroc"]


def test_intervention_balanced_accuracy():
    steered = [item(True, True), item(True, False)]  # 2 steered: 1 picked
    plain = [item(False, False), item(False, False), item(False, False), item(False, True)]  # 4 plain: 1 picked
    bal, hit, rejected = intervention_balanced_accuracy(steered + plain)
    assert bal.value == pytest.approx((1 / 2 + 3 / 4) / 2) and bal.chance == 0.5
    assert hit.value == 0.5 and rejected.value == 0.75
    assert hit.chance == pytest.approx(1 / 4) and rejected.chance == pytest.approx(1 / 2)  # the other class's rate


def test_every_reported_metric_states_its_chance_rule():
    names = [m.name for m in metrics.classifier_metrics(CASE)] + ["simulation_score", "mean_specificity"]
    for name in names:
        assert SCORERS.get("detection").chance_rule(name) != "not stated", name
    assert SCORERS.get("intruder").chance_rule("accuracy").startswith("1 / (n_activating + 1)")
    assert "inactive documents" in SCORERS.get("saebench").chance_rule("accuracy")
    assert SCORERS.get("detection").chance_rule("f1").startswith("per unit")


def test_intruder_accuracy_value_and_chance_through_the_scorer():
    inp = scorer_input()
    cfg = IntruderConfig(n_activating=2, n_trials=5)
    right = [f"c{t.at + 1}" for t in trials(inp, cfg, 0)]
    wrong = [next(c for c in ("c1", "c2", "c3") if c != r) for r in right]
    answers = [f"Answer: {a}" for a in (right[0], wrong[1], right[2], wrong[3], wrong[4])]  # 2 of 5 found
    rec = asyncio.run(SCORERS.get("intruder").score(inp, ScriptedBackend(replies(*answers)), cfg, 0))
    m = rec.metric("accuracy")
    assert m.value == pytest.approx(2 / 5) and m.n == 5
    assert m.chance == pytest.approx(1 / 3)  # one of 2 activating excerpts + 1 intruder


def test_intruder_accuracy_chance_is_one_over_excerpts_shown():
    trials_ = [item(True, True), item(True, False), item(True, None, ok=False)]
    m = metrics.intruder_accuracy(trials_, n_shown=5)
    assert (m.value, m.chance, m.n) == (0.5, 0.2, 2)
    m = metrics.intruder_accuracy(trials_, n_shown=5, failed_as_wrong=True)  # delphi: a failed answer is wrong
    assert (m.value, m.chance, m.n) == (pytest.approx(1 / 3), 0.2, 3)


def test_saebench_floor_is_the_units_own_share_of_inactive_documents():
    """Answering 'None' scores the floor exactly; a unit with fewer random documents has a lower floor."""
    rec = asyncio.run(SCORERS.get("saebench").score(scorer_input(), ScriptedBackend(replies("the word cat", "None")),
                                                    SaebenchConfig(), 0))  # fmt: skip
    m = rec.metric("accuracy")
    assert m.value == m.chance == pytest.approx(10 / 14)
    fewer = SaebenchConfig(n_random_score=4)
    rec = asyncio.run(SCORERS.get("saebench").score(scorer_input(), ScriptedBackend(replies("the word cat", "1")),
                                                    fewer, 0))  # fmt: skip
    m = rec.metric("accuracy")
    first = next(i for i in rec.items if i.item_id == "1")
    assert m.chance == pytest.approx(4 / 8)  # 4 inactive of 2 top + 2 weighted + 4 random
    assert m.value == pytest.approx((4 + (1 if first.label else -1)) / 8)  # 'None' + listing document 1


def test_simulation_score_chance_and_method_label():
    true, pred = (0.0, 1.0, 0.0, 3.0), (0.0, 2.0, 1.0, 2.0)
    r = 3.0 / math.sqrt(6.0 * 2.75)  # hand-computed Pearson r: means 1 and 1.25
    sim = Simulation(unit=UnitId(basis="sae:t", index=0), ok=True, method="json-list", score=r,
                     contexts=(ContextSimulation(context_id="w", kind="top", true=true, predicted=pred),),
                     provenance=PROV)  # fmt: skip
    assert metrics.pearson(true, pred)[0] == pytest.approx(r)
    s = SCORERS.get("simulation").summarise(sim)
    m = s.metrics[0]
    assert s.primary == m.name == "simulation_score" and m.value == pytest.approx(r) and m.chance == 0.0
    assert m.method == "json-list"


def test_chance_corrected():
    assert Metric(name="a", value=0.6, chance=0.2, n=4).chance_corrected == pytest.approx(0.5)
    assert Metric(name="a", value=0.6, chance=None, n=4).chance_corrected is None


# ------------------------------------------------------------------ means over units with per-unit chance levels

VALUES, CHANCES = [0.9, 0.6], [0.5, 0.8]  # corrected: 0.8 and -1.0


def test_mean_over_units_uses_each_units_own_chance():
    m = metrics.mean_over_units(VALUES, CHANCES)
    assert m.value == pytest.approx(0.75) and m.chance == pytest.approx(0.65) and m.n == 2
    assert m.chance_corrected == pytest.approx(-0.1)  # not (0.75 - 0.8) / 0.2 (last unit's) nor 0.2857 (mean's)


def test_mean_over_units_leaves_out_undefined_values_and_needs_every_chance():
    m = metrics.mean_over_units([0.9, None, float("nan"), 0.6], [0.5, 0.1, 0.1, 0.8])
    assert m.n == 2 and m.chance_corrected == pytest.approx(-0.1)
    assert metrics.mean_over_units([0.9, 0.6], [0.5, None]).chance_corrected is None
    assert metrics.mean_over_units([], []).value is None


def _saebench(index: int, value: float, chance: float) -> ScoreResult:
    return ScoreResult(unit=UnitId(basis="sae:t", index=index), scorer="saebench", ok=True, primary="accuracy",
                       metrics=(Metric(name="accuracy", value=value, chance=chance, n=14),), provenance=PROV)


def test_report_seed_spread_uses_each_units_chance():
    seed0 = {f"u{i}": _saebench(i, v, c) for i, (v, c) in enumerate(zip(VALUES, CHANCES))}
    seed1 = {f"u{i}": _saebench(i, v, c) for i, (v, c) in enumerate(zip([0.7, 0.9], CHANCES))}  # 0.4, 0.5
    run = RunData(run_dir=Path("r"), config={}, meta={}, units={}, explanations={}, rubric={}, simulations={},
                  unit_ids={}, extra={"saebench": seed0}, reseeds={"saebench": {1: seed1}})  # fmt: skip
    (spread,) = seed_spreads(run)
    assert spread.metric == "accuracy" and spread.mean_per_seed == pytest.approx([0.75, 0.8])
    assert spread.chance_corrected_per_seed == pytest.approx([-0.1, 0.45])
    assert spread.chance is None and spread.chance_per_seed == pytest.approx([0.65, 0.65])  # varies by unit


class _Store:
    def __init__(self, by_params):
        self.by_params = by_params

    def latest(self, stage, params):
        return self.by_params[params]


def test_reseeds_json_uses_each_units_chance():
    store = _Store({"P": {f"u{i}": _saebench(i, v, c) for i, (v, c) in enumerate(zip(VALUES, CHANCES))},
                    "P~s1": {f"u{i}": _saebench(i, v, c) for i, (v, c) in enumerate(zip([0.7, 0.9], CHANCES))}})
    config = SimpleNamespace(scorers=["saebench"], reseeds=2, seed=3)
    spread = reseed_spread(store, config, {"saebench": "P"})["saebench"]
    assert spread["metric"] == "accuracy" and spread["seeds"] == [3, 4]
    assert spread["mean_per_seed"] == pytest.approx([0.75, 0.8])
    assert spread["chance_per_seed"] == pytest.approx([0.65, 0.65])
    assert spread["chance_corrected_per_seed"] == pytest.approx([-0.1, 0.45])
