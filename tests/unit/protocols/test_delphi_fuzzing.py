"""Fuzzing marks and samples, held against delphi's own ``_prepare_text`` and ``FuzzingScorer._prepare``.

delphi's marks are deterministic (Python's generator re-seeded at 22 before every wrong marking): compared exactly.
Which test windows are shown is random in delphi: compared by count and class.
"""

from __future__ import annotations

import pytest

from autointerp.scorers.base import ScoreInput
from autointerp.scorers.fuzzing import Fuzzing, FuzzingConfig, active_positions, delphi_wrong_marks, n_wrong_marks
from tests.unit.protocols.delphi_units import context, fixture, unit_samples

CASES = fixture()["marks"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_marks_are_delphis(case):
    acts = case["activations"]
    if case["n"] == 0:  # right marks: tokens at or above 0.3 x the excerpt's max
        ours = list(active_positions(context("L0", 0).model_copy(update={"activations": tuple(acts),
                                                                           "tokens": ("x",) * len(acts)}), 0.3))
    else:
        ours = list(delphi_wrong_marks(acts if case["kind"] == "activating" else [0.0] * len(acts), case["n"], 0.3))
    if case["marks"] == "placeholder":  # delphi shows a fixed sentence instead; we mark the one eligible token
        assert ours == [i for i, a in enumerate(acts) if a <= 0.3 * max(acts)]
    else:
        assert ours == case["marks"]


@pytest.mark.parametrize("name", ["L0", "L1", "L2", "L3"])
def test_wrong_mark_count_is_delphis(name):
    peer = fixture()
    test = [context(name, w) for w, _ in peer["selection"][name]["test"]]
    assert n_wrong_marks(test) == peer["shown"][name]["fuzz_active"]["n_incorrect"]


@pytest.mark.parametrize("name", ["L0", "L1", "L2"])
@pytest.mark.parametrize("variant", ["default", "active"])
def test_every_delphi_sample_is_marked_as_ours_would(name, variant):
    """Each excerpt delphi built: right marks on activating windows, wrong marks (by delphi's rule) on the rest."""
    peer = fixture()["shown"][name][f"fuzz_{variant}"]
    n = peer["n_incorrect"]
    for s in peer["samples"]:
        c = context(name, s["window"])
        if s["activating"]:
            assert s["marks"] == list(active_positions(c, 0.3))
        elif variant == "active":
            assert s["marks"] == list(delphi_wrong_marks(c.activations, n, 0.3))
        else:
            assert s["marks"] == list(delphi_wrong_marks([0.0] * 32, n, 0.3))


@pytest.mark.parametrize("name", ["L0", "L1", "L2"])
@pytest.mark.parametrize("variant", ["default", "active"])
def test_our_samples_have_delphis_counts_classes_and_marks(name, variant):
    peer = fixture()["shown"][name][f"fuzz_{variant}"]
    config = FuzzingConfig(variant=variant, selection="quantiles", per_level=5, n_negatives=50, negatives_replace=True)
    shown = Fuzzing()._shown(ScoreInput(samples=unit_samples(name)), config, seed=3)
    assert len(shown) == len(peer["samples"])
    assert sum(s.label for s in shown) == sum(s["activating"] for s in peer["samples"])
    test = [s.context for s in shown if s.label]
    n = n_wrong_marks(test)
    assert n == peer["n_incorrect"]  # same count whichever test windows were drawn (here)
    for s in shown:
        if s.label:
            assert s.highlights == active_positions(s.context, 0.3)
        elif variant == "active":
            assert s.context.max_activation > 0 and s.highlights == delphi_wrong_marks(s.context.activations, n, 0.3)
        else:
            assert s.context.max_activation <= 0 and s.highlights == delphi_wrong_marks([0.0] * 32, n, 0.3)
    if variant == "active":  # every test window twice
        assert sorted(s.context.window_index for s in shown if s.label) == \
            sorted(s.context.window_index for s in shown if not s.label)
