"""Which per-unit scores a run has, described generically, so every scorer gets a table and a figure.

The report never hard-codes a list of stages: it asks for the :class:`MetricSpec` of every scorer that
left records in the run and compares features vs neurons (or run A vs run B) on each one.

Contract for a scorer's records (duck-typed, so a scorer package need not import the report):

* the record has ``unit: UnitId`` and ``ok: bool`` (a failed record: every metric of the unit is 'failed');
* ``metric_values() -> Mapping[str, float | None]``: the per-unit value of each metric (None: undefined,
  e.g. no negatives to compute an AUROC);
* the record class has ``report_metrics() -> Iterable[Mapping]`` (classmethod or staticmethod) giving, per
  metric, ``name`` (unique across scorers, e.g. 'detection_balanced_accuracy'), ``label``, and optionally
  ``limits`` (lo, hi), ``chance`` (the score of a judge that guesses), ``description``;
* optionally ``level_hits() -> Mapping[int, tuple[int, int]]``: per activation level, (hits, total) of the
  activating contexts the judge recognised (recall per level, shown beside the specificity histogram).

Built in: the specificity rubric (mean 0-3 rating over activating held-out contexts) and the simulation
score (Pearson r), read by :func:`autointerp.report.load.units_frame`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd
from pydantic import Field

from autointerp.report.load import RunData
from autointerp.types import Frozen


class MetricSpec(Frozen):
    """One per-unit metric of one scorer: what the report needs to tabulate and plot it."""

    scorer: str = Field(description="Scorer (store stage) that produced it, e.g. 'simulate', 'detection'.")
    name: str = Field(description="Column of the units table, unique across scorers.")
    label: str = Field(description="Axis label, with the metric's unit or range.")
    limits: tuple[float, float] | None = Field(default=None, description="Range of the metric, when bounded.")
    chance: float | None = Field(default=None, description="Value of a judge that guesses (None: not defined).")
    description: str = Field(default="", description="One sentence for tables and captions.")

    @property
    def status_column(self) -> str:
        """Column saying whether the value is defined: 'ok', 'failed', 'undefined' or 'missing'."""
        return BUILTIN_STATUS.get(self.name, f"{self.name}_status")


SIMULATION = MetricSpec(
    scorer="simulate",
    name="simulation_score",
    label="simulation score (Pearson r)",
    limits=(-1.0, 1.0),
    chance=0.0,
    description="Pearson r of simulated vs true activations pooled over a unit's held-out contexts.",
)
SPECIFICITY = MetricSpec(
    scorer="rubric",
    name="mean_specificity",
    label="mean specificity rating (0-3)",
    limits=(0.0, 3.0),
    description="Mean 0-3 rating of how well the explanation fits a unit's activating held-out contexts.",
)
BUILTIN = (SIMULATION, SPECIFICITY)
BUILTIN_STATUS = {"simulation_score": "simulation_status", "mean_specificity": "specificity_status"}


def _specs_of(record_type: type, scorer: str) -> list[MetricSpec]:
    described = getattr(record_type, "report_metrics", None)
    if described is None:
        return []
    out = []
    for item in described():
        data = dict(item) if isinstance(item, Mapping) else item.model_dump()
        data.pop("scorer", None)
        limits = data.get("limits")
        out.append(MetricSpec(scorer=scorer, **{**data, "limits": tuple(limits) if limits is not None else None}))
    return out


def extra_metric_specs(run: RunData) -> list[MetricSpec]:
    """Specs of every scorer beyond the built-in two that left records in the run, in store order."""
    specs: list[MetricSpec] = []
    for stage, records in run.extra.items():
        if records:
            specs += _specs_of(type(next(iter(records.values()))), stage)
    return specs


def metric_specs(run: RunData) -> list[MetricSpec]:
    """Every metric of the run: simulation and specificity, then each further scorer's."""
    return [*BUILTIN, *extra_metric_specs(run)]


def _finite(value: object) -> float | None:
    if value is None:
        return None
    x = float(value)  # type: ignore[arg-type]
    return x if math.isfinite(x) else None


def add_extra_scores(units: pd.DataFrame, run: RunData, specs: Iterable[MetricSpec]) -> pd.DataFrame:
    """Add ``<name>`` and ``<name>_status`` columns for each non-built-in metric to a units frame (a copy)."""
    out = units.copy()
    upstream_failed = out["explanation_status"].eq("failed") | out["sample_status"].eq("failed")
    for spec in specs:
        if spec.name in BUILTIN_STATUS:
            continue
        records = run.extra.get(spec.scorer, {})
        values, statuses = [], []
        for key, failed_before in zip(out["unit"], upstream_failed):
            rec = records.get(key)
            if rec is None:
                values.append(None)
                statuses.append("failed" if failed_before else "missing")
            elif not getattr(rec, "ok", True):
                values.append(None)
                statuses.append("failed")
            else:
                value = _finite(rec.metric_values().get(spec.name))
                values.append(value)
                statuses.append("ok" if value is not None else "undefined")
        out[spec.name] = pd.Series(values, index=out.index, dtype="float64")
        out[spec.status_column] = statuses
    return out


def level_hits(run: RunData) -> pd.DataFrame:
    """Recall per activation level of every scorer whose records give ``level_hits()``.

    Columns: scorer, kind, level, hits, total, recall (hits / total over the ok records of the kind).
    """
    rows = []
    for stage, records in run.extra.items():
        for rec in records.values():
            hits_of = getattr(rec, "level_hits", None)
            if hits_of is None or not getattr(rec, "ok", True):
                continue
            for level, (hits, total) in hits_of().items():
                rows.append({"scorer": stage, "kind": rec.unit.kind, "level": int(level), "hits": int(hits),
                             "total": int(total)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["scorer", "kind", "level", "hits", "total"])
    if frame.empty:
        return frame.assign(recall=pd.Series(dtype="float64"))
    frame = frame.groupby(["scorer", "kind", "level"], as_index=False)[["hits", "total"]].sum()
    frame["recall"] = frame["hits"] / frame["total"].where(frame["total"] > 0)
    return frame
