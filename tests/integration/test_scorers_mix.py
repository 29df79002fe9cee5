"""Detection and embedding score every unit on the same rule: positives above the sampler's threshold, negatives the
random windows below it; the counts each unit was scored on are in its record, so a difference between kinds shows."""

from __future__ import annotations

import asyncio

from autointerp.sampling import SamplerConfig
from autointerp.scorers import SCORERS
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.detection import DetectionConfig
from autointerp.types import Explanation, Provenance
from tests.support.planted import BOTH_BASES_CONFIG, make_world, planted_samples
from tests.support.scripted_backend import CAPS_PLAIN, ScriptedBackend
from tests.unit.scorers import judges

PROV = Provenance(backend="t", model="t", prompt_id="p", prompt_version="1", prompt_hash="h")


def _counts(units, world):
    scorer, out = SCORERS.get("detection"), []
    for i, us in enumerate(units):
        expl = Explanation(unit=us.unit, ok=True, text=world.description(i), provenance=PROV)
        rec = asyncio.run(scorer.score(ScoreInput(samples=us, explanation=expl), ScriptedBackend(
            judges.by_stage, capabilities=CAPS_PLAIN), DetectionConfig(), 0))
        out.append((rec.ok, rec.metric("n_negative").value if rec.ok else None))
    return out


def test_dense_and_sparse_units_get_the_same_negatives_under_one_threshold():
    world = make_world(n_units=4, seed=5)
    sparse = _counts(planted_samples(world, BOTH_BASES_CONFIG), world)
    dense = _counts(planted_samples(world, BOTH_BASES_CONFIG, dense=True), world)
    assert all(ok for ok, _ in sparse + dense)
    assert [n for _, n in dense] == [n for _, n in sparse]  # noise is below threshold: the same windows are negatives


def test_at_threshold_zero_a_dense_units_missing_negatives_are_stated_not_hidden():
    world = make_world(n_units=4, seed=5)
    config = BOTH_BASES_CONFIG.model_copy(update={"threshold": 0.0})
    dense = _counts(planted_samples(world, SamplerConfig(**config.model_dump()), dense=True), world)
    sparse = _counts(planted_samples(world, SamplerConfig(**config.model_dump())), world)
    sparse_neg = [n for ok, n in sparse if ok]
    dense_neg = [n for ok, n in dense if ok]
    assert sparse_neg and all(n > 0 for n in sparse_neg)
    # the dense basis's random windows all carry signed noise above 0: they are not negatives, and each record
    # either says so (fewer n_negative) or fails visibly for lack of a negative class
    assert all(not ok for ok, _ in dense) or (sum(dense_neg) / len(dense_neg) < sum(sparse_neg) / len(sparse_neg))
