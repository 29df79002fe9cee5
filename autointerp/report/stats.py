"""Group statistics: medians with seeded bootstrap CIs; Mann-Whitney U (unpaired) and Wilcoxon signed-rank (paired).

Every random choice comes from ``numpy.random.default_rng(seed)``, so the same
data and seed give the same confidence interval.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import stats

from autointerp.types import Frozen

CONFIDENCE = 0.95
N_RESAMPLES = 4999


class GroupStats(Frozen):
    """Distribution of one per-unit metric over one group of units (e.g. the features of a run)."""

    metric: str = Field(description="Metric name, e.g. 'simulation_score' or 'mean_specificity'.")
    group: str = Field(description="Group label, e.g. 'feature', 'neuron', or 'A:feature' in a comparison.")
    n: int = Field(description="Units with a defined value (used in every statistic below).")
    n_failed: int = Field(default=0, description="Units whose stage (or an earlier one) failed: excluded.")
    n_undefined: int = Field(default=0, description="Units whose stage succeeded but gave no value: excluded.")
    n_missing: int = Field(default=0, description="Units with no record for the stage: excluded.")
    median: float | None = Field(default=None, description="Median of the defined values.")
    ci_low: float | None = Field(default=None, description="Lower bound of the bootstrap CI of the median.")
    ci_high: float | None = Field(default=None, description="Upper bound of the bootstrap CI of the median.")
    confidence_level: float = Field(default=CONFIDENCE, description="Confidence level of the CI.")
    mean: float | None = Field(default=None, description="Mean of the defined values.")
    q1: float | None = Field(default=None, description="25th percentile.")
    q3: float | None = Field(default=None, description="75th percentile.")
    chance: float | None = Field(default=None, description="Chance level of these units: the metric's, or where it "
                                 "varies by unit the mean of the units' own (None: the metric has none).")

    @property
    def n_excluded(self) -> int:
        return self.n_failed + self.n_undefined + self.n_missing


TestName = Literal["mann-whitney-u", "wilcoxon-signed-rank"]


class GroupTest(Frozen):
    """A two-sided test of group a vs group b on one metric: paired (same units in both) or unpaired.

    Unpaired (disjoint units, e.g. features vs neurons): Mann-Whitney U, effect size the rank-biserial
    correlation 2U/(n_a n_b) - 1. Paired (the same unit ids in both groups, e.g. two explainers on one SAE):
    Wilcoxon signed-rank on the per-unit differences a - b, effect size the matched-pairs rank-biserial
    correlation (R+ - R-)/(R+ + R-), plus a paired bootstrap CI of the median difference.
    """

    metric: str
    group_a: str
    group_b: str
    test: TestName = Field(description="Which test: 'mann-whitney-u' (unpaired) or 'wilcoxon-signed-rank' (paired).")
    paired: bool = Field(description="True when the groups hold the same units, compared unit by unit.")
    n_a: int = Field(description="Values of group a used in the test (paired: the shared units).")
    n_b: int = Field(description="Values of group b used in the test (paired: the shared units).")
    n_unpaired_excluded: int = Field(default=0, description="Paired only: units scored in only one group, left out.")
    statistic: float = Field(description="U of group a (Mann-Whitney) or the Wilcoxon W statistic (scipy's).")
    p_value: float = Field(description="Two-sided p-value.")
    rank_biserial: float = Field(description="Rank-biserial effect size in [-1, 1]; > 0: a larger.")
    common_language: float = Field(
        description="Unpaired: P(a random unit of a > one of b); paired: P(a unit scores higher in a than in b); "
        "ties counted half."
    )
    median_difference: float | None = Field(
        default=None,
        description="Paired: median of the per-unit a - b. Unpaired: median of a minus median of b.",
    )
    diff_ci_low: float | None = Field(
        default=None,
        description="Lower bound of the 95% bootstrap CI of median_difference (paired: pairs resampled; unpaired: "
        "each group resampled on its own).",
    )
    diff_ci_high: float | None = Field(default=None, description="Upper bound of that CI.")

    @property
    def label(self) -> str:
        """Short name for figures and lines: 'Mann-Whitney U (unpaired)' / 'Wilcoxon signed-rank (paired)'."""
        return "Wilcoxon signed-rank (paired)" if self.paired else "Mann-Whitney U (unpaired)"

    @property
    def short(self) -> str:
        """'Wilcoxon p=0.03, rank-biserial r=+0.41' for figure annotations."""
        name = "Wilcoxon (paired)" if self.paired else "Mann-Whitney (unpaired)"
        return f"{name} p={self.p_value:.2g}, rank-biserial={self.rank_biserial:+.2f}"


MannWhitney = GroupTest  # the unpaired case; the old name stays importable


def _bootstrap_ci(
    values: np.ndarray, statistic, seed: int, confidence: float, n_resamples: int, *, batched: bool
) -> tuple[float, float, float] | None:
    """``statistic`` of the values and its percentile-bootstrap CI (scipy.stats.bootstrap, seeded); None for no values.

    ``batched`` draws the resamples in memory-bounded batches (the median's default; the mean keeps one batch)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None
    point = float(statistic(x))
    if x.size < 2 or np.ptp(x) == 0:
        return point, point, point  # every resample has the same statistic
    batch = max(1, min(n_resamples, 2_000_000 // x.size)) if batched else None
    res = stats.bootstrap((x,), statistic, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                          rng=np.random.default_rng(seed), batch=batch)  # fmt: skip
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def median_ci(
    values: np.ndarray, seed: int = 0, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES
) -> tuple[float, float, float] | None:
    """Median and percentile-bootstrap CI (scipy.stats.bootstrap, seeded). None for no values."""
    return _bootstrap_ci(values, np.median, seed, confidence, n_resamples, batched=True)


def group_stats(
    metric: str,
    group: str,
    values: np.ndarray,
    *,
    n_failed: int = 0,
    n_undefined: int = 0,
    n_missing: int = 0,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
) -> GroupStats:
    x = np.asarray(values, dtype=float)
    counts = {"n_failed": n_failed, "n_undefined": n_undefined, "n_missing": n_missing}
    ci = median_ci(x, seed=seed, confidence=confidence, n_resamples=n_resamples)
    if ci is None:
        return GroupStats(metric=metric, group=group, n=0, confidence_level=confidence, **counts)
    q1, q3 = np.percentile(x, [25, 75])
    return GroupStats(
        metric=metric,
        group=group,
        n=int(x.size),
        median=ci[0],
        ci_low=ci[1],
        ci_high=ci[2],
        confidence_level=confidence,
        mean=float(x.mean()),
        q1=float(q1),
        q3=float(q3),
        **counts,
    )


def group_stats_from_frame(
    frame: pd.DataFrame, metric: str, status_column: str, group: str, *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> GroupStats:
    """GroupStats of ``frame[metric]`` over rows whose status is 'ok'; other statuses are counted as exclusions."""
    status = frame[status_column]
    return group_stats(
        metric,
        group,
        frame.loc[status == "ok", metric].to_numpy(dtype=float),
        n_failed=int((status == "failed").sum()),
        n_undefined=int((status == "undefined").sum()),
        n_missing=int((status == "missing").sum()),
        seed=seed,
        n_resamples=n_resamples,
    )


def _group_test(metric: str, group_a: str, a: np.ndarray, group_b: str, b: np.ndarray, **result: Any) -> GroupTest:
    """A GroupTest of groups ``a`` and ``b`` (their names and sizes), with the test's own ``result`` fields."""
    return GroupTest(metric=metric, group_a=group_a, group_b=group_b, n_a=int(a.size), n_b=int(b.size), **result)


def median_difference_ci(
    a: np.ndarray, b: np.ndarray, seed: int = 0, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES
) -> tuple[float, float, float]:
    """median(a) - median(b) of two independent groups and its percentile-bootstrap CI (each group resampled on
    its own, seeded)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    point = float(np.median(a) - np.median(b))
    if (a.size < 2 or np.ptp(a) == 0) and (b.size < 2 or np.ptp(b) == 0):
        return point, point, point  # every resample has the same statistic

    def diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(x, axis=axis) - np.median(y, axis=axis)

    # a group of one value (or of equal values) resamples to itself: bootstrap the other group alone
    # (scipy refuses a sample of one observation)
    if a.size < 2 or np.ptp(a) == 0:
        data, statistic = (b,), lambda y, axis=-1: float(np.median(a)) - np.median(y, axis=axis)
    elif b.size < 2 or np.ptp(b) == 0:
        data, statistic = (a,), lambda x, axis=-1: np.median(x, axis=axis) - float(np.median(b))
    else:
        data, statistic = (a, b), diff
    batch = max(1, min(n_resamples, 2_000_000 // (a.size + b.size)))
    res = stats.bootstrap(data, statistic, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                          paired=False, vectorized=True, rng=np.random.default_rng(seed), batch=batch)  # fmt: skip
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def mann_whitney(
    metric: str,
    group_a: str,
    a: np.ndarray,
    group_b: str,
    b: np.ndarray,
    *,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> GroupTest | None:
    """Two-sided Mann-Whitney U (unpaired) with effect sizes and the seeded bootstrap CI of the difference of
    medians; None when either group is empty."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.mannwhitneyu(a, b, alternative="two-sided")
    cles = float(res.statistic) / (a.size * b.size)
    p_value = float(res.pvalue) if np.isfinite(res.pvalue) else 1.0  # all values tied: no evidence of a difference
    diff = median_difference_ci(a, b, seed=seed, n_resamples=n_resamples)
    return _group_test(
        metric,
        group_a,
        a,
        group_b,
        b,
        test="mann-whitney-u",
        paired=False,
        statistic=float(res.statistic),
        p_value=p_value,
        rank_biserial=2 * cles - 1,
        common_language=cles,
        median_difference=diff[0],
        diff_ci_low=diff[1],
        diff_ci_high=diff[2],
    )


def wilcoxon_paired(
    metric: str,
    group_a: str,
    a: np.ndarray,
    group_b: str,
    b: np.ndarray,
    *,
    n_unpaired_excluded: int = 0,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> GroupTest | None:
    """Two-sided Wilcoxon signed-rank test of paired values (``a[i]``, ``b[i]`` of one unit), the matched-pairs
    rank-biserial correlation, and a seeded paired-bootstrap CI of the median difference. None for no pairs."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.size} and {b.size}")
    if a.size == 0:
        return None
    d = a - b
    nonzero = d[d != 0]
    if nonzero.size == 0:  # every pair tied: no evidence of a difference
        statistic, p_value, r = 0.0, 1.0, 0.0
    else:
        ranks = stats.rankdata(np.abs(nonzero))
        r_plus, r_minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
        r = (r_plus - r_minus) / (r_plus + r_minus)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (RuntimeWarning, UserWarning))
            res = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
        statistic = float(res.statistic)
        p_value = float(res.pvalue) if np.isfinite(res.pvalue) else 1.0
    ci = median_ci(d, seed=seed, n_resamples=n_resamples)  # resampling pairs = resampling their differences
    assert ci is not None
    return _group_test(
        metric,
        group_a,
        a,
        group_b,
        b,
        test="wilcoxon-signed-rank",
        paired=True,
        n_unpaired_excluded=n_unpaired_excluded,
        statistic=statistic,
        p_value=p_value,
        rank_biserial=r,
        common_language=float(np.mean((d > 0) + 0.5 * (d == 0))),
        median_difference=ci[0],
        diff_ci_low=ci[1],
        diff_ci_high=ci[2],
    )


def mean_ci(
    values: np.ndarray, seed: int = 0, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES
) -> tuple[float, float, float] | None:
    """Mean and percentile-bootstrap CI (seeded). None for no values."""
    return _bootstrap_ci(values, np.mean, seed, confidence, n_resamples, batched=False)


def format_ci(g: GroupStats, digits: int = 2) -> str:
    """'0.41 [0.35, 0.47] (n=120)' or 'n/a (n=0)'."""
    if g.median is None:
        return f"n/a (n={g.n})"
    return f"{g.median:.{digits}f} [{g.ci_low:.{digits}f}, {g.ci_high:.{digits}f}] (n={g.n})"
