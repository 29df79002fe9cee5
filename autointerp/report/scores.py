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

from autointerp.report.load import RunData, run_protocol
from autointerp.types import Frozen

AGGREGATION = "median over units (95% bootstrap CI), mean beside"


class MetricSpec(Frozen):
    """One per-unit metric of one scorer: what the report needs to tabulate and plot it."""

    scorer: str = Field(description="Scorer (store stage) that produced it, e.g. 'simulate', 'detection'.")
    name: str = Field(description="Column of the units table, unique across scorers.")
    label: str = Field(description="Axis label, with the metric's unit or range.")
    limits: tuple[float, float] | None = Field(default=None, description="Range of the metric, when bounded.")
    chance: float | None = Field(default=None, description="Value of a judge that guesses (None: not defined).")
    description: str = Field(default="", description="One sentence for tables and captions.")
    protocol: str = Field(default="ours", description="Protocol the numbers follow: 'ours', or a preset's label with "
                          "the fields the run changed ('delphi protocol, modified: window 64').")
    aggregation: str = Field(default=AGGREGATION, description="How the report's tables combine units.")
    chance_rule: str = Field(default="", description="How the chance level is set (docs/metrics.md).")
    chance_varies: bool = Field(default=False, description="True when units have different chance levels: each "
                                "unit's is in the units table (<name>_chance), groups show their mean.")
    method: str = Field(default="", description="How the values were estimated, where a scorer has several ways "
                        "(simulation: the methods of the units' predictions, e.g. 'json-list').")
    method_note: str = Field(default="", description="What each method is and how many units used it (only "
                             "'logprobs-all-at-once' is OpenAI's estimator).")

    @property
    def status_column(self) -> str:
        """Column saying whether the value is defined: 'ok', 'failed', 'undefined' or 'missing'."""
        return BUILTIN_STATUS.get(self.name, f"{self.name}_status")

    @property
    def chance_column(self) -> str:
        """Units-table column of each unit's own chance level (only when it varies by unit)."""
        return f"{self.name}_chance"

    @property
    def chance_text(self) -> str:
        """'chance 0.5', 'chance per unit (...)' or 'no chance level (...)'."""
        if self.chance_varies:
            return f"chance per unit: {self.chance_rule}" if self.chance_rule else "chance per unit"
        if self.chance is not None:
            return f"chance {self.chance:.3g}"
        return f"no chance level ({self.chance_rule.removeprefix('none: ')})" if self.chance_rule else \
            "no chance level"

    @property
    def labels(self) -> str:
        """Protocol, aggregation, chance (and method) in one line, for a table header or beside a number."""
        parts = [self.protocol, self.aggregation, self.chance_text]
        return "; ".join(parts + ([f"method: {self.method_note or self.method}"] if self.method else []))


SIMULATION = MetricSpec(
    scorer="simulate",
    name="simulation_score",
    label="simulation score (Pearson r)",
    limits=(-1.0, 1.0),
    chance=0.0,
    description="Pearson r of simulated vs true activations pooled over a unit's held-out contexts.",
    chance_rule="0 (predictions unrelated to the true activations)",
)
SPECIFICITY = MetricSpec(
    scorer="rubric",
    name="mean_specificity",
    label="mean specificity rating (0-3)",
    limits=(0.0, 3.0),
    description="Mean 0-3 rating of how well the explanation fits a unit's activating held-out contexts.",
    chance_rule="none: a 0-3 rating; read it against mean_score_random",
)
BUILTIN = (SIMULATION, SPECIFICITY)
BUILTIN_STATUS = {"simulation_score": "simulation_status", "mean_specificity": "specificity_status"}


PROBABILITY_METRICS = ("accuracy", "balanced_accuracy", "auroc", "f1", "recall", "precision")
RECALL_PREFIX = "recall_level_"


def is_scorer_record(record: object) -> bool:
    """Records with the generic scorer shape (metrics + primary), as opposed to scorer inputs (foreign contexts,
    steered continuations) that share the store."""
    return hasattr(record, "metrics") and hasattr(record, "primary")


def _scorer(stage: str):
    """The registered scorer whose records a stage holds (None when the scorer package is not installed)."""
    try:
        from autointerp.scorers.catalog import SCORERS
    except ImportError:
        return None
    return next((SCORERS.get(n) for n in SCORERS.names() if SCORERS.get(n).stage == stage), None)


def _description(scorer: str) -> str:
    s = _scorer(scorer)
    return s.description if s is not None else ""


def _chance_rule(stage: str, metric: str) -> str:
    s = _scorer(stage)
    return s.chance_rule(metric) if s is not None else ""


def scorer_protocol(run: RunData, stage: str) -> str:
    """'ours', or the run's preset label when the preset covers the scorer of ``stage``."""
    label = run_protocol(run)
    s = _scorer(stage)
    try:
        from autointerp.scorers.protocols import PROTOCOLS, covers
    except ImportError:
        return str(label)
    if label.name == "ours" or label.name not in PROTOCOLS or s is None or not covers(label.name, s.name):
        return "ours"
    return str(label)


