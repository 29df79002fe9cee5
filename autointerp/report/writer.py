"""The two entry points: ``write_report`` (one run) and ``compare_runs`` (two runs).

``write_report`` writes into ``<run>/report/``:

* ``specificity.{csv,png,svg}``  score mix per activation level, features vs neurons
* ``comparison.csv``, ``comparison_tests.csv``, ``comparison.{png,svg}``  every scorer's metrics: medians + CIs,
  tests (Mann-Whitney U for disjoint units; Wilcoxon signed-rank when the groups share unit ids)
* ``recall_per_level.{csv,png,svg}``  when a classifier scorer (e.g. detection) gives hits per level
* ``units.{csv,parquet}``  per-unit table
* ``summary.json`` (+ ``summary.schema.json``)  every aggregate, typed (:class:`ReportSummary`)
* ``report.html``  self-contained report: headline, run, cost, per-scorer tables and figures, unit browser
* with ``per_unit``: ``per_unit/specificity.csv`` and one small PNG per unit
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from autointerp.report.comparison import GroupComparison, compare_groups, plot_comparison, stats_table, tests_table
from autointerp.report.contrast import rubric_contrast
from autointerp.report.cost import stage_costs
from autointerp.report.histograms import KIND_ORDER, level_infos, plot_level_recall, plot_specificity, specificity_table
from autointerp.report.html import render_compare_html, render_html
from autointerp.report.load import RunData, judgements_frame, load_run, units_frame
from autointerp.report.peer import peer_numbers
from autointerp.report.pooled import pooled_scores
from autointerp.report.reseeds import seed_spreads
from autointerp.report.sampling import between_runs_note, same_units, within_run_note
from autointerp.report.scores import MetricSpec, add_extra_scores, builtin_specs, extra_metric_specs, level_hits
from autointerp.report.stats import N_RESAMPLES
from autointerp.report.summary import (
    CompareSummary,
    HistogramRow,
    LevelRecall,
    ReportSummary,
    compare_schema,
    protocol_of,
    provenance_counts,
    report_schema,
    run_info,
)
from autointerp.report.tables import kind_counts, save_figure, write_per_unit


def _png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _kind_groups(units: pd.DataFrame, prefix: str = "") -> dict[str, pd.DataFrame]:
    kinds = sorted(set(units["kind"]), key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), k))
    return {f"{prefix}{k}": units[units["kind"] == k] for k in kinds}


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_") or "unit"


def _write_json(path: Path, data: dict | str) -> None:
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _write_per_unit(run: RunData, judgements: pd.DataFrame, levels, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    table = specificity_table(judgements, by="unit")
    kinds = {key: uid.kind for key, uid in run.unit_ids.items()}
    table.insert(1, "kind", table["unit"].map(kinds))
    paths = [out / "specificity.csv"]
    table.to_csv(paths[0], index=False)
    for key, sub in table.groupby("unit", sort=False):
        fig = plot_specificity(sub, levels, by="unit", title="", panel_size=(4.2, 3.0))
        paths += save_figure(fig, out / _safe_name(key), formats=("png",), dpi=110)
    return paths


def run_metrics(run: RunData) -> list[MetricSpec]:
    """The metrics to report: the built-in two when their stage has records (or when nothing else does), then
    every further scorer's."""
    extra = extra_metric_specs(run)
    has = {"rubric": bool(run.rubric), "simulate": bool(run.simulations)}
    builtin = [m for m in builtin_specs(run) if has[m.scorer]] or ([] if extra else builtin_specs(run))
    return [*builtin, *extra]


def scored_units(run: RunData, metrics: list[MetricSpec]) -> pd.DataFrame:
    """The units frame with a value and status column for every metric."""
    return add_extra_scores(units_frame(run), run, metrics)


