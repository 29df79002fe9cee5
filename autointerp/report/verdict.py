"""The report's verdict: per scorer metric, do features or neurons score higher, and may the test be read at all?

One row per scorer metric: features and neurons (median [95% CI], n), the difference of medians with its CI, the
test and its p-value, and a verdict in words. Before any p-value is read, gates decide whether it can be:

* **judge sanity** (the rubric's activating-vs-random contrast, :mod:`autointerp.report.contrast`): a judge that does
  not rate a unit's activating contexts clearly above random text (the CI of the difference reaches 0, for either
  kind) cannot tell explanations apart, so every metric judged by that backend is *inconclusive*;
* **context mix** (:func:`autointerp.report.sampling.within_run_note`): when features and neurons were not scored on
  the same mix of held-out contexts, no metric compares like with like;
* **enough units**: fewer than :data:`MIN_UNITS` scored units in a group.

Only with every gate passed does a p-value below :data:`ALPHA` read *features higher* / *neurons higher*; otherwise
*no difference detected*. Context counts (``*_n_positive``, ``*_n_negative``: how many contexts a scorer drew) are
descriptions of the sample, listed with their medians but never tested as outcomes. The verdict never says
"significant": it says what the test found and whether the gates let it be read.

A leaf of the report package: it reads a :class:`~autointerp.report.summary.ReportSummary` and nothing renders it
here (``html`` imports this module, never the reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from autointerp.report.contrast import RubricContrast
from autointerp.report.scores import MetricSpec
from autointerp.report.stats import GroupStats, GroupTest
from autointerp.report.summary import ProvenanceCount, ReportSummary

ALPHA = 0.05
MIN_UNITS = 10  # per group: below this a rank test has too little power to read "no difference" from it
GROUPS = ("feature", "neuron")
RUBRIC_STAGE = "rubric"

FEATURES_HIGHER = "features higher"
NEURONS_HIGHER = "neurons higher"
NO_DIFFERENCE = "no difference detected"
INCONCLUSIVE = "inconclusive"
DESCRIPTION = "description"
PASSES, FAILS, NOT_CHECKED = "passes", "fails", "not checked"

COLUMNS = ("row", "scorer", "metric", "label", "protocol", "chance", "features", "neurons", "difference", "test", "p",
           "verdict", "reason")


@dataclass(frozen=True)
class Gate:
    """One check that decides whether the tests can be read."""

    name: str
    status: str  # PASSES, FAILS or NOT_CHECKED
    features: str
    neurons: str
    reason: str  # the inconclusive reason when it fails; what was checked otherwise


def is_description(spec: MetricSpec) -> bool:
    """Context counts (``n_positive``, ``n_negative``, ...): how many contexts a scorer drew, not an outcome."""
    bare = spec.name[len(spec.scorer) + 1:] if spec.name.startswith(spec.scorer + "_") else spec.name
    return bare.startswith("n_")


def _ci(g: GroupStats | None, digits: int = 2) -> str:
    if g is None or g.median is None:
        return f"n/a (n={g.n if g else 0})"
    return f"{g.median:.{digits}f} [{g.ci_low:.{digits}f}, {g.ci_high:.{digits}f}] n={g.n}"


def _chance(spec: MetricSpec, a: GroupStats | None, b: GroupStats | None) -> str:
    """'0.5', 'features 0.62, neurons 0.55 (mean of units' own)' or 'none' (a rating or a count)."""
    if spec.chance_varies:
        per = [f"{k}s {g.chance:.2f}" for k, g in zip(GROUPS, (a, b)) if g is not None and g.chance is not None]
        return ", ".join(per) + " (mean of units' own)" if per else "per unit"
    return f"{spec.chance:.2g}" if spec.chance is not None else "none"


def _diff(t: GroupTest | None, digits: int = 2) -> str:
    if t is None or t.median_difference is None:
        return ""
    return f"{t.median_difference:+.{digits}f} [{t.diff_ci_low:+.{digits}f}, {t.diff_ci_high:+.{digits}f}]"


def _contrast_text(c: RubricContrast | None) -> str:
    if c is None or c.difference_mean is None or c.difference_ci is None:
        return "not rated on both sides"
    lo, hi = c.difference_ci
    return f"activating - random {c.difference_mean:+.2f} [{lo:+.2f}, {hi:+.2f}] n={c.n_units}"


def judge_gate(summary: ReportSummary) -> Gate:
    """The rubric judge's activating-vs-random contrast, per kind: it passes when the lower CI bound of the difference
    is above 0 for every kind that was rated."""
    by_kind = {c.kind: c for c in summary.contrast}
    rated = [c for c in by_kind.values() if c.difference_ci is not None]
    texts = {k: _contrast_text(by_kind.get(k)) for k in GROUPS}
    if not rated:
        return Gate("judge rates activating above random (rubric contrast)", NOT_CHECKED, texts["feature"],
                    texts["neuron"], "no specificity rubric with random contexts ran")  # fmt: skip
    flat = [c.kind for c in rated if c.difference_ci[0] <= 0]  # type: ignore[index]
    status = FAILS if flat else PASSES
    reason = (f"judge fails its sanity check: it rates random text about as high as activating text "
              f"({' and '.join(k + 's' for k in flat)})" if flat else "the judge tells activating from random text")
    return Gate("judge rates activating above random (rubric contrast)", status, texts["feature"], texts["neuron"],
                reason)  # fmt: skip


