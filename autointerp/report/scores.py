"""Which per-unit scores a run has, described generically, so every scorer gets a table and a figure.

The report never hard-codes a list of stages: it asks for the :class:`MetricSpec` of every scorer that
left records in the run and compares features vs neurons (or run A vs run B) on each one.

A scorer's records are read through their generic shape (:class:`autointerp.scorers.records.ScoreResult`,
duck-typed so this module needs no scorer code): ``unit``, ``ok``, ``primary`` (the headline metric's
name) and ``metrics``, each with ``name``, ``value`` (None: undefined), ``chance`` and ``n``. Every metric
becomes a column ``<scorer>_<metric>`` of the units table, the primary one first; ``recall_level_<L>``
metrics are not columns but the recall-per-level figure (beside the specificity histogram).

Built in: the specificity rubric (mean 0-3 rating over activating held-out contexts) and the simulation
score (Pearson r), read by :func:`autointerp.report.load.units_frame`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

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


PROBABILITY_METRICS = ("accuracy", "balanced_accuracy", "auroc", "f1", "recall", "precision")
RECALL_PREFIX = "recall_level_"


def is_scorer_record(record: object) -> bool:
    """Records with the generic scorer shape (metrics + primary), as opposed to scorer inputs (foreign contexts,
    steered continuations) that share the store."""
    return hasattr(record, "metrics") and hasattr(record, "primary")


def _description(scorer: str) -> str:
    try:  # the registry's one-line description, when the scorer package is installed
        from autointerp.scorers.catalog import SCORERS

        return SCORERS.get(scorer).description if scorer in SCORERS else ""
    except ImportError:
        return ""


def _specs_of(scorer: str, records: Iterable) -> list[MetricSpec]:
    chances: dict[str, set[float]] = {}
    primary = None
    for rec in records:
        primary = primary or getattr(rec, "primary", None)
        for m in rec.metrics:
            if not m.name.startswith(RECALL_PREFIX):
                chances.setdefault(m.name, set()).update([round(m.chance, 12)] if m.chance is not None else [])
    order = sorted(chances, key=lambda n: n != primary)  # stable: the primary metric first
    about = _description(scorer)
    specs = []
    for name in order:
        bounded = any(name == p or name.endswith("_" + p) for p in PROBABILITY_METRICS)
        chance = next(iter(chances[name])) if len(chances[name]) == 1 else None  # one chance level for all units
        varies = " (chance level differs between units)" if len(chances[name]) > 1 else ""
        specs.append(MetricSpec(scorer=scorer, name=f"{scorer}_{name}", label=f"{scorer} {name.replace('_', ' ')}",
                                limits=(0.0, 1.0) if bounded else None, chance=chance,
                                description=(about if name == primary else "") + varies))  # fmt: skip
    return specs


def extra_metric_specs(run: RunData) -> list[MetricSpec]:
    """Specs of every scorer beyond the built-in two that left records in the run, in store order."""
    specs: list[MetricSpec] = []
    for stage, records in run.extra.items():
        scored = [r for r in records.values() if is_scorer_record(r)]
        if scored:
            specs += _specs_of(stage, scored)
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
                wanted = spec.name[len(spec.scorer) + 1:]
                value = _finite(next((m.value for m in rec.metrics if m.name == wanted), None))
                values.append(value)
                statuses.append("ok" if value is not None else "undefined")
        out[spec.name] = pd.Series(values, index=out.index, dtype="float64")
        out[spec.status_column] = statuses
    return out


def level_hits(run: RunData) -> pd.DataFrame:
    """Recall per activation level of every scorer whose records carry ``recall_level_<L>`` metrics.

    Columns: scorer, kind, level, hits, total, recall (hits / total over the ok records of the kind).
    """
    rows = []
    for stage, records in run.extra.items():
        for rec in records.values():
            if not is_scorer_record(rec) or not getattr(rec, "ok", True):
                continue
            for m in rec.metrics:
                if m.name.startswith(RECALL_PREFIX) and m.value is not None and m.n > 0:
                    level = int(m.name[len(RECALL_PREFIX):])
                    rows.append({"scorer": stage, "kind": rec.unit.kind, "level": level,
                                 "hits": round(m.value * m.n), "total": int(m.n)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["scorer", "kind", "level", "hits", "total"])
    if frame.empty:
        return frame.assign(recall=pd.Series(dtype="float64"))
    frame = frame.groupby(["scorer", "kind", "level"], as_index=False)[["hits", "total"]].sum()
    frame["recall"] = frame["hits"] / frame["total"].where(frame["total"] > 0)
    return frame
