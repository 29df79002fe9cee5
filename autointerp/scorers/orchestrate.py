"""How the pipeline runs the selected scorers: stages, backends, the foreign-context pool and reseeds.

The pipeline's ``Judge`` keeps its job (skip finished work, record, progress, budget guard); this
module tells it which stages a config selects and runs one unit's scorers through ``Judge._stage``,
so every scorer is resumable per (unit, scorer, params) exactly like the original two stages.

Reseeds (``reseeds: N``): seed ``seed + k`` for k = 1..N-1 repeats every scorer's seeded choices on
the same explanation; those records share the stage file, under params ``<hash>~s<k>`` (seed 0 keeps
the plain hash, so reports read it as the run's result). :func:`reseed_spread` reports each scorer's
spread across seeds.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.backends.base import Backend
from autointerp.errors import BudgetExceeded
from autointerp.scorers import metrics
from autointerp.scorers.base import ScoreInput, Scorer
from autointerp.scorers.catalog import SCORERS
from autointerp.scorers.records import ForeignContexts
from autointerp.types import Explanation, UnitSamples


def selected(config: Any) -> list[Scorer]:
    return [SCORERS.get(n) for n in config.scorers]


def judge_stages(config: Any) -> tuple[str, ...]:
    """Store stages a config runs, in order: explain (if any scorer needs it), then each scorer's stage."""
    scorers = selected(config)
    head = ("explain",) if any(s.needs_explanation for s in scorers) else ()
    return head + tuple(s.stage for s in scorers)


def scorer_of_stage(stage: str) -> Scorer:
    return next(SCORERS.get(n) for n in SCORERS if SCORERS.get(n).stage == stage)


def stage_backend_spec(config: Any, stage: str) -> str | None:
    """Backend spec of a stage: backends.<stage> for the original three, the scorer's own or the judge's else."""
    if stage in ("explain", "rubric", "simulate"):
        return getattr(config.backends, stage)
    scorer = scorer_of_stage(stage)
    return scorer.backend_spec(getattr(config, scorer.config_field), config.backends.rubric)


def backend_for(backends: dict[str, Backend], stage: str) -> Backend | None:
    """The backend built for a stage (a factory that only builds the original three: the specificity judge's)."""
    return backends.get(stage) or backends.get("rubric")


def reseed_params(params: str, k: int) -> str:
    return params if k == 0 else f"{params}~s{k}"


def wants_foreign(config: Any) -> bool:
    return any(s.wants_foreign(config.negatives) for s in selected(config))


async def score_unit(judge: Any, us: UnitSamples, exp: Explanation | None) -> None:
    """Run every selected scorer on one unit through ``judge._stage`` (skips finished, records, counts)."""
    cfg = judge.config
    inp = ScoreInput(samples=us, explanation=exp, foreign=getattr(judge, "foreign", {}).get(us.unit.key),
                     negatives=cfg.negatives, steering=getattr(judge, "steering", {}).get(us.unit.key))

    def make(scorer: Scorer):
        backend = backend_for(judge.backends, scorer.stage) if scorer.uses_llm else None
        return lambda: scorer.score(inp, backend, getattr(cfg, scorer.config_field), cfg.seed)

    await asyncio.gather(*(judge._stage(s.stage, us.unit.key, make(s)) for s in selected(cfg)))


async def run_reseeds(judge: Any, units: list[UnitSamples]) -> BudgetExceeded | None:
    """Seeds seed+1 .. seed+reseeds-1 of every selected scorer (explanations are reused, never redone).

    Returns the BudgetExceeded that stopped it, if any (finished records are kept; a rerun resumes)."""
    cfg, store = judge.config, judge.store
    if cfg.reseeds <= 1:
        return None
    explanations = store.latest("explain", judge.params["explain"]) if "explain" in judge.params else {}
    limit = asyncio.Semaphore(max(1, cfg.llm.units_in_flight))
    todo = []
    for k in range(1, cfg.reseeds):
        for scorer in selected(cfg):
            params = reseed_params(judge.params[scorer.stage], k)
            have = store.done(scorer.stage, params)
            backend = backend_for(judge.backends, scorer.stage) if scorer.uses_llm else None
            for us in units:
                if us.unit.key not in have:
                    todo.append((k, scorer, params, backend, us))

    async def one(k: int, scorer: Scorer, params: str, backend: Backend | None, us: UnitSamples) -> None:
        exp = explanations.get(us.unit.key)
        inp = ScoreInput(samples=us, explanation=exp if isinstance(exp, Explanation) else None,
                         foreign=getattr(judge, "foreign", {}).get(us.unit.key), negatives=cfg.negatives,
                         steering=getattr(judge, "steering", {}).get(us.unit.key))
        async with limit:
            rec = await scorer.score(inp, backend, getattr(cfg, scorer.config_field), cfg.seed + k)
        store.append(scorer.stage, rec, params)

    results = await asyncio.gather(*(one(*t) for t in todo), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, BudgetExceeded):
            raise r
    return next((r for r in results if isinstance(r, BudgetExceeded)), None)