def _scorer_figures(groups, comparison, metrics: list[MetricSpec], seed: int, title: str, note: str) -> dict:
    figures = {}
    for scorer in dict.fromkeys(m.scorer for m in metrics):
        mine = [m for m in metrics if m.scorer == scorer]
        names = {m.name for m in mine}
        sub = type(comparison)(metrics=tuple(mine), stats=tuple(s for s in comparison.stats if s.metric in names),
                               tests=tuple(t for t in comparison.tests if t.metric in names))  # fmt: skip
        fig = plot_comparison(groups, sub, seed=seed, title=f"{scorer}: {title}", sampling_note=note)
        figures[f"scorer:{scorer}"] = _png_bytes(fig)
    return figures


def write_report(
    run_dir: str | Path,
    *,
    per_unit: bool = False,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    out_dir: str | Path | None = None,
) -> ReportSummary:
    """Write the report of one run (default folder ``<run_dir>/report``) and return its summary."""
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    metrics = run_metrics(run)
    units = scored_units(run, metrics)
    judgements = judgements_frame(run)
    written: list[Path] = []

    levels = level_infos(judgements["level"], run.units.values())
    hist = specificity_table(judgements)
    hist.to_csv(out / "specificity.csv", index=False)
    groups = _kind_groups(units)
    hist_fig = plot_specificity(hist, levels, groups=list(groups), title=f"Specificity by activation level: {run.name}")
    written += [out / "specificity.csv", *save_figure(hist_fig, out / "specificity")]
    figures = {"specificity": _png_bytes(hist_fig)}

    recall = level_hits(run)
    if not recall.empty:
        recall_levels = level_infos(recall["level"], run.units.values())
        recall.to_csv(out / "recall_per_level.csv", index=False)
        recall_fig = plot_level_recall(recall, recall_levels, title=f"Recall per level: {run.name}")
        written += [out / "recall_per_level.csv", *save_figure(recall_fig, out / "recall_per_level")]
        figures["recall"] = _png_bytes(recall_fig)

    pairs = [("feature", "neuron")] if {"feature", "neuron"} <= groups.keys() else []
    comparison = compare_groups(groups, pairs, metrics=metrics, seed=seed, n_resamples=n_resamples)
    note = within_run_note(run, list(groups))
    tables = _write_tables(comparison, out, "comparison")
    comp_fig = plot_comparison(groups, comparison, seed=seed, title=f"Features vs neurons: {run.name}",
                               sampling_note=note)  # fmt: skip
    written += [*tables, *save_figure(comp_fig, out / "comparison")]
    figures |= _scorer_figures(groups, comparison, metrics, seed, "features vs neurons", note)

    columns = [c for m in metrics for c in (m.name, *([m.chance_column] if m.chance_varies else []))]
    written += write_per_unit(units, out, extra_columns=columns)
    if per_unit:
        written += _write_per_unit(run, judgements, levels, out / "per_unit")
    written += [out / "summary.json", out / "summary.schema.json", out / "report.html"]

    summary = ReportSummary(
        run=run_info(run),
        provenance=provenance_counts(run),
        counts=kind_counts(units, judgements),
        contrast=rubric_contrast(judgements, list(groups), seed=seed, n_resamples=n_resamples),
        costs=stage_costs(run),
        levels=tuple(levels),
        histogram=tuple(HistogramRow(**row) for row in hist.to_dict(orient="records")),
        level_recall=tuple(LevelRecall(**row) for row in recall.astype(object).where(recall.notna(), None)
                           .to_dict(orient="records")),
        seed_spread=seed_spreads(run),
        pooled=pooled_scores(run, protocol_of(run.meta, run.config).name),
        peer_headline=peer_numbers(run),
        **_comparison_fields(comparison, metrics, seed, n_resamples, note, written, out),
    )
    _write_json(out / "summary.json", summary.model_dump_json(indent=2) + "\n")
    _write_json(out / "summary.schema.json", report_schema())
    page = render_html(run, summary, units, judgements, figures, extra_sections=extra_report_sections(run, out))
    (out / "report.html").write_text(page, encoding="utf-8")
    return summary


def _write_tables(comparison: GroupComparison, out: Path, stem: str) -> list[Path]:
    """``<stem>.csv`` (medians with CIs) and ``<stem>_tests.csv`` (the group tests); their paths."""
    paths = [out / f"{stem}.csv", out / f"{stem}_tests.csv"]
    stats_table(comparison).to_csv(paths[0], index=False)
    tests_table(comparison).to_csv(paths[1], index=False)
    return paths


