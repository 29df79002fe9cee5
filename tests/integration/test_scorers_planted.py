"""Planted ground truth for the new scorers: the true description scores high, another unit's about chance."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from autointerp.scorers import SCORERS
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.detection import DetectionConfig
from autointerp.scorers.embedding import EmbeddingConfig
from autointerp.scorers.fuzzing import FuzzingConfig
from autointerp.scorers.intruder import IntruderConfig
from autointerp.scorers.negatives import foreign_contexts
from autointerp.scorers.saebench import SaebenchConfig
from autointerp.types import Explanation, Provenance
from tests.support.planted import PlantedSource, make_world, planted_samples
from tests.support.scripted_backend import CAPS_PLAIN, ScriptedBackend
from tests.unit.scorers import judges

PROV = Provenance(backend="t", model="t", prompt_id="p", prompt_version="1", prompt_hash="h")


@pytest.fixture(scope="module")
def world_units():
    world = make_world(n_units=6, seed=3)
    units = planted_samples(world)
    windows = {w.index: w for w in world.windows(16)}
    dirs = torch.tensor(np.random.default_rng(0).normal(size=(world.n_units, 8)), dtype=torch.float32)
    foreign = foreign_contexts(units, windows, PlantedSource(world).batches, dirs)
    return world, units, foreign


def _explanation(us, text):
    return Explanation(unit=us.unit, ok=True, text=text, provenance=PROV)


def _mean_primary(name, config, world, units, foreign, wrong: bool, negatives="random"):
    scorer = SCORERS.get(name)
    backend = ScriptedBackend(judges.by_stage, capabilities=CAPS_PLAIN)
    values = []
    for i, us in enumerate(units):
        desc = world.description((i + 1) % world.n_units if wrong else i)
        inp = ScoreInput(samples=us, explanation=_explanation(us, desc), foreign=foreign[us.unit.key],
                         negatives=negatives)
        rec = asyncio.run(scorer.score(inp, backend, config, 0))
        assert rec.ok, rec.error
        values.append(rec.metric(rec.primary).value)
    return float(np.mean(values))


@pytest.mark.parametrize("negatives", ["random", "neighbours"])
def test_detection_planted(world_units, negatives):
    world, units, foreign = world_units
    assert _mean_primary("detection", DetectionConfig(), world, units, foreign, False, negatives) >= 0.9
    assert abs(_mean_primary("detection", DetectionConfig(), world, units, foreign, True, negatives) - 0.5) <= 0.1


def test_fuzzing_planted(world_units):
    world, units, foreign = world_units
    assert _mean_primary("fuzzing", FuzzingConfig(), world, units, foreign, False) >= 0.9
    assert abs(_mean_primary("fuzzing", FuzzingConfig(), world, units, foreign, True) - 0.5) <= 0.1


def test_embedding_planted(world_units):
    """Real MiniLM embeddings. A planted trigger is one made-up word among 15 random ones, so the whole-window
    default dilutes it (measured AUROC ~0.72); embedding 4 tokens around the max-activating one recovers it."""
    world, units, foreign = world_units
    config = EmbeddingConfig(span=4)
    assert _mean_primary("embedding", config, world, units, foreign, False) >= 0.9
    assert abs(_mean_primary("embedding", config, world, units, foreign, True) - 0.5) <= 0.15


def test_saebench_planted_explains_and_scores(world_units):
    world, units, foreign = world_units
    # saebench writes its own explanation; the oracle explainer names the marked words, so the judge is right on every
    # document but the random ones that hold a trigger: SAEBench labels random documents inactive by construction
    backend = ScriptedBackend(judges.by_stage, capabilities=CAPS_PLAIN)
    for us in units:
        rec = asyncio.run(SCORERS.get("saebench").score(ScoreInput(samples=us), backend, SaebenchConfig(), 0))
        assert rec.ok, rec.error
        wrong = [i for i in rec.items if i.label != i.predicted]
        assert all(i.group == "random" and i.true_activation > 0 for i in wrong)
    assert _mean_primary("saebench", SaebenchConfig(), world, units, foreign, False) >= 0.7


def test_intruder_planted(world_units):
    world, units, foreign = world_units
    assert _mean_primary("intruder", IntruderConfig(), world, units, foreign, False) >= 0.9