def _specs_of(scorer: str, records: Iterable, protocol: str = "ours") -> list[MetricSpec]:
    chances: dict[str, set[float]] = {}
    undefined: dict[str, bool] = {}
    methods: dict[str, set[str]] = {}
    primary = None
    for rec in records:
        primary = primary or getattr(rec, "primary", None)
        for m in rec.metrics:
            if not m.name.startswith(RECALL_PREFIX):
                chances.setdefault(m.name, set()).update([round(m.chance, 12)] if m.chance is not None else [])
                undefined[m.name] = undefined.get(m.name, False) or (m.chance is None and m.value is not None)
                methods.setdefault(m.name, set()).update([m.method] if getattr(m, "method", None) else [])
    order = sorted(chances, key=lambda n: n != primary)  # stable: the primary metric first
    about = _description(scorer)
    specs = []
    for name in order:
        bounded = any(name == p or name.endswith("_" + p) for p in PROBABILITY_METRICS)
        varies = len(chances[name]) > 1 or (len(chances[name]) == 1 and undefined[name])
        chance = next(iter(chances[name])) if len(chances[name]) == 1 and not varies else None
        specs.append(MetricSpec(scorer=scorer, name=f"{scorer}_{name}", label=f"{scorer} {name.replace('_', ' ')}",
                                limits=(0.0, 1.0) if bounded else None, chance=chance,
                                description=about if name == primary else "", protocol=protocol,
                                chance_rule=_chance_rule(scorer, name), chance_varies=varies,
                                method=", ".join(sorted(methods[name]))))  # fmt: skip
    return specs


def method_text(methods: Iterable[str]) -> str:
    """'json-list: integer lists ... (12 units)' per simulation method used, most units first."""
    counts: dict[str, int] = {}
    for m in methods:
        counts[m] = counts.get(m, 0) + 1
    try:
        from autointerp.scorers.simulation import method_label
    except ImportError:
        def method_label(name: str) -> str:
            return name or "method not recorded"
    return "; ".join(f"{method_label(m)} ({n} unit{'s' if n != 1 else ''})"
                     for m, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def builtin_specs(run: RunData) -> list[MetricSpec]:
    """The simulation and specificity specs of this run: protocol label and the simulation methods used."""
    used = [s.method for s in run.simulations.values() if s.ok]
    sim = {"protocol": scorer_protocol(run, "simulate"), "method": ", ".join(sorted({m or "unknown" for m in used})),
           "method_note": method_text(used)}
    return [SIMULATION.model_copy(update=sim), SPECIFICITY.model_copy(update={"protocol": scorer_protocol(run, "rubric")})]


def extra_metric_specs(run: RunData) -> list[MetricSpec]:
    """Specs of every scorer beyond the built-in two that left records in the run, in store order."""
    specs: list[MetricSpec] = []
    for stage, records in run.extra.items():
        scored = [r for r in records.values() if is_scorer_record(r)]
        if scored:
            specs += _specs_of(stage, scored, scorer_protocol(run, stage))
    return specs


def metric_specs(run: RunData) -> list[MetricSpec]:
    """Every metric of the run: simulation and specificity, then each further scorer's."""
    return [*builtin_specs(run), *extra_metric_specs(run)]


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
        values, statuses, chances = [], [], []
        wanted = spec.name[len(spec.scorer) + 1:]
        for key, failed_before in zip(out["unit"], upstream_failed):
            rec = records.get(key)
            m = next((m for m in rec.metrics if m.name == wanted), None) if rec is not None else None
            chances.append(m.chance if m is not None else None)
            if rec is None:
                values.append(None)
                statuses.append("failed" if failed_before else "missing")
            elif not getattr(rec, "ok", True):
                values.append(None)
                statuses.append("failed")
            else:
                value = _finite(m.value if m is not None else None)
                values.append(value)
                statuses.append("ok" if value is not None else "undefined")
        out[spec.name] = pd.Series(values, index=out.index, dtype="float64")
        out[spec.status_column] = statuses
        if spec.chance_varies:
            out[spec.chance_column] = pd.Series(chances, index=out.index, dtype="float64")
    return out


def level_hits(run: RunData) -> pd.DataFrame:
    """Recall per activation level of every scorer whose records carry ``recall_level_<L>`` metrics.

    Columns: scorer, kind, level, hits, total, recall (hits / total over the ok records of the kind), chance (the
    units' own chance levels - their judge's false-positive rate - weighted like the hits; None if any is missing).
    """
    rows = []
    for stage, records in run.extra.items():
        for rec in records.values():
            if not is_scorer_record(rec) or not getattr(rec, "ok", True):
                continue
            for m in rec.metrics:
                if m.name.startswith(RECALL_PREFIX) and m.value is not None and m.n > 0:
                    level = int(m.name[len(RECALL_PREFIX):])
                    chance = m.chance * m.n if m.chance is not None else float("nan")
                    rows.append({"scorer": stage, "kind": rec.unit.kind, "level": level,
                                 "hits": round(m.value * m.n), "total": int(m.n), "chance_mass": chance})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["scorer", "kind", "level", "hits", "total", "chance_mass"])
    if frame.empty:
        return frame.drop(columns="chance_mass").assign(recall=pd.Series(dtype="float64"),
                                                        chance=pd.Series(dtype="float64"))
    frame = frame.groupby(["scorer", "kind", "level"], as_index=False).agg(
        hits=("hits", "sum"), total=("total", "sum"), chance_mass=("chance_mass", lambda x: x.sum(min_count=len(x))))
    frame["recall"] = frame["hits"] / frame["total"].where(frame["total"] > 0)
    frame["chance"] = frame["chance_mass"] / frame["total"].where(frame["total"] > 0)
    return frame.drop(columns="chance_mass")
