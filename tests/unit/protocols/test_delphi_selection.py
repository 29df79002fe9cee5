"""Which examples delphi shows, held against delphi's own constructor and sampler (tests/fixtures/peers/delphi).

Deterministic in delphi and compared exactly: the 32-token windows, the ranking and the equal-count quantiles, how
many test examples each quantile gives, the number and class of non-activating examples. Random in delphi (Python's
``random.sample`` seeded 22, ``torch.randint`` seeded 42) and compared by property only: which test windows of a
quantile, which silent windows.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from autointerp.activations.corpus import Document, token_windows
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.classifier import draw_quantiles, quantile_groups
from autointerp.scorers.detection import Detection, DetectionConfig, negatives
from tests.unit.protocols.delphi_inputs import ACTIVE_WINDOWS, EXAMPLE_CTX_LEN, N_TOKENS
from tests.unit.protocols.delphi_units import activations, fixture, unit_samples

LATENTS = sorted(ACTIVE_WINDOWS)


class _Ids:
    """A tokenizer whose text is the token ids."""

    def __call__(self, text, add_special_tokens=False, verbose=False):
        return {"input_ids": [int(t) for t in text.split()]}


def test_windows_are_delphis_32_token_cuts_of_the_stream():
    """delphi (center_examples=True, its default) shows the whole fixed 32-token window holding the activation;
    our windows of one document with window 32 are the same cuts, so a unit is active in the same windows."""
    ours = list(token_windows([Document("d", " ".join(map(str, range(N_TOKENS))))], _Ids(), window=32))
    assert all(tw.token_ids == tuple(range(tw.index * 32, tw.index * 32 + 32)) for tw in ours)
    for name in LATENTS:
        peer = fixture()["selection"][name]
        assert peer["activating_tokens_ok"]  # delphi's example tokens are exactly its window's tokens
        acts = activations()[name]
        ours_active = {tw.index for tw in ours if acts[list(tw.token_ids)].max() > 0}
        assert ours_active == set(peer["activating_windows"])


@pytest.mark.parametrize("name", LATENTS)
def test_quantiles_are_delphis(name):
    peer = fixture()["selection"][name]
    groups = quantile_groups(unit_samples(name).heldout_contexts(), 10)
    ranked = peer["activating_windows"]  # delphi: strongest first
    size = len(ranked) // 10
    assert [[c.window_index for c in g] for g in groups] == [ranked[i * size:(i + 1) * size] for i in range(10)]
    for w, q in peer["test"]:  # every delphi test example sits in our quantile of the same index
        assert w in {c.window_index for c in groups[q]}


@pytest.mark.parametrize("name", LATENTS)
def test_test_counts_per_quantile_are_delphis(name):
    peer = fixture()["selection"][name]
    rng = np.random.default_rng(0)
    ours = draw_quantiles(unit_samples(name).heldout_contexts(), 10, 5, rng)
    groups = quantile_groups(unit_samples(name).heldout_contexts(), 10)
    where = {c.window_index: q for q, g in enumerate(groups) for c in g}
    assert Counter(where[c.window_index] for c in ours) == Counter(q for _, q in peer["test"])
    assert len({c.window_index for c in ours}) == len(ours)  # drawn without replacement within a quantile, as delphi


@pytest.mark.parametrize("name", LATENTS)
def test_non_activating_counts_and_class(name):
    """delphi: 50 windows where the unit is silent, drawn with replacement; none when fewer than 50 are silent
    (L3). Ours draws 50 with replacement from whatever silent windows the pool has (documented difference)."""
    peer = fixture()["selection"][name]
    acts = activations()[name]
    silent = {w for w in range(N_TOKENS // EXAMPLE_CTX_LEN) if acts[w * 32:(w + 1) * 32].max() <= 0}
    assert set(peer["not_active_windows"]) <= silent and peer["not_active_all_zero"]
    inp = ScoreInput(samples=unit_samples(name))
    ours = negatives(inp, 50, np.random.default_rng(1), replace=True)
    assert {s.context.window_index for s in ours} <= silent and not any(s.label for s in ours)
    if len(silent) >= 50:
        assert len(ours) == len(peer["not_active_windows"]) == 50
        # with replacement a window may repeat, in delphi as in ours
        assert len(set(peer["not_active_windows"])) < 50
    else:
        assert peer["not_active_windows"] == [] and len(ours) == 50


@pytest.mark.parametrize("name", ["L0", "L1", "L2"])
def test_detection_shows_delphis_class_counts(name):
    peer = fixture()["shown"][name]["detection"]
    config = DetectionConfig(selection="quantiles", per_level=5, n_negatives=50, negatives_replace=True)
    shown = Detection()._shown(ScoreInput(samples=unit_samples(name)), config, seed=0)
    assert sum(s.label for s in shown) == peer["activating"]
    assert sum(not s.label for s in shown) == peer["non_activating"] == 50


def test_non_activating_windows_differ_between_units_as_in_delphi():
    """delphi redraws per latent (from each latent's own silent windows); so do we, with each unit's seed."""
    peer = fixture()["selection"]
    assert set(peer["L0"]["not_active_windows"]) != set(peer["L1"]["not_active_windows"])
    config = DetectionConfig(selection="quantiles", per_level=5, n_negatives=50, negatives_replace=True)
    drawn = {n: {s.context.window_index for s in Detection()._shown(ScoreInput(samples=unit_samples(n)), config, 0)
                 if not s.label} for n in ("L0", "L1")}
    assert drawn["L0"] != drawn["L1"]


def test_delphi_test_and_train_overlap_is_a_documented_difference():
    """delphi draws its train (explainer) and test examples from the same windows; our split keeps them apart."""
    peer = fixture()["selection"]["L1"]
    assert len({w for w, _ in peer["test"]} & {w for w, _ in peer["train"]}) == 40


def test_units_active_in_too_few_windows_are_not_scored_as_in_delphi():
    """delphi's constructor drops a latent with fewer than min_examples (200) activating windows; so do we, as a
    visible failure, and the dry run plans no request for it."""
    import asyncio

    from autointerp.types import Explanation, Provenance
    from tests.support.scripted_backend import ScriptedBackend

    prov = Provenance(backend="", model="", prompt_id="", prompt_version="", prompt_hash="")
    samples = unit_samples("L0")  # active in 123 windows
    inp = ScoreInput(samples=samples, explanation=Explanation(unit=samples.unit, ok=True, text="x", provenance=prov))
    backend = ScriptedBackend(lambda r: "[1, 0, 1, 0, 1]")
    for limit, ok in ((200, False), (123, True)):
        config = DetectionConfig(prompt="detection-delphi", selection="quantiles", per_level=5, n_negatives=50,
                                 negatives_replace=True, min_active_windows=limit)
        rec = asyncio.run(Detection().score(inp, backend, config, seed=0))
        assert rec.ok is ok
        assert (rec.error == "active in 123 windows, fewer than min_active_windows 200") is not ok
        assert bool(Detection().plan(inp, config, seed=0)) is ok
