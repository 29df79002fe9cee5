"""Planted ground truth: units that fire on known words, judged through the real sampler and all three stages.

With the true (oracle-explained) description the simulation must correlate >= 0.9 and the rubric must give 3 on
activating and 0 on non-activating contexts; with another unit's description the correlation must be near 0 and
the rubric mostly 0-1. Every simulator method is run, on a sparse feature basis and on a dense signed-neuron basis
(signed noise on every non-trigger token) sampled with the same rule; both get the same context mix.
"""

from __future__ import annotations

import asyncio

import pytest

from autointerp.judging.explain import ExplainConfig, explain_unit
from autointerp.scorers.simulation import SimulateConfig, simulate_unit
from autointerp.scorers.specificity import RubricConfig, score_specificity
from autointerp.types import Explanation, Provenance
from tests.support.planted import BOTH_BASES_CONFIG, PlantedOracle, make_world, planted_samples
from tests.support.scripted_backend import CAPS_LOGPROBS, CAPS_PLAIN, CAPS_PROMPT_LOGPROBS, ScriptedBackend

PROV = Provenance(backend="scripted", model="m", prompt_id="p", prompt_version="1", prompt_hash="h",
                  config_hash="c", seed=0)
METHODS = {
    "logprobs-all-at-once": (CAPS_PROMPT_LOGPROBS, PlantedOracle.simulate_prompt_logprobs),
    "logprobs-generated": (CAPS_LOGPROBS, PlantedOracle.simulate_generated),
    "json-list": (CAPS_PLAIN, PlantedOracle.simulate_json),
}


@pytest.fixture(scope="module")
def world():
    return make_world(n_units=4, seed=1)


@pytest.fixture(scope="module", params=["sparse", "dense"])
def units(world, request):
    return planted_samples(world, BOTH_BASES_CONFIG, dense=request.param == "dense")


def mix(s):
    """(split, kind, level) of every context: what the judges can be given."""
    return sorted((split, c.kind, c.level) for split, cs in (("e", s.explain), ("h", s.heldout)) for c in cs)


def test_dense_signed_basis_gets_the_same_context_mix_as_the_sparse_one(world):
    sparse = planted_samples(world, BOTH_BASES_CONFIG)
    dense = planted_samples(world, BOTH_BASES_CONFIG, dense=True)
    for s, d in zip(sparse, dense, strict=True):
        assert any(a < 0 for c in d.heldout for a in c.activations), "the dense basis is signed"
        assert sum(a != 0 for c in d.heldout for a in c.activations) > 0.9 * sum(len(c.tokens) for c in d.heldout)
        assert mix(s) == mix(d)
        assert {c.kind for c in d.heldout} == {"top", "quantile", "random"}
        assert sum(c.kind == "random" for c in d.heldout) == BOTH_BASES_CONFIG.n_random


def test_both_bases_are_simulated_and_rated_on_the_same_mix(world):
    """The demo's failure: features simulated on 2 top + 2 random contexts, neurons on 2 top only."""
    sim_backend = ScriptedBackend(PlantedOracle.simulate_json, capabilities=CAPS_PLAIN)
    rater = ScriptedBackend(PlantedOracle.rater)
    used = {}
    for dense in (False, True):
        rows = []
        for u, s in enumerate(planted_samples(world, BOTH_BASES_CONFIG, dense=dense)):
            expl = Explanation(unit=s.unit, ok=True, text=world.description(u), provenance=PROV)
            sim = asyncio.run(simulate_unit(s, expl, sim_backend, SimulateConfig(n_top=2, n_random=2), seed=u))
            rub = asyncio.run(score_specificity(s, expl, rater, RubricConfig(per_level=2, n_random=4), seed=u))
            rows.append((sorted(c.kind for c in sim.contexts), sorted(j.kind for j in rub.judgements)))
        used[dense] = rows
    assert used[False] == used[True]
    assert all(sim == ["random", "random", "top", "top"] for sim, _ in used[True])


@pytest.fixture(scope="module")
def explanations(units):
    async def all_units():
        backend = ScriptedBackend(PlantedOracle.explainer)
        return await asyncio.gather(*(explain_unit(s, backend, ExplainConfig(n_top=10, n_quantile=15), seed=3) for s in units))

    return asyncio.run(all_units())


def wrong(expl: Explanation, other: Explanation) -> Explanation:
    return expl.model_copy(update={"text": other.text})


def test_sampled_units_cover_levels_and_negatives(units):
    for s in units:
        assert {c.kind for c in s.heldout} == {"top", "quantile", "random"}
        assert not {c.window_index for c in s.explain} & {c.window_index for c in s.heldout}


def test_explainer_recovers_the_planted_words(world, units, explanations):
    for u, expl in enumerate(explanations):
        assert expl.ok and expl.text == world.description(u)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_simulation_true_vs_shuffled_description(units, explanations, method):
    caps, handler = METHODS[method]
    backend = ScriptedBackend(handler, capabilities=caps)
    config = SimulateConfig(n_top=5, n_quantile=3, n_random=5)
    for u, s in enumerate(units):
        true = asyncio.run(simulate_unit(s, explanations[u], backend, config, seed=u))
        other = wrong(explanations[u], explanations[(u + 1) % len(units)])
        shuffled = asyncio.run(simulate_unit(s, other, backend, config, seed=u))
        assert true.ok and shuffled.ok and true.method == method
        assert true.score >= 0.9, (u, true.score)
        assert shuffled.score is None or abs(shuffled.score) < 0.2, (u, shuffled.score)


def test_rubric_true_vs_shuffled_description(units, explanations):
    backend = ScriptedBackend(PlantedOracle.rater)
    config = RubricConfig(per_level=3, n_random=6)
    for u, s in enumerate(units):
        true = asyncio.run(score_specificity(s, explanations[u], backend, config, seed=u))
        assert true.ok and all(j.ok for j in true.judgements)
        assert -1 in {j.level for j in true.judgements} and len({j.level for j in true.judgements}) >= 3
        for j in true.judgements:
            assert j.score == (3 if j.level >= 0 else 0), j
        other = wrong(explanations[u], explanations[(u + 1) % len(units)])
        shuffled = asyncio.run(score_specificity(s, other, backend, config, seed=u))
        low = [j.score <= 1 for j in shuffled.judgements]
        assert sum(low) / len(low) >= 0.8
