"""Judging noise across seeds (``reseeds: N``): each scorer's primary score per seed, its spread, and the
chance-corrected score where chance is defined.

Seed offset 0 is the run itself (the records every other table uses); offsets 1..N-1 are the repeats the
pipeline stores under ``<params>~s<k>``. Per scorer and unit kind: the mean over units of the primary
metric for each seed, the standard deviation and range of those means, and the mean over units of
(value - chance) / (1 - chance), each unit against its own chance level
(:func:`autointerp.scorers.metrics.mean_over_units`). Specificity's metric is ``mean_specificity``
(activating contexts only), the same definition as the report's tables.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from autointerp.report.load import RunData
from autointerp.report.scores import is_scorer_record
from autointerp.scorers.metrics import mean_over_units
from autointerp.types import Frozen


class SeedSpread(Frozen):
    """One scorer's primary metric for one unit kind across the repeated seeds."""

    scorer: str
    metric: str
    kind: str
    seed_offsets: tuple[int, ...] = Field(description="0 = the run's own seed; k = seed + k.")
    mean_per_seed: tuple[float | None, ...] = Field(description="Mean over units of the metric, per seed.")
    n_per_seed: tuple[int, ...] = Field(description="Units with a defined value, per seed.")
    sd: float | None = Field(default=None, description="Standard deviation of the per-seed means (ddof=1).")
    range: float | None = Field(default=None, description="Largest minus smallest per-seed mean.")
    aggregation: str = Field(default="mean over units", description="How units are combined per seed.")
    chance: float | None = Field(
        default=None, description="The chance level when every unit of every seed has the same one; else None "
        "(see chance_per_seed)."
    )
    chance_per_seed: tuple[float | None, ...] = Field(
        default=(), description="Mean over units of each unit's chance level, per seed (None: not defined)."
    )
    chance_corrected_per_seed: tuple[float | None, ...] = Field(
        default=(), description="Mean over units of (value - chance) / (1 - chance) with each unit's own chance, per "
        "seed; empty when the metric has no chance level."
    )


def _primary(record: object) -> tuple[str, float | None, float | None]:
    """(metric name, value, chance) of a record's headline score; value None when undefined or failed."""
    if is_scorer_record(record):
        m = next((m for m in record.metrics if m.name == record.primary), None)
        value = m.value if m is not None and record.ok else None
        return record.primary, value, m.chance if m is not None else None
    if hasattr(record, "judgements"):  # the specificity rubric
        return "mean_specificity", record.mean_specificity if record.ok else None, None
    score = getattr(record, "score", None)  # the simulator
    return "simulation_score", score if getattr(record, "ok", True) else None, 0.0


def seed_spreads(run: RunData) -> tuple[SeedSpread, ...]:
    """A SeedSpread per (scorer, kind) for every stage that has repeated seeds."""
    base = {"rubric": run.rubric, "simulate": run.simulations, **run.extra}
    out = []
    for stage, repeats in run.reseeds.items():
        seeds = {0: base.get(stage, {}), **repeats}
        kinds = sorted({rec.unit.kind for recs in seeds.values() for rec in recs.values()}, key=lambda k: k != "feature")
        for kind in kinds:
            per_seed, name, levels = [], "", set()
            for recs in seeds.values():
                values, chances = [], []
                for rec in recs.values():
                    if rec.unit.kind == kind:
                        name, value, chance = _primary(rec)
                        values.append(value)
                        chances.append(chance)
                per_seed.append(mean_over_units(values, chances))
                levels |= {c for v, c in zip(values, chances) if v is not None}
            means = tuple(m.value for m in per_seed)
            defined = [m for m in means if m is not None]
            has_chance = any(m.chance is not None for m in per_seed)
            out.append(SeedSpread(
                scorer=stage, metric=name, kind=kind, seed_offsets=tuple(seeds), mean_per_seed=means,
                n_per_seed=tuple(m.n for m in per_seed),
                sd=float(np.std(defined, ddof=1)) if len(defined) > 1 else None,
                range=float(max(defined) - min(defined)) if len(defined) > 1 else None,
                chance=next(iter(levels)) if len(levels) == 1 else None,
                chance_per_seed=tuple(m.chance for m in per_seed) if has_chance else (),
                chance_corrected_per_seed=tuple(m.chance_corrected for m in per_seed) if has_chance else (),
            ))  # fmt: skip
    return tuple(out)
