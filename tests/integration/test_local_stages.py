"""One unit through explain -> specificity -> simulate on the real local SmolLM2-135M.

Simulation runs both methods the local backend supports (teacher-forced candidate logprobs, the default, and
generated-token logprobs); the JSON method is covered against scripted backends (it is for logprob-less APIs).

Quality is not asserted (a 135M model is a poor judge); record shapes, provenance and failure handling are.
Prompts are kept short (few contexts, 8-token windows, one attempt each) so it stays around a minute on a busy
2-core CPU (prefill of the few-shot prompt dominates).
"""

from __future__ import annotations

import asyncio
import math

import pytest

from autointerp.judging.explain import ExplainConfig, explain_unit
from autointerp.judging.prompts import load_prompt
from autointerp.scorers.simulation import SimulateConfig, simulate_unit
from autointerp.scorers.specificity import RubricConfig, score_specificity
from autointerp.types import Explanation, RubricResult, Simulation
from tests.support.planted import make_world, planted_samples

pytestmark = pytest.mark.slow


def _check_simulation(sim: Simulation, method: str) -> None:
    assert isinstance(sim, Simulation) and sim.method == method
    assert sim.provenance.backend == "local:smollm2-135m" and sim.usage.requests >= 1
    for c in sim.contexts:
        assert len(c.predicted) == len(c.true) and all(0.0 <= p <= 10.0 for p in c.predicted)
        assert c.correlation is None or -1.0 <= c.correlation <= 1.0
    if sim.ok:
        assert (sim.score is None) != (sim.score_note is None)
        assert sim.score is None or (-1.0 <= sim.score <= 1.0 and math.isfinite(sim.score))
    else:
        assert sim.error and sim.score is None


def test_one_unit_through_every_stage_on_smollm2():
    from autointerp.backends import build_backend, usage_of

    unit = planted_samples(make_world(n_units=1, n_docs=80, seed=3), window=8)[0]

    async def scenario():
        backend = build_backend("local:smollm2-135m")
        try:
            expl = await explain_unit(unit, backend, ExplainConfig(n_top=2, n_quantile=1, max_tokens=24, max_retries=0))
            used = expl if expl.ok else expl.model_copy(update={"ok": True, "text": "made-up words", "error": None})
            rubric = await score_specificity(
                unit, used, backend, RubricConfig(per_level=1, n_random=1, contexts_per_prompt=8, max_retries=0,
                                                  max_tokens=32)
            )
            sims = {}
            for method, cfg in {  # sequential: each stage's requests are batched by the backend
                "logprobs-all-at-once": SimulateConfig(n_top=1, n_random=1),
                "logprobs-generated": SimulateConfig(method="logprobs-generated", n_top=1, n_random=0, max_retries=0),
            }.items():
                sims[method] = await simulate_unit(unit, used, backend, cfg, seed=0)
            return expl, rubric, sims, usage_of(backend)
        finally:
            await backend.aclose()

    expl, rubric, sims, usage = asyncio.run(scenario())

    assert isinstance(expl, Explanation) and expl.unit == unit.unit
    assert expl.provenance.prompt_hash == load_prompt("explain").content_hash
    assert expl.provenance.model == "smollm2-135m" and expl.usage.requests >= 1
    assert (expl.ok and expl.text and len(expl.text) <= 200) or (not expl.ok and expl.error)

    assert isinstance(rubric, RubricResult) and rubric.judgements
    for j in rubric.judgements:
        assert (j.ok and j.score in (0, 1, 2, 3)) or (not j.ok and j.score is None and j.error)
    assert rubric.ok == any(j.ok for j in rubric.judgements)

    for method, sim in sims.items():
        _check_simulation(sim, method)
    assert sims["logprobs-all-at-once"].ok  # candidate scoring always yields numbers
    assert usage.requests >= 1 + 1 + 2 + 1 and usage.cost_usd == 0
