"""Typed report summaries (``summary.json``, ``compare.json``) with exported JSON schemas, and the one-line summary."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from autointerp import __version__
from autointerp.report.contrast import RubricContrast
from autointerp.report.cost import StageCost, cost_line
from autointerp.report.histograms import LevelInfo
from autointerp.report.load import RunData, protocol_of
from autointerp.report.peer import PeerNumber
from autointerp.report.pooled import PooledScore
from autointerp.report.reseeds import SeedSpread
from autointerp.report.scores import MetricSpec
from autointerp.report.stats import GroupStats, GroupTest, format_ci
from autointerp.secrets import redact_text
from autointerp.types import Frozen, ProtocolLabel

SUMMARY_SCHEMA_VERSION = 2


class RunInfo(Frozen):
    """Where a run came from (from run.json and config.yaml)."""

    name: str = Field(description="Run folder name.")
    path: str = Field(description="Run folder path as given.")
    autointerp_version: str = Field(default="", description="Version that produced the run.")
    config_hash: str = Field(default="", description="Hash of the resolved run config.")
    created: str = Field(default="", description="When the run was created.")
    models: dict[str, str] = Field(default_factory=dict, description="Models used (subject, explainer, scorer...).")
    seed: int | None = Field(default=None, description="The run config's seed, if set.")
    protocol: ProtocolLabel = Field(
        default_factory=ProtocolLabel, description="Protocol preset the run follows and the preset fields it changed."
    )


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


class LevelRecall(Frozen):
    """Recall of a classifier scorer (e.g. detection) on the activating contexts of one level, per kind."""

    scorer: str
    kind: str
    level: int
    hits: int
    total: int
    recall: float | None
    chance: float | None = Field(default=None, description="The units' own chance levels (their judge's false-positive "
                                 "rate on non-activating items), weighted like the hits; None if a unit has none.")


class ReportSummary(Frozen):
    """Every aggregate of one run's report, with sample sizes and confidence intervals."""

    schema_version: int = SUMMARY_SCHEMA_VERSION
    report_version: str = Field(default=__version__, description="autointerp version that wrote the report.")
    run: RunInfo
    provenance: tuple[ProvenanceCount, ...] = ()
    bootstrap_seed: int = Field(description="Seed of the bootstrap resampling.")
    n_resamples: int = Field(description="Bootstrap resamples per CI.")
    counts: tuple[KindCounts, ...] = ()
    scorers: tuple[MetricSpec, ...] = Field(default=(), description="Every per-unit metric of every scorer run.")
    metrics: tuple[GroupStats, ...] = Field(default=(), description="Per metric and kind: median, CI, n, exclusions.")
    tests: tuple[GroupTest, ...] = Field(default=(), description="Per metric: features vs neurons.")
    contrast: tuple[RubricContrast, ...] = Field(default=(), description="Rubric: activating vs random, per kind.")
    sampling_note: str = Field(default="", description="Whether features and neurons were sampled alike.")
    costs: tuple[StageCost, ...] = Field(default=(), description="Tokens and dollars per stage (every attempt).")
    levels: tuple[LevelInfo, ...] = Field(default=(), description="Activation levels of the histogram's x axis.")
    histogram: tuple[HistogramRow, ...] = ()
    level_recall: tuple[LevelRecall, ...] = Field(default=(), description="Classifier scorers: recall per level.")
    pooled: tuple[PooledScore, ...] = Field(
        default=(), description="Classifier scorers pooled over units per kind (delphi's aggregation).")
    seed_spread: tuple[SeedSpread, ...] = Field(default=(), description="With reseeds: each scorer's spread.")
    peer_headline: tuple[PeerNumber, ...] = Field(
        default=(), description="Under a protocol preset: the peer's headline number per scorer and kind, in the "
        "peer's aggregation (delphi: pooled over items; SAEBench: mean over units), shown first."
    )
    files: tuple[str, ...] = Field(default=(), description="Files written, relative to the report folder.")

    def metric(self, name: str, group: str) -> GroupStats | None:
        return next((m for m in self.metrics if m.metric == name and m.group == group), None)

    def test(self, name: str) -> GroupTest | None:
        return next((t for t in self.tests if t.metric == name), None)

    @property
    def total_cost(self) -> float:
        return sum(c.cost_usd for c in self.costs)


class CompareSummary(Frozen):
    """The same statistics between two runs: per kind, A vs B."""

    schema_version: int = SUMMARY_SCHEMA_VERSION
    report_version: str = __version__
    run_a: RunInfo
    run_b: RunInfo
    bootstrap_seed: int
    n_resamples: int
    scorers: tuple[MetricSpec, ...] = Field(default=(), description="Metrics compared (present in either run).")
    metrics: tuple[GroupStats, ...] = Field(default=(), description="Groups are 'A:feature', 'B:feature', ...")
    tests: tuple[GroupTest, ...] = Field(
        default=(), description="Per metric and kind: A vs B; paired (Wilcoxon) when the runs share unit ids."
    )
    sampling_note: str = Field(default="", description="Whether A and B were sampled and judged alike.")
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
        out.update({f"{stage} backend": redact_text(str(spec)) for stage, spec in backends.items()})
    return out


