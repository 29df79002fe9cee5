"""Typed report summaries (``summary.json``, ``compare.json``) with exported JSON schemas, and the one-line summary."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from pydantic import Field

from autointerp import __version__
from autointerp.report.histograms import LevelInfo
from autointerp.report.load import RunData
from autointerp.report.stats import GroupStats, MannWhitney, format_ci
from autointerp.types import Frozen

SUMMARY_SCHEMA_VERSION = 1


class RunInfo(Frozen):
    """Where a run came from (from run.json and config.yaml)."""

    name: str = Field(description="Run folder name.")
    path: str = Field(description="Run folder path as given.")
    autointerp_version: str = Field(default="", description="Version that produced the run.")
    config_hash: str = Field(default="", description="Hash of the resolved run config.")
    created: str = Field(default="", description="When the run was created.")
    models: dict[str, str] = Field(default_factory=dict, description="Models used (subject, explainer, scorer...).")
    seed: int | None = Field(default=None, description="The run config's seed, if set.")


class ProvenanceCount(Frozen):
    """One distinct provenance (backend, model, prompt id/version/hash) of a stage's records, with its count."""

    stage: str
    backend: str
    model: str
    prompt_id: str
    prompt_version: str
    prompt_hash: str
    config_hash: str
    seed: int
    n_records: int


class KindCounts(Frozen):
    """Sample sizes and failures per unit kind."""

    kind: str = Field(description="'feature' or 'neuron'.")
    n_units: int = Field(description="Units seen in any stage.")
    n_sample_failed: int = Field(default=0, description="Units whose sampling failed.")
    n_explained: int = Field(default=0, description="Units with an ok explanation.")
    n_explain_failed: int = Field(default=0, description="Units whose latest explanation failed.")
    n_rubric_ok: int = Field(default=0, description="Units with an ok rubric record.")
    n_rubric_failed: int = Field(default=0, description="Units whose rubric stage failed, or could not run (upstream).")
    n_judgements: int = Field(default=0, description="Ok 0-3 judgements (used in the histogram).")
    n_judgements_failed: int = Field(default=0, description="Judgements without a score (excluded).")
    n_simulated: int = Field(default=0, description="Units with a defined simulation score.")
    n_simulation_failed: int = Field(default=0, description="Units whose simulation failed, or could not run (upstream).")
    n_simulation_undefined: int = Field(default=0, description="Ok simulations with an undefined score.")


class HistogramRow(Frozen):
    """One bar segment of the specificity histogram."""

    kind: str
    level: int
    score: int
    count: int
    fraction: float = Field(description="count / n_in_level; sums to 1 over the 4 scores of a (kind, level).")
    n_in_level: int


class ReportSummary(Frozen):
    """Every aggregate of one run's report, with sample sizes and confidence intervals."""

    schema_version: int = SUMMARY_SCHEMA_VERSION
    report_version: str = Field(default=__version__, description="autointerp version that wrote the report.")
    run: RunInfo
    provenance: tuple[ProvenanceCount, ...] = ()
    bootstrap_seed: int = Field(description="Seed of the bootstrap resampling.")
    n_resamples: int = Field(description="Bootstrap resamples per CI.")
    counts: tuple[KindCounts, ...] = ()
    metrics: tuple[GroupStats, ...] = Field(default=(), description="Per metric and kind: median, CI, n, exclusions.")
    tests: tuple[MannWhitney, ...] = Field(default=(), description="Per metric: features vs neurons.")
    levels: tuple[LevelInfo, ...] = Field(default=(), description="Activation levels of the histogram's x axis.")
    histogram: tuple[HistogramRow, ...] = ()
    files: tuple[str, ...] = Field(default=(), description="Files written, relative to the report folder.")

    def metric(self, name: str, group: str) -> GroupStats | None:
        return next((m for m in self.metrics if m.metric == name and m.group == group), None)

    def test(self, name: str) -> MannWhitney | None:
        return next((t for t in self.tests if t.metric == name), None)