def _comparison_fields(
    comparison: GroupComparison, metrics: list[MetricSpec], seed: int, n_resamples: int, note: str, written: list[Path],
    out: Path,
) -> dict[str, Any]:
    """The fields a report summary and a compare summary share: how the groups were compared, and the files."""
    return {
        "bootstrap_seed": seed,
        "n_resamples": n_resamples,
        "scorers": tuple(metrics),
        "metrics": comparison.stats,
        "tests": comparison.tests,
        "sampling_note": note,
        "files": tuple(p.relative_to(out).as_posix() for p in written),
    }


def extra_report_sections(run: RunData, out: Path) -> str:
    """HTML of further report sections contributed by other modules: the context mix per kind."""
    from autointerp.report.mix import mix_section

    return mix_section(run, out)


def merge_specs(a: list[MetricSpec], b: list[MetricSpec]) -> list[MetricSpec]:
    """The metrics of either run; where the runs label a metric differently (protocol, method, chance), the merged
    spec says both ('A: ours; B: delphi protocol') and a chance level that differs between them varies."""
    by_b = {m.name: m for m in b}
    out = []
    for m in [*a, *(m for m in b if m.name not in {x.name for x in a})]:
        other = by_b.get(m.name)
        if other is None or other == m:
            out.append(m)
            continue
        update = {}
        for field in ("protocol", "method", "method_note"):
            x, y = getattr(m, field), getattr(other, field)
            if x != y:
                update[field] = f"A: {x or 'none'}; B: {y or 'none'}"
        if m.chance != other.chance or m.chance_varies or other.chance_varies:
            update |= {"chance": None if m.chance != other.chance else m.chance,
                       "chance_varies": m.chance != other.chance or m.chance_varies or other.chance_varies}
        out.append(m.model_copy(update=update))
    return out


def compare_runs(
    run_a: str | Path, run_b: str | Path, out_dir: str | Path, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> CompareSummary:
    """Compare two runs per unit kind (features of A vs features of B, neurons vs neurons); write into ``out_dir``."""
    data_a, data_b = load_run(run_a), load_run(run_b)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = merge_specs(run_metrics(data_a), run_metrics(data_b))
    groups_a = _kind_groups(scored_units(data_a, metrics), "A:")
    groups_b = _kind_groups(scored_units(data_b, metrics), "B:")
    kinds = [k for k in KIND_ORDER if f"A:{k}" in groups_a or f"B:{k}" in groups_b]
    both = {**groups_a, **groups_b}
    groups = {label: both[label] for k in kinds for label in (f"A:{k}", f"B:{k}") if label in both}
    pairs = [(f"A:{k}", f"B:{k}") for k in kinds if f"A:{k}" in groups and f"B:{k}" in groups]
    unpairable = [(f"A:{k}", f"B:{k}") for k in kinds if not same_units(data_a, data_b, k)]
    comparison = compare_groups(groups, pairs, metrics=metrics, seed=seed, n_resamples=n_resamples,
                                unpairable=unpairable)  # fmt: skip
    note = between_runs_note(data_a, data_b)
    tables = _write_tables(comparison, out, "compare")
    title = f"A = {data_a.name} vs B = {data_b.name}"
    fig = plot_comparison(groups, comparison, seed=seed, title=title, sampling_note=note)
    figures = _scorer_figures(groups, comparison, metrics, seed, title, note)
    written = [*tables, *save_figure(fig, out / "compare")]
    written += [out / "compare.json", out / "compare.schema.json", out / "compare.html"]
    summary = CompareSummary(
        run_a=run_info(data_a),
        run_b=run_info(data_b),
        **_comparison_fields(comparison, metrics, seed, n_resamples, note, written, out),
    )
    _write_json(out / "compare.json", summary.model_dump_json(indent=2) + "\n")
    _write_json(out / "compare.schema.json", compare_schema())
    (out / "compare.html").write_text(render_compare_html(summary, figures), encoding="utf-8")
    return summary