def _created(value: object) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds")
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
        protocol=protocol_of(meta, config),
    )


def provenance_counts(run: RunData) -> tuple[ProvenanceCount, ...]:
    counter: Counter[tuple] = Counter()
    stages = {"explain": run.explanations, "rubric": run.rubric, "simulate": run.simulations, **run.extra}
    for stage, records in stages.items():
        for rec in records.values():
            p = getattr(rec, "provenance", None)
            if p is None:
                continue
            backend = redact_text(p.backend)
            key = (stage, backend, p.model, p.prompt_id, p.prompt_version, p.prompt_hash, p.config_hash, p.seed)
            counter[key] += 1
    fields = [f for f in ProvenanceCount.model_fields if f != "n_records"]
    return tuple(ProvenanceCount(**dict(zip(fields, key)), n_records=n) for key, n in sorted(counter.items()))


def _metric_short(summary: ReportSummary | CompareSummary, name: str) -> str:
    spec = next((m for m in summary.scorers if m.name == name), None)
    return {"simulation_score": "simulation", "mean_specificity": "specificity"}.get(name, spec.name if spec else name)


def judgement_line(summary: ReportSummary) -> str:
    """'rubric judgements: features 136/170 ok (34 failed), neurons 170/170 ok (0 failed)' (every kind listed)."""
    parts = []
    for c in summary.counts:
        total = c.n_judgements + c.n_judgements_failed
        parts.append(f"{c.kind}s {c.n_judgements}/{total} ok ({c.n_judgements_failed} failed)")
    return "rubric judgements: " + ", ".join(parts) if parts else "rubric judgements: none"


def summary_line(summary: ReportSummary) -> str:
    """One line for the end of a pipeline run: per kind the main scores with CIs and the failed judgements,
    each test (named, paired or not, rank-biserial effect size), and the cost."""
    parts = []
    sim_spec = next((m for m in summary.scorers if m.name == "simulation_score"), None)
    method = f" [{sim_spec.method}]" if sim_spec is not None and sim_spec.method else ""
    for counts in summary.counts:
        sim = summary.metric("simulation_score", counts.kind)
        spec = summary.metric("mean_specificity", counts.kind)
        total = counts.n_judgements + counts.n_judgements_failed
        parts.append(
            f"{counts.kind}s ({counts.n_units} units): simulation{method} {format_ci(sim) if sim else 'n/a'}, "
            f"specificity {format_ci(spec) if spec else 'n/a'}, "
            f"judgements {counts.n_judgements}/{total} ok ({counts.n_judgements_failed} failed)"
        )
    primary = {next(m.name for m in summary.scorers if m.scorer == s) for s in {m.scorer for m in summary.scorers}}
    for test in summary.tests:  # one test per scorer, on its headline metric (the report has all of them)
        if test.metric in primary or not summary.scorers:
            parts.append(f"{_metric_short(summary, test.metric)} {test.group_a} vs {test.group_b}: {test.short}")
    body = "; ".join(parts) if parts else "no units"
    if parts:  # what the simulation and specificity numbers above are
        short = {"simulate": "simulation", "rubric": "specificity"}
        protocols = {short[m.scorer]: m.protocol for m in summary.scorers if m.scorer in short}
        same = len(set(protocols.values())) == 1
        labels = next(iter(protocols.values())) if same else ", ".join(f"{k}: {v}" for k, v in protocols.items())
        body += f"; medians over units [95% CI], {labels or summary.run.protocol}"
    peer = "".join(f"{summary.run.protocol}: {p.line}; " for p in summary.peer_headline)  # the peer's number first
    return f"{summary.run.name}: {peer}{body}; {cost_line(summary.costs)}"


def compare_line(summary: CompareSummary) -> str:
    """One line per comparison: 'A=run1 vs B=run2: simulation feature: 0.41 [..] vs 0.30 [..], p=.., r=..; ...'."""
    parts = []
    for test in summary.tests:
        a = next(m for m in summary.metrics if m.metric == test.metric and m.group == test.group_a)
        b = next(m for m in summary.metrics if m.metric == test.metric and m.group == test.group_b)
        kind = test.group_a.split(":", 1)[-1]
        pairs = f", {test.n_a} paired units" if test.paired else ""
        parts.append(f"{test.metric} {kind}: {format_ci(a)} vs {format_ci(b)}, {test.short}{pairs}")
    head = f"A={summary.run_a.name} vs B={summary.run_b.name}: "
    return head + ("; ".join(parts) if parts else "no unit kind with scores in both runs")
