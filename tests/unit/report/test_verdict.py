"""The verdict table: gates first, one row per scorer metric, a verdict in words that a failed gate overrides."""

from __future__ import annotations

import pytest

from autointerp.report.contrast import RubricContrast
from autointerp.report.scores import SIMULATION, SPECIFICITY, MetricSpec
from autointerp.report.stats import GroupStats, GroupTest
from autointerp.report.summary import ProvenanceCount, ReportSummary, RunInfo
from autointerp.report.verdict import MIN_UNITS, verdict_frame, verdict_line

EMBEDDING = MetricSpec(scorer="embedding", name="embedding_auroc", label="embedding auroc", chance=0.5)
COUNT = MetricSpec(scorer="detection", name="detection_n_negative", label="detection n negative")


def _stats(metric: str, group: str, median: float, n: int = 20) -> GroupStats:
    return GroupStats(metric=metric, group=group, n=n, median=median, ci_low=median - 0.1, ci_high=median + 0.1)


def _test(metric: str, diff: float, p: float, n: int = 20) -> GroupTest:
    return GroupTest(metric=metric, group_a="feature", group_b="neuron", test="mann-whitney-u", paired=False, n_a=n,
                     n_b=n, statistic=1.0, p_value=p, rank_biserial=0.5 if diff > 0 else -0.5, common_language=0.7,
                     median_difference=diff, diff_ci_low=diff - 0.2, diff_ci_high=diff + 0.2)  # fmt: skip


def _prov(stage: str, backend: str) -> ProvenanceCount:
    return ProvenanceCount(stage=stage, backend=backend, model="m", prompt_id="p", prompt_version="1", prompt_hash="h",
                           config_hash="c", seed=0, n_records=1)  # fmt: skip


def _summary(*, contrast_low: float = 0.3, mix: str = "sampling: same held-out mix per unit", n: int = 20,
             p: dict[str, float] | None = None, judge: str = "local:smollm2-135m") -> ReportSummary:  # fmt: skip
    p = p or {}
    specs = (SIMULATION, SPECIFICITY, EMBEDDING, COUNT)
    diffs = {"simulation_score": 0.2, "mean_specificity": -0.3, "embedding_auroc": 0.1, "detection_n_negative": 0.0}
    metrics, tests = [], []
    for spec in specs:
        metrics += [_stats(spec.name, "feature", 1.0 + diffs[spec.name], n), _stats(spec.name, "neuron", 1.0, n)]
        tests.append(_test(spec.name, diffs[spec.name], p.get(spec.name, 0.001), n))
    contrast = tuple(RubricContrast(kind=k, n_units=n, activating_mean=1.5, activating_ci=(1.2, 1.8), random_mean=1.0,
                                    random_ci=(0.8, 1.2), difference_mean=0.5, difference_ci=(contrast_low, 0.8))
                     for k in ("feature", "neuron"))  # fmt: skip
    provenance = (_prov("explain", judge), _prov("rubric", judge), _prov("simulate", judge),
                  _prov("embedding", "embedding:minilm-l6"))  # fmt: skip
    return ReportSummary(run=RunInfo(name="r", path="r"), bootstrap_seed=0, n_resamples=99, scorers=specs,
                         metrics=tuple(metrics), tests=tuple(tests), contrast=contrast, sampling_note=mix,
                         provenance=provenance)  # fmt: skip


def _verdicts(summary: ReportSummary) -> dict[str, tuple[str, str]]:
    frame = verdict_frame(summary)
    return {r.metric or r.label: (r.verdict, r.reason) for r in frame.itertuples()}