def mix_gate(summary: ReportSummary) -> Gate:
    """Whether features and neurons were scored on the same held-out context mix (the sampling note)."""
    note = summary.sampling_note
    if not note:
        return Gate("same context mix for features and neurons", NOT_CHECKED, "", "", "one kind only")
    differs = note.startswith("sampling differs")
    detail = note.split(": ", 1)[-1]
    return Gate("same context mix for features and neurons", FAILS if differs else PASSES, detail, detail,
                "context mix differs between features and neurons" if differs else "same held-out mix per unit")


def _judge_stages(provenance: Sequence[ProvenanceCount]) -> set[str]:
    """Stages whose LLM is the rubric's backend: a failed judge check makes their scores inconclusive too."""
    rubric = {p.backend for p in provenance if p.stage == RUBRIC_STAGE}
    return {p.stage for p in provenance if p.backend in rubric and p.stage != "explain"}


def _verdict(spec: MetricSpec, a: GroupStats | None, b: GroupStats | None, test: GroupTest | None,
             blocking: list[str]) -> tuple[str, str]:  # fmt: skip
    if is_description(spec):
        return DESCRIPTION, "a count of the contexts the scorer drew, not an outcome: not tested"
    if test is None or a is None or b is None or not a.n or not b.n:
        return INCONCLUSIVE, "a group has no scored unit"
    reasons = list(blocking)
    if min(a.n, b.n) < MIN_UNITS:
        reasons.append(f"too few units (n={a.n} vs {b.n}, fewer than {MIN_UNITS} in a group)")
    if reasons:
        return INCONCLUSIVE, "; ".join(reasons)
    if test.p_value >= ALPHA:
        return NO_DIFFERENCE, f"p = {test.p_value:.2g} >= {ALPHA}"
    higher = test.median_difference if test.median_difference else test.rank_biserial
    return (FEATURES_HIGHER if higher > 0 else NEURONS_HIGHER), f"p = {test.p_value:.2g} < {ALPHA}"


def verdict_frame(summary: ReportSummary) -> pd.DataFrame:
    """One row per gate, then one per scorer metric (features vs neurons). Columns: ``COLUMNS``; ``row`` is 'gate' or
    'metric'; ``verdict`` is one of features higher / neurons higher / no difference detected / inconclusive /
    description (gates: passes / fails / not checked)."""
    judge, mix = judge_gate(summary), mix_gate(summary)
    judged = _judge_stages(summary.provenance)
    rows = [
        {"row": "gate", "scorer": "", "metric": "", "label": g.name, "protocol": "", "chance": "",
         "features": g.features, "neurons": g.neurons,
         "difference": "", "test": "", "p": "", "verdict": g.status, "reason": g.reason}
        for g in (judge, mix)
    ]  # fmt: skip
    for spec in summary.scorers:
        a, b = summary.metric(spec.name, "feature"), summary.metric(spec.name, "neuron")
        if a is None and b is None:
            continue
        test = summary.test(spec.name)
        blocking = []
        if judge.status == FAILS and spec.scorer in judged:
            blocking.append(judge.reason)
        if mix.status == FAILS:
            blocking.append(mix.reason)
        verdict, reason = _verdict(spec, a, b, test, blocking)
        shown_test = test is not None and verdict != DESCRIPTION
        rows.append({
            "row": "metric", "scorer": spec.scorer, "metric": spec.name, "label": spec.label,
            "protocol": spec.protocol, "chance": _chance(spec, a, b),
            "features": _ci(a), "neurons": _ci(b), "difference": _diff(test) if shown_test else "",
            "test": test.label if shown_test else "", "p": f"{test.p_value:.2g}" if shown_test else "",
            "verdict": verdict, "reason": reason,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def verdict_line(frame: pd.DataFrame) -> str:
    """One line for the console, metrics with the same verdict and reason together:
    'verdict: simulation score, mean specificity: inconclusive (judge fails ...); embedding auroc: ...'."""
    metrics = frame[(frame["row"] == "metric") & (frame["verdict"] != DESCRIPTION)]
    groups: dict[tuple[str, str], list[str]] = {}
    for r in metrics.itertuples():
        groups.setdefault((r.verdict, r.reason if r.verdict == INCONCLUSIVE else ""), []).append(r.label)
    parts = [f"{', '.join(labels)}: {verdict}" + (f" ({reason})" if reason else "")
             for (verdict, reason), labels in groups.items()]  # fmt: skip
    return "verdict: " + ("; ".join(parts) if parts else "no metric scored for both features and neurons")


__all__ = ["ALPHA", "MIN_UNITS", "Gate", "is_description", "judge_gate", "mix_gate", "verdict_frame", "verdict_line"]
