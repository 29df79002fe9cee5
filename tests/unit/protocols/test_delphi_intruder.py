"""The intruder trials delphi builds (``IntruderScorer._prepare_and_batch``, its default intruder) and how it counts
an answer it cannot read. Marks are deterministic in delphi and compared exactly; which examples are shown and the
intruder's position are random (its own seeded generator) and compared by property."""

from __future__ import annotations

import pytest

from autointerp.scorers import metrics
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.classifier import quantile_groups
from autointerp.scorers.fuzzing import active_positions, delphi_wrong_marks
from autointerp.scorers.intruder import IntruderConfig, trials
from autointerp.scorers.records import ScoreItem
from tests.unit.protocols.delphi_units import context, fixture, unit_samples

DELPHI = IntruderConfig(intruder="random", selection="quantiles", n_trials=50, n_activating=4, failed_as_wrong=True)


def _fired(windows, name):
    return sum(sum(1 for a in context(name, w).activations if a > 0) for w in windows) // len(windows)


@pytest.mark.parametrize("name", ["L0", "L1", "L2"])
def test_delphis_trials_are_marked_by_the_rule_we_use(name):
    peer = fixture()["intruder"][name]
    assert len(peer) == 50  # one trial per non-activating example
    assert [t["quantile"] for t in peer] == [k % 10 for k in range(50)]  # quantiles in turn, strongest first
    for t in peer:
        assert t["intruder_marks"] == list(delphi_wrong_marks([0.0] * 32, _fired(t["shown_windows"], name), 0.3))
        assert t["shown_marks"] == [list(active_positions(context(name, w), 0.3)) for w in t["shown_windows"]]
        assert 0 <= t["intruder_index"] < t["n_examples"]


@pytest.mark.parametrize("name", ["L0", "L1"])
def test_our_trials_follow_delphis_design(name):
    samples = unit_samples(name)
    ts = trials(ScoreInput(samples=samples), DELPHI, seed=5)
    groups = quantile_groups(samples.heldout_contexts(), 10)
    assert len(ts) == 50
    for k, t in enumerate(ts):
        shown = [c for c, _ in t.shown if c is not t.intruder.context]
        assert len(t.shown) == 5 and {c.window_index for c in shown} <= {c.window_index for c in groups[k % 10]}
        assert all(marks == active_positions(c, 0.3) for c, marks in t.shown if c is not t.intruder.context)
        assert t.intruder.context.max_activation <= 0
        assert t.intruder.source_active == delphi_wrong_marks([0.0] * 32, _fired([c.window_index for c in shown],
                                                                                 name), 0.3)


def test_a_failed_answer_counts_as_wrong_as_in_delphi():
    peer = fixture()["intruder_failed"]["results"]
    items = [ScoreItem(item_id=f"t{k}", context_ids=(), kind="quantile", level=0, true_activation=1.0, label=True,
                       predicted=None if r["correct_index"] < 0 else r["correct"], ok=r["correct_index"] >= 0,
                       error=None if r["correct_index"] >= 0 else "unreadable")
             for k, r in enumerate(peer)]
    want = sum(r["correct"] for r in peer) / len(peer)
    m = metrics.intruder_accuracy(items, n_shown=5, failed_as_wrong=True)
    assert m.value == pytest.approx(want, abs=1e-9) and m.n == 50
    assert sum(r["correct_index"] < 0 for r in peer) > 0  # the judge's unreadable answers are in the fixture