def test_gates_come_first_then_one_row_per_metric():
    frame = verdict_frame(_summary())
    assert list(frame["row"]) == ["gate", "gate", "metric", "metric", "metric", "metric"]
    assert list(frame["metric"][2:]) == ["simulation_score", "mean_specificity", "embedding_auroc",
                                         "detection_n_negative"]  # fmt: skip
    assert list(frame["verdict"][:2]) == ["passes", "passes"]
    row = frame.iloc[2]
    assert row["features"] == "1.20 [1.10, 1.30] n=20" and row["neurons"] == "1.00 [0.90, 1.10] n=20"
    assert row["difference"] == "+0.20 [+0.00, +0.40]" and row["test"] == "Mann-Whitney U (unpaired)"


def test_passed_gates_read_the_test_in_words():
    v = _verdicts(_summary(p={"embedding_auroc": 0.4}))
    assert v["simulation_score"][0] == "features higher"
    assert v["mean_specificity"][0] == "neurons higher"
    assert v["embedding_auroc"][0] == "no difference detected"


def test_context_counts_are_descriptions_never_tested():
    frame = verdict_frame(_summary())
    row = frame[frame["metric"] == "detection_n_negative"].iloc[0]
    assert row["verdict"] == "description" and row["test"] == "" and row["p"] == "" and row["difference"] == ""


def test_a_failed_judge_check_makes_its_metrics_inconclusive_never_significant():
    v = _verdicts(_summary(contrast_low=-0.1))
    assert v["judge rates activating above random (rubric contrast)"][0] == "fails"
    for metric in ("simulation_score", "mean_specificity"):  # judged by the rubric's backend
        verdict, reason = v[metric]
        assert verdict == "inconclusive" and "judge fails its sanity check" in reason
    assert v["embedding_auroc"][0] == "features higher"  # no LLM judge: the judge gate does not concern it
    line = verdict_line(verdict_frame(_summary(contrast_low=-0.1)))
    assert "significant" not in line and "inconclusive" in line


def test_a_different_context_mix_makes_every_metric_inconclusive():
    v = _verdicts(_summary(mix="sampling differs between groups: held-out contexts per unit (median) ..."))
    assert v["same context mix for features and neurons"][0] == "fails"
    for metric in ("simulation_score", "mean_specificity", "embedding_auroc"):
        assert v[metric] == ("inconclusive", "context mix differs between features and neurons")


@pytest.mark.parametrize("n", [3, MIN_UNITS - 1])
def test_too_few_units_is_inconclusive(n):
    verdict, reason = _verdicts(_summary(n=n))["simulation_score"]
    assert verdict == "inconclusive" and f"too few units (n={n} vs {n}" in reason


def test_report_opens_with_the_verdict_and_fills_the_difference_column(report_a):
    out, summary, _ = report_a
    page = (out / "report.html").read_text()
    body = page[page.index("<body>"):]
    assert body.index('<section id="verdict">') < body.index("<h2>") + 1  # the first section of the page
    assert body.index('id="verdict"') < body.index('id="headline"')
    test = summary.test("simulation_score")
    assert not test.paired and test.median_difference is not None
    assert test.diff_ci_low <= test.median_difference <= test.diff_ci_high
    f, n = summary.metric("simulation_score", "feature"), summary.metric("simulation_score", "neuron")
    assert test.median_difference == pytest.approx(f.median - n.median)
    assert "median a-b [95% CI]" in page and f"{test.median_difference:+.3f} [" in page


def test_failed_judgements_say_why(report_a):
    out, summary, _ = report_a
    page = (out / "report.html").read_text()
    if not any(c.n_judgements_failed for c in summary.counts):
        pytest.skip("the synthetic run has no failed judgement")
    assert "Why rubric judgements failed:" in page


def test_the_console_line_groups_metrics_with_the_same_verdict():
    line = verdict_line(verdict_frame(_summary(contrast_low=-0.1)))
    assert line.count("judge fails its sanity check") == 1  # simulation and specificity share one reason
    assert "simulation score (Pearson r), mean specificity rating (0-3): inconclusive (" in line
    assert "embedding auroc: features higher" in line and "n negative" not in line  # descriptions are left out
