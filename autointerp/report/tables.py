"""Flat exports: per-unit table (CSV + parquet), counts per unit kind, figure files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from autointerp.report.summary import KindCounts

PER_UNIT_COLUMNS = [
    "unit", "kind", "basis", "index", "explanation", "simulation_score", "simulation_method", "mean_specificity",
    "mean_score_random", "n_judgements", "n_judgements_failed", "firing_frequency", "max_activation", "flags", "ok",
    "errors",
]  # fmt: skip


def write_per_unit(
    units: pd.DataFrame, out_dir: Path, stem: str = "units", extra_columns: list[str] | None = None
) -> list[Path]:
    """Write the per-unit table as ``<stem>.csv`` and ``<stem>.parquet`` (plus every further scorer's metric)."""
    extra = [c for c in (extra_columns or []) if c not in PER_UNIT_COLUMNS and c in units.columns]
    table = units[PER_UNIT_COLUMNS + extra]
    paths = [out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"]
    table.to_csv(paths[0], index=False)
    table.to_parquet(paths[1], index=False)
    return paths


def kind_counts(units: pd.DataFrame, judgements: pd.DataFrame) -> tuple[KindCounts, ...]:
    """Sample sizes and failures per kind (features first)."""
    out = []
    for kind in sorted(set(units["kind"]), key=lambda k: (k != "feature", k)):
        u = units[units["kind"] == kind]
        j = judgements[judgements["kind"] == kind]
        out.append(
            KindCounts(
                kind=kind,
                n_units=len(u),
                n_sample_failed=int((u["sample_status"] == "failed").sum()),
                n_explained=int((u["explanation_status"] == "ok").sum()),
                n_explain_failed=int((u["explanation_status"] == "failed").sum()),
                n_rubric_ok=int((u["rubric_status"] == "ok").sum()),
                n_rubric_failed=int((u["rubric_status"] == "failed").sum()),
                n_judgements=int(j["ok"].sum()),
                n_judgements_failed=int((~j["ok"]).sum()),
                n_simulated=int((u["simulation_status"] == "ok").sum()),
                n_simulation_failed=int((u["simulation_status"] == "failed").sum()),
                n_simulation_undefined=int((u["simulation_status"] == "undefined").sum()),
            )
        )
    return tuple(out)


def save_figure(fig: Figure, stem: Path, formats: tuple[str, ...] = ("png", "svg"), dpi: int = 200) -> list[Path]:
    """Save a figure in each format next to ``stem`` (no pyplot state involved)."""
    paths = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"  # not with_suffix: unit names contain dots
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    return paths
