"""A finished (or partly finished) run folder as pandas frames: what ``autointerp.evaluate`` and ``autointerp.load``
return, for runs made from Python and by the CLI alike.

* ``scores`` - one row per unit x scorer metric: kind, unit id, value, chance, n, protocol, ok, failure reason;
* ``units`` - the report's per-unit table; ``explanations`` - one row per unit;
* ``summary()`` - the report's verdict table; ``stats()`` - per metric and kind of unit, the median with its
  bootstrap CI, n, exclusions, chance and protocol;
* ``report()`` - writes the HTML report and returns its path; ``to_parquet(dir)``; ``summary_metrics()`` -
  a flat ``{name: number}`` for experiment trackers; ``log_to_wandb()`` (``pip install autointerp[wandb]``).

The folder is read when the object is built (``autointerp.load`` again after a further run shows its new state).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from autointerp.errors import ConfigError
from autointerp.report.load import RunData, load_run
from autointerp.report.summary import ReportSummary, protocol_of
from autointerp.report.verdict import verdict_frame
from autointerp.report.writer import run_metrics, scored_units, write_report
from autointerp.scorers.catalog import SCORERS
from autointerp.scorers.protocols import PROTOCOLS

SCORE_COLUMNS = ["unit", "kind", "basis", "index", "scorer", "metric", "primary", "value", "chance", "n",
                 "protocol", "protocol_exact", "method", "ok", "failure"]  # fmt: skip
EXPLANATION_COLUMNS = ["unit", "kind", "basis", "index", "explanation", "ok", "error"]


def _stage_scorers() -> dict[str, str]:
    """Store stage -> scorer name ('rubric' -> 'specificity', 'simulate' -> 'simulation', ...)."""
    return {SCORERS.get(name).stage: name for name in SCORERS.names()}


def _value(x: float | None) -> float:
    return float("nan") if x is None or not math.isfinite(float(x)) else float(x)


def scores_frame(run: RunData) -> pd.DataFrame:
    """One row per unit x metric of every scorer that ran; a unit a scorer has no value for is one row with its
    failure reason (its own error, an earlier stage's, or 'not run yet')."""
    label = protocol_of(run.meta, run.config)
    preset = PROTOCOLS.get(label.name) if label.name in PROTOCOLS else None
    records = {"rubric": run.rubric, "simulate": run.simulations, **run.extra}
    by_stage = _stage_scorers()
    wanted = [SCORERS.get(n).stage for n in run.config.get("scorers", []) if n in SCORERS]
    units = scored_units(run, run_metrics(run)).set_index("unit")
    rows: list[dict[str, Any]] = []
    for stage in dict.fromkeys([*wanted, *(s for s in records if s in by_stage)]):
        scorer = by_stage[stage]
        covered = preset is not None and scorer in preset.scorers
        protocol = {"protocol": label.name if covered else "ours", "protocol_exact": label.exact if covered else True}
        recs = records.get(stage, {})
        for key, uid in run.unit_ids.items():
            base = {"unit": key, "kind": uid.kind, "basis": uid.basis, "index": uid.index, "scorer": scorer,
                    **protocol}  # fmt: skip
            rec = recs.get(key)
            if rec is None:
                upstream = units.at[key, "errors"] if key in units.index else ""
                rows.append(base | {"metric": None, "primary": False, "value": float("nan"), "chance": float("nan"),
                                    "n": 0, "method": "", "ok": False, "failure": upstream or "not run yet"})  # fmt: skip
                continue
            summary = SCORERS.get(scorer).summarise(rec)
            if not summary.metrics:
                rows.append(base | {"metric": summary.primary, "primary": True, "value": float("nan"),
                                    "chance": float("nan"), "n": 0, "method": "", "ok": False,
                                    "failure": summary.error or "no value"})  # fmt: skip
            for m in summary.metrics:
                failure = None if summary.ok and m.value is not None else (summary.error or m.note or "undefined")
                rows.append(base | {"metric": m.name, "primary": m.name == summary.primary, "value": _value(m.value),
                                    "chance": _value(m.chance), "n": m.n, "method": m.method or "",
                                    "ok": failure is None, "failure": failure})  # fmt: skip
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    return frame.astype({"index": "int64", "value": "float64", "chance": "float64", "n": "int64", "ok": "bool",
                         "primary": "bool", "protocol_exact": "bool"})  # fmt: skip


def explanations_frame(run: RunData) -> pd.DataFrame:
    rows = []
    for key, uid in run.unit_ids.items():
        e = run.explanations.get(key)
        rows.append({"unit": key, "kind": uid.kind, "basis": uid.basis, "index": uid.index,
                     "explanation": e.text if e is not None and e.ok else None,
                     "ok": bool(e is not None and e.ok),
                     "error": (e.error if e is not None else run.unit_errors.get(key, "not explained yet"))})  # fmt: skip
    return pd.DataFrame(rows, columns=EXPLANATION_COLUMNS)


class Results:
    """The results of one run folder (see the module doc); build it with ``autointerp.load(run_dir)``."""

    def __init__(self, run_dir: str | Path, *, seed: int | None = None):
        self.run_dir = Path(run_dir)
        self._run = load_run(self.run_dir)  # one-line InputError when the folder holds no records
        cfg_seed = self._run.config.get("seed", 0)
        self.seed = seed if seed is not None else (cfg_seed if isinstance(cfg_seed, int) else 0)

    def __repr__(self) -> str:
        n = len(self._run.unit_ids)
        return f"Results({str(self.run_dir)!r}: {n} units, scorers {', '.join(self.scorers) or 'none'})"

    @property
    def scorers(self) -> list[str]:
        return list(dict.fromkeys(self.scores["scorer"]))

    @property
    def scores(self) -> pd.DataFrame:
        """One row per unit x scorer metric (``primary`` marks each scorer's headline metric)."""
        return scores_frame(self._run)

    @property
    def units(self) -> pd.DataFrame:
        """The report's per-unit table: explanation, every scorer's headline value and status, firing stats."""
        return scored_units(self._run, run_metrics(self._run))

    @property
    def explanations(self) -> pd.DataFrame:
        return explanations_frame(self._run)

    def report_summary(self) -> ReportSummary:
        """The typed summary of the report (``report/summary.json``), written first when missing."""
        path = self.run_dir / "report" / "summary.json"
        if path.is_file():
            return ReportSummary.model_validate_json(path.read_text(encoding="utf-8"))
        return write_report(self.run_dir, seed=self.seed)

    def summary(self) -> pd.DataFrame:
        """The report's verdict table: its gates (judge sanity, context mix), then per scorer metric features vs
        neurons (median [CI], n), the difference, the test, p and the verdict in words, with protocol and chance."""
        return verdict_frame(self.report_summary())

    def stats(self) -> pd.DataFrame:
        """Per metric and kind of unit: n, failed/undefined/missing, median with its bootstrap CI, mean, quartiles,
        chance and protocol (the report's comparison table)."""
        s = self.report_summary()
        chance = {m.name: m.chance for m in s.scorers}
        scorer = {m.name: m.scorer for m in s.scorers}
        frame = pd.DataFrame([g.model_dump() for g in s.metrics])
        if frame.empty:
            return frame
        frame.insert(0, "scorer", frame["metric"].map(scorer))
        frame["chance"] = frame["metric"].map(chance).astype("float64")
        frame["protocol"] = str(s.run.protocol)
        return frame

    def report(self) -> Path:
        """Write the HTML report (and its tables and figures) into ``<run>/report/``; returns the HTML's path."""
        write_report(self.run_dir, seed=self.seed)
        return self.run_dir / "report" / "report.html"

    def to_parquet(self, folder: str | Path) -> Path:
        """``scores.parquet``, ``units.parquet`` and ``explanations.parquet`` in ``folder``; returns it."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in (("scores", self.scores), ("units", self.units), ("explanations", self.explanations)):
            frame.to_parquet(out / f"{name}.parquet", index=False)
        return out

    def summary_metrics(self) -> dict[str, float]:
        """``{'autointerp/<kind>/<metric>/median': x, ...}`` (also ``ci_low``, ``ci_high``, ``mean``, ``n``) for a
        tracker; undefined values are left out."""
        out: dict[str, float] = {}
        for row in self.stats().to_dict(orient="records"):
            for stat in ("median", "ci_low", "ci_high", "mean", "n"):
                value = row.get(stat)
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    out[f"autointerp/{row['group']}/{row['metric']}/{stat}"] = float(value)
        return out

    def log_to_wandb(self, run: Any = None, *, step: int | None = None) -> dict[str, float]:
        """Log :meth:`summary_metrics` and the scores table to a Weights & Biases run (default: the active one)."""
        try:
            import wandb
        except ImportError:
            raise ConfigError("log_to_wandb needs wandb: pip install 'autointerp[wandb]'") from None
        run = run if run is not None else wandb.run
        if run is None:
            raise ConfigError("log_to_wandb: no active wandb run; call wandb.init() first or pass run=")
        metrics = self.summary_metrics()
        run.log({**metrics, "autointerp/scores": wandb.Table(dataframe=self.scores)}, step=step)
        return metrics
