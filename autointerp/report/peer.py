"""The peer's headline number, in the peer's aggregation, for a run under a protocol preset.

Our tables give the median over units with a bootstrap CI. A peer aggregates its own way, and a number only
stands beside the peer's published one in that way: delphi pools every item of every unit into one confusion
matrix (and one ROC), SAEBench takes the mean over latents (with its standard deviation, ddof 1). Under
``protocol: <preset>`` the report shows these first, per unit kind, each with its chance level computed the
same way (recomputed on the pooled items, or the mean of the units' own chance levels).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from autointerp.report.load import RunData, run_protocol
from autointerp.scorers import metrics
from autointerp.scorers.catalog import SCORERS
from autointerp.scorers.protocols import PROTOCOLS
from autointerp.scorers.records import Metric
from autointerp.types import Frozen, Simulation

Aggregation = Literal["pooled", "mean", "median"]

POOLED_BY_DELPHI = ("balanced_accuracy", "f1", "auroc")  # recomputed on every unit's items by delphi's analysis


class PeerNumber(Frozen):
    """One scorer's headline metric over one kind's units, aggregated as the run's protocol preset does."""

    protocol: str = Field(description="The run's protocol label, e.g. 'delphi protocol, modified: window 64'.")
    scorer: str = Field(description="Store stage of the scorer, e.g. 'detection'.")
    metric: str = Field(description="The scorer's headline metric, e.g. 'balanced_accuracy' (delphi's 'accuracy').")
    kind: str = Field(description="'feature' or 'neuron'.")
    aggregation: Aggregation
    value: float | None = None
    chance: float | None = Field(default=None, description="Chance level aggregated the same way.")
    chance_corrected: float | None = Field(default=None, description="(value - chance) / (1 - chance); mean: the "
                                           "mean of the units' own corrected values.")
    sd: float | None = Field(default=None, description="Mean only: standard deviation over units (ddof 1).")
    n_units: int = 0
    n_items: int = Field(default=0, description="Pooled only: items (or tokens) pooled over the units.")
    method: str = Field(default="", description="How the values were estimated, where a scorer has several ways "
                        "(simulation: only 'logprobs-all-at-once' is OpenAI's estimator).")
    note: str | None = None

    @property
    def how(self) -> str:
        """'pooled over 1,230 items of 40 units' / 'mean over 40 units (sd 0.12)' / 'median over 40 units'."""
        units = f"{self.n_units} unit{'s' if self.n_units != 1 else ''}"
        if self.aggregation == "pooled":
            return f"pooled over {self.n_items:,} items of {units}"
        if self.aggregation == "mean":
            return f"mean over {units}" + (f" (sd {self.sd:.3f})" if self.sd is not None else "")
        return f"median over {units}"

    @property
    def line(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.3f}"
        chance = f"chance {self.chance:.3f}" if self.chance is not None else "no chance level"
        method = f"; method {self.method}" if self.method else ""
        return f"{self.scorer} {self.metric}, {self.kind}s: {value} ({self.how}; {chance}{method})"


def _records(run: RunData, stage: str) -> dict:
    return {"simulate": run.simulations, "rubric": run.rubric}.get(stage, run.extra.get(stage, {}))


def _pooled(base: dict, scorer, recs: list, primary: str) -> PeerNumber:
    if all(isinstance(r, Simulation) for r in recs):  # simulation: one r over every token of every unit
        true = [a for r in recs for c in r.contexts for a in c.true]
        pred = [a for r in recs for c in r.contexts for a in c.predicted]
        r, note = metrics.pearson(true, pred)
        return PeerNumber(**base, value=r, chance=0.0, chance_corrected=r, n_items=len(true), note=note)
    items = [i for r in recs for i in getattr(r, "items", ())]
    if primary in POOLED_BY_DELPHI:  # one confusion matrix (one ROC) over every item: metrics.delphi_metrics
        m = next(m for m in metrics.delphi_metrics(items) if m.name == primary)
    else:  # a plain accuracy (intruder, saebench): right answers over every unit's counted items, i.e. the
        # per-unit values weighted by their n (each scorer's own counting rule kept); the chance likewise
        per_unit = [m for m in (metrics_of(scorer, r) for r in recs) if m is not None and m.value is not None]
        n = sum(m.n for m in per_unit)
        value = sum(m.value * m.n for m in per_unit) / n if n else None
        chance = (sum(m.chance * m.n for m in per_unit) / n
                  if n and all(m.chance is not None for m in per_unit) else None)  # fmt: skip
        m = Metric(name=primary, value=value, chance=chance, n=n)
    return PeerNumber(**base, value=m.value, chance=m.chance, chance_corrected=m.chance_corrected, n_items=m.n,
                      note=m.note)


def _per_unit(base: dict, scorer, recs: list, aggregation: Aggregation) -> PeerNumber:
    prim = [metrics_of(scorer, r) for r in recs]
    values = [m.value if m else None for m in prim]
    chances = [m.chance if m else None for m in prim]
    if aggregation == "mean":
        mean = metrics.mean_over_units(values, chances)
        defined = [v for v in values if v is not None and np.isfinite(v)]
        sd = float(np.std(defined, ddof=1)) if len(defined) > 1 else None
        return PeerNumber(**base, value=mean.value, chance=mean.chance, chance_corrected=mean.chance_corrected,
                          sd=sd, n_units=mean.n)
    kept = [(v, c) for v, c in zip(values, chances) if v is not None and np.isfinite(v)]
    chance_levels = [c for _, c in kept]
    return PeerNumber(**base, value=float(np.median([v for v, _ in kept])) if kept else None,
                      chance=float(np.median(chance_levels)) if kept and None not in chance_levels else None,
                      n_units=len(kept))  # fmt: skip


def metrics_of(scorer, record) -> Metric | None:
    """The headline metric of one record, through the scorer's generic summary."""
    s = scorer.summarise(record)
    return next((m for m in s.metrics if m.name == s.primary), None)


def peer_numbers(run: RunData) -> tuple[PeerNumber, ...]:
    """The preset's headline numbers, per scorer it covers and unit kind (features first); none under ours."""
    label = run_protocol(run)
    if label.name not in PROTOCOLS or label.name == "ours":
        return ()
    preset = PROTOCOLS.get(label.name)
    out = []
    for name in preset.scorers:
        if name not in SCORERS:
            continue
        scorer = SCORERS.get(name)
        ok = [r for r in _records(run, scorer.stage).values() if getattr(r, "ok", False)]
        for kind in sorted({r.unit.kind for r in ok}, key=lambda k: (k != "feature", k)):
            recs = [r for r in ok if r.unit.kind == kind]
            primary = scorer.summarise(recs[0]).primary
            methods = sorted({m.method for m in (metrics_of(scorer, r) for r in recs) if m is not None and m.method})
            base = {"protocol": str(label), "scorer": scorer.stage, "metric": primary, "kind": kind,
                    "method": ", ".join(methods),
                    "aggregation": preset.aggregation}
            if preset.aggregation == "pooled":
                out.append(_pooled(base, scorer, recs, primary).model_copy(update={"n_units": len(recs)}))
            else:
                out.append(_per_unit(base, scorer, recs, preset.aggregation))
    return tuple(out)