class CompareSummary(Frozen):
    """The same statistics between two runs: per kind, A vs B."""

    schema_version: int = SUMMARY_SCHEMA_VERSION
    report_version: str = __version__
    run_a: RunInfo
    run_b: RunInfo
    bootstrap_seed: int
    n_resamples: int
    metrics: tuple[GroupStats, ...] = Field(default=(), description="Groups are 'A:feature', 'B:feature', ...")
    tests: tuple[MannWhitney, ...] = Field(default=(), description="Per metric and kind: A vs B.")
    files: tuple[str, ...] = ()


def report_schema() -> dict[str, Any]:
    """JSON schema of summary.json."""
    return ReportSummary.model_json_schema()


def compare_schema() -> dict[str, Any]:
    """JSON schema of compare.json."""
    return CompareSummary.model_json_schema()


def _models(meta: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
    """Subject model, SAE and per-stage backends, from run.json (else config.yaml)."""
    models = meta.get("models")
    if isinstance(models, dict):
        return {str(k): str(v) for k, v in models.items()}
    out = {}
    for key, name in (("model", "subject model"), ("sae", "sae")):
        value = meta.get(key, config.get(key))
        if value is not None:
            out[name] = str(value)
    backends = meta.get("backends", config.get("backends"))
    if isinstance(backends, dict):
        out.update({f"{stage} backend": str(spec) for stage, spec in backends.items()})
    return out


def _created(value: object) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=timezone.utc).isoformat(timespec="seconds")
    return "" if value is None else str(value)


def run_info(run: RunData) -> RunInfo:
    meta, config = run.meta, run.config
    seed = config.get("seed", meta.get("seed"))
    return RunInfo(
        name=run.name,
        path=str(run.run_dir),
        autointerp_version=str(meta.get("autointerp_version", meta.get("version", ""))),
        config_hash=str(meta.get("config_hash", "")),
        created=_created(meta.get("created")),
        models=_models(meta, config),
        seed=seed if isinstance(seed, int) else None,
    )


def provenance_counts(run: RunData) -> tuple[ProvenanceCount, ...]:
    counter: Counter[tuple] = Counter()
    for stage, records in (("explain", run.explanations), ("rubric", run.rubric), ("simulate", run.simulations)):
        for rec in records.values():
            p = rec.provenance
            key = (stage, p.backend, p.model, p.prompt_id, p.prompt_version, p.prompt_hash, p.config_hash, p.seed)
            counter[key] += 1
    fields = [f for f in ProvenanceCount.model_fields if f != "n_records"]
    return tuple(ProvenanceCount(**dict(zip(fields, key)), n_records=n) for key, n in sorted(counter.items()))


def summary_line(summary: ReportSummary) -> str:
    """One line for the end of a pipeline run, e.g.
    ``run1: feature sim 0.41 [0.35, 0.47] (n=120) spec 2.10 [...] | neuron ... | sim p=0.003 r=+0.31``."""
    parts = []
    for counts in summary.counts:
        sim = summary.metric("simulation_score", counts.kind)
        spec = summary.metric("mean_specificity", counts.kind)
        parts.append(
            f"{counts.kind}s ({counts.n_units} units): simulation {format_ci(sim) if sim else 'n/a'}, "
            f"specificity {format_ci(spec) if spec else 'n/a'}"
        )
    for test in summary.tests:
        short = "simulation" if test.metric == "simulation_score" else "specificity"
        parts.append(f"{short} {test.group_a} vs {test.group_b}: p={test.p_value:.2g}, r={test.rank_biserial:+.2f}")
    return f"{summary.run.name}: " + ("; ".join(parts) if parts else "no units")


def compare_line(summary: CompareSummary) -> str:
    """One line per comparison: 'A=run1 vs B=run2: simulation feature: 0.41 [..] vs 0.30 [..], p=.., r=..; ...'."""
    parts = []
    for test in summary.tests:
        a = next(m for m in summary.metrics if m.metric == test.metric and m.group == test.group_a)
        b = next(m for m in summary.metrics if m.metric == test.metric and m.group == test.group_b)
        kind = test.group_a.split(":", 1)[-1]
        parts.append(
            f"{test.metric} {kind}: {format_ci(a)} vs {format_ci(b)}, p={test.p_value:.2g}, r={test.rank_biserial:+.2f}"
        )
    head = f"A={summary.run_a.name} vs B={summary.run_b.name}: "
    return head + ("; ".join(parts) if parts else "no unit kind with scores in both runs")