def reseed_spread(store: Any, config: Any, params: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per scorer: its headline metric's mean over units for each seed, the spread of those means, the mean chance
    level and the mean over units of the chance-corrected values, each unit against its own chance level."""
    out: dict[str, dict[str, Any]] = {}
    for scorer in selected(config):
        per_seed, name = [], ""
        for k in range(config.reseeds):
            recs = store.latest(scorer.stage, reseed_params(params[scorer.stage], k)).values()
            sums = [scorer.summarise(r) for r in recs if getattr(r, "ok", False)]
            prim = [next((m for m in s.metrics if m.name == s.primary), None) for s in sums]
            name = next((s.primary for s in sums), name)
            per_seed.append(metrics.mean_over_units([m.value if m else None for m in prim],
                                                    [m.chance if m else None for m in prim]))
        defined = [m.value for m in per_seed if m.value is not None]
        out[scorer.name] = {
            "metric": name,
            "aggregation": "mean over units (every unit kind together)",
            "seeds": [config.seed + k for k in range(config.reseeds)],
            "mean_per_seed": [m.value for m in per_seed],
            "n_per_seed": [m.n for m in per_seed],
            "chance_per_seed": [m.chance for m in per_seed],
            "chance_corrected_per_seed": [m.chance_corrected for m in per_seed],
            "spread_sd": float(np.std(defined, ddof=1)) if len(defined) > 1 else None,
            "spread_range": float(max(defined) - min(defined)) if len(defined) > 1 else None,
        }
    return out


def write_reseed_spread(store: Any, config: Any, params: dict[str, str], path: Path) -> dict[str, dict[str, Any]]:
    spread = reseed_spread(store, config, params)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spread, indent=2), encoding="utf-8")
    return spread


def spread_lines(spread: dict[str, dict[str, Any]]) -> list[str]:
    def f(x: float | None) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    return [
        f"{name:<12} {s.get('metric', '')}, mean over units, per seed {', '.join(f(v) for v in s['mean_per_seed'])}; "
        f"sd {f(s['spread_sd'])}; chance {', '.join(f(v) for v in s.get('chance_per_seed', []))}; "
        f"chance-corrected (each unit's own chance) {', '.join(f(v) for v in s['chance_corrected_per_seed'])}"
        for name, s in spread.items()
    ]


# ----------------------------------------------------------------------------------- the foreign-context pool


def ensure_foreign(config: Any, store: Any, subject: Any, bases: list, units: list[UnitSamples],
                   params: str) -> dict[str, ForeignContexts]:
    """Other units' contexts where each unit is silent: from the store if computed for these samples, else one
    forward pass per basis over the other units' top held-out windows (see :mod:`autointerp.scorers.negatives`)."""
    from autointerp.activations.model_source import MultiSource
    from autointerp.dictionaries.output import residual_direction
    from autointerp.sampling import SampleSet
    from autointerp.scorers.negatives import foreign_contexts

    have = store.latest("foreign", params)
    if all(us.unit.key in have for us in units):
        return {us.unit.key: have[us.unit.key] for us in units}  # type: ignore[misc]
    out: dict[str, ForeignContexts] = {}
    for rb in bases:
        mine = [us for us in units if us.unit.basis == rb.name]
        if len(mine) < 2:
            out |= {us.unit.key: ForeignContexts(unit=us.unit) for us in mine}
            continue
        sset = SampleSet.load(store.run_dir / "samples" / rb.name.replace(":", "_").replace("/", "_"))
        source = MultiSource(subject, [rb.basis.__class__(rb.basis.site, rb.basis.dictionary,
                                                          tuple(us.unit.index for us in mine))], device=config.device)

        def batches(windows, batch_size, source=source):
            for (batch,) in source.batches(windows, batch_size):
                yield batch

        import torch

        with torch.no_grad():
            dirs = []
            for us in mine:
                d = residual_direction(subject, rb.basis.site, rb.basis.dictionary, us.unit.index)
                dirs.append(d if d is not None else torch.zeros(subject.d_model))
            directions = torch.stack([d.float() for d in dirs])
        pool = foreign_contexts(mine, sset.windows, batches, directions, batch_size=config.sampler.batch_size)
        for fc in pool.values():
            store.append("foreign", fc, params)
        out |= pool
    return out


