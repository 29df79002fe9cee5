"""The report's 'context mix per kind': medians per unit by context kind, and a warning when features and neurons
were not given the same mix (the old sampler gave dense neurons no random contexts)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from autointerp.report.load import RunData
from autointerp.report.mix import mix_differences, mix_section, mix_table
from autointerp.scorers.specificity import RubricConfig, score_specificity
from autointerp.types import Explanation, Provenance
from tests.support.planted import BOTH_BASES_CONFIG, PlantedOracle, make_world, planted_samples
from tests.support.scripted_backend import ScriptedBackend

PROV = Provenance(backend="scripted", model="m", prompt_id="p", prompt_version="1", prompt_hash="h",
                  config_hash="c", seed=0)


def _run(units, rubric=None, config=None) -> RunData:
    return RunData(run_dir=Path("run"), config=config or {}, meta={}, units={u.unit.key: u for u in units},
                   explanations={}, rubric=rubric or {}, simulations={}, unit_ids={u.unit.key: u.unit for u in units})


def _both():
    world = make_world(n_units=3, n_docs=120, seed=2)
    return world, planted_samples(world, BOTH_BASES_CONFIG) + planted_samples(world, BOTH_BASES_CONFIG, dense=True)


def test_same_mix_gives_one_row_per_kind_and_no_warning(tmp_path):
    world, units = _both()
    backend = ScriptedBackend(PlantedOracle.rater)
    rubric = {}
    for u in units:
        expl = Explanation(unit=u.unit, ok=True, text=world.description(u.unit.index), provenance=PROV)
        rubric[u.unit.key] = asyncio.run(score_specificity(u, expl, backend, RubricConfig(per_level=2, n_random=4)))
    run = _run(units, rubric, {"sampler": {"bins": "width", "threshold": 0.1, "signed": "relu"}})
    table = mix_table(run)
    assert set(zip(table["kind"], table["source"])) == {(k, s) for k in ("feature", "neuron")
                                                        for s in ("sampled", "rubric")}
    rub = table[table["source"] == "rubric"].set_index("kind")
    assert rub.loc["feature", "random"] == rub.loc["neuron", "random"] == 4
    assert mix_differences(table) == []
    html = mix_section(run, tmp_path)
    assert "Context mix per kind" in html and "Warning" not in html and "threshold=0.1" in html
    assert (tmp_path / "context_mix.csv").read_text().startswith("kind,source,n_units,top,quantile,random")


def test_a_kind_without_random_contexts_is_flagged():
    _, units = _both()
    # what the old sampler did to dense neurons: no random contexts at all
    starved = [u.model_copy(update={"heldout": tuple(c for c in u.heldout if c.kind != "random")})
               if u.unit.kind == "neuron" else u for u in units]
    table = mix_table(_run(starved))
    diffs = mix_differences(table)
    assert len(diffs) == 1 and diffs[0].startswith("sampled:")
    assert "Warning: the context mix differs" in mix_section(_run(starved))
