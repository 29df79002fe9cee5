"""Classifier scores pooled over units, as delphi aggregates them (its ``log/result_analysis.py``): one confusion
matrix and one ROC over every judged excerpt of every unit of a kind, beside the per-unit medians.

Pooling weighs units by how many excerpts they were judged on and is not the mean of per-unit scores (a unit with
few positives moves it little); failed answers are left out and counted. Each row names the protocol its records
followed.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import Field

from autointerp.report.load import RunData
from autointerp.scorers.metrics import delphi_metrics
from autointerp.scorers.protocols import covers
from autointerp.scorers.records import Metric, ScoreItem
from autointerp.types import Frozen

POOLED_STAGES = ("detection", "fuzzing")


class PooledScore(Frozen):
    """One scorer's items of one kind of unit, pooled."""

    scorer: str
    kind: str = Field(description="'feature' or 'neuron'.")
    protocol: str = Field(description="Protocol the records followed (ours, delphi, ...).")
    aggregation: str = Field(default="pooled over units", description="How units are combined.")
    n_units: int = Field(description="Units whose items are pooled.")
    metrics: tuple[Metric, ...] = Field(description="balanced_accuracy (delphi's 'accuracy'), f1, auroc, counts.")

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)


def pooled_scores(run: RunData, protocol: str) -> tuple[PooledScore, ...]:
    """A row per classifier scorer and kind with at least one judged item (``protocol``: the run's preset)."""
    out = []
    for stage in POOLED_STAGES:
        items: dict[str, list[ScoreItem]] = defaultdict(list)
        units: dict[str, int] = defaultdict(int)
        for rec in run.extra.get(stage, {}).values():
            its = [i for i in getattr(rec, "items", ()) if isinstance(i, ScoreItem)]
            if its:
                items[rec.unit.kind] += its
                units[rec.unit.kind] += 1
        out += [PooledScore(scorer=stage, kind=kind, protocol=protocol if covers(protocol, stage) else "ours", n_units=units[kind],
                            metrics=delphi_metrics(its)) for kind, its in sorted(items.items())]
    return tuple(out)


def pooled_line(rows: tuple[PooledScore, ...], protocol: str, label: str | None = None) -> str:
    """'delphi protocol, pooled over units: detection features balanced accuracy 0.731 (chance 0.5), ...'
    (``label``: the run's full protocol label, e.g. 'delphi protocol, modified: window 64')."""
    parts = []
    for r in rows:
        if r.protocol != protocol:
            continue
        shown = []
        for name, title in (("balanced_accuracy", "balanced accuracy"), ("f1", "F1"), ("auroc", "AUROC")):
            m = r.metric(name)
            if m is not None and m.value is not None:
                chance = f" (chance {m.chance:.2f})" if m.chance is not None else ""
                shown.append(f"{title} {m.value:.3f}{chance}")
        n = r.metric("n_positive"), r.metric("n_negative"), r.metric("n_failed")
        counts = f"{n[0].value:.0f} activating + {n[1].value:.0f} non-activating excerpts of {r.n_units} units" \
            + (f", {n[2].value:.0f} unanswered" if n[2].value else "")
        parts.append(f"{r.scorer} {r.kind}s {', '.join(shown) or 'no answered excerpts'} ({counts})")
    return f"{label or protocol + ' protocol'}, pooled over units: " + "; ".join(parts) + "." if parts else ""
