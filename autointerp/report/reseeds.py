"""Judging noise across seeds (``reseeds: N``): each scorer's primary score per seed, its spread, and the
chance-corrected score where chance is defined.

Seed offset 0 is the run itself (the records every other table uses); offsets 1..N-1 are the repeats the
pipeline stores under ``<params>~s<k>``. Per scorer and unit kind: the mean over units of the primary
metric for each seed, the standard deviation and range of those means, and (value - chance) / (1 - chance).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from autointerp.report.load import RunData, mean_specificity
from autointerp.report.scores import is_scorer_record
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
    chance: float | None = None
    chance_corrected_per_seed: tuple[float | None, ...] = Field(
        default=(), description="(mean - chance) / (1 - chance) per seed; empty when chance is not defined."
    )


def _primary(record: object) -> tuple[str, float | None, float | None]:
    """(metric name, value, chance) of a record's headline score; value None when undefined or failed."""
    if is_scorer_record(record):
        m = next((m for m in record.metrics if m.name == record.primary), None)
        value = m.value if m is not None and record.ok else None
        return record.primary, value, m.chance if m is not None else None
    if hasattr(record, "judgements"):  # the specificity rubric
        return "mean_specificity", mean_specificity(record) if record.ok else None, None
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
            means, ns, name, chance = [], [], "", None
            for recs in seeds.values():
                values = []
                for rec in recs.values():
                    if rec.unit.kind != kind:
                        continue
                    name, value, c = _primary(rec)
                    chance = c if c is not None else chance
                    if value is not None and math.isfinite(value):
                        values.append(value)
                means.append(float(np.mean(values)) if values else None)
                ns.append(len(values))
            defined = [m for m in means if m is not None]
            corrected = (tuple(None if m is None else (m - chance) / (1 - chance) for m in means)
                         if chance is not None and chance < 1 else ())  # fmt: skip
            out.append(SeedSpread(scorer=stage, metric=name, kind=kind, seed_offsets=tuple(seeds),
                                  mean_per_seed=tuple(means), n_per_seed=tuple(ns),
                                  sd=float(np.std(defined, ddof=1)) if len(defined) > 1 else None,
                                  range=float(max(defined) - min(defined)) if len(defined) > 1 else None,
                                  chance=chance, chance_corrected_per_seed=corrected))  # fmt: skip
    return tuple(out)
