"""Group statistics: medians with seeded bootstrap CIs, and the Mann-Whitney U test.

Every random choice comes from ``numpy.random.default_rng(seed)``, so the same
data and seed give the same confidence interval.
"""

from __future__ import annotations

import warnings

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

    @property
    def n_excluded(self) -> int:
        return self.n_failed + self.n_undefined + self.n_missing


class MannWhitney(Frozen):
    """Two-sided Mann-Whitney U test of group a vs group b on one metric."""

    metric: str
    group_a: str
    group_b: str
    n_a: int
    n_b: int
    u: float = Field(description="U statistic of group a (scipy.stats.mannwhitneyu(a, b).statistic).")
    p_value: float = Field(description="Two-sided p-value.")
    rank_biserial: float = Field(description="Rank-biserial correlation 2*U/(n_a*n_b) - 1, in [-1, 1]; > 0: a larger.")
    common_language: float = Field(description="P(a random unit of a > one of b), ties counted half: U/(n_a*n_b).")


def median_ci(
    values: np.ndarray, seed: int = 0, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES
) -> tuple[float, float, float] | None:
    """Median and percentile-bootstrap CI (scipy.stats.bootstrap, seeded). None for no values."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None
    med = float(np.median(x))
    if x.size < 2 or np.ptp(x) == 0:
        return med, med, med  # every resample has the same median
    res = stats.bootstrap(
        (x,),
        np.median,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
        batch=max(1, min(n_resamples, 2_000_000 // x.size)),
    )
    return med, float(res.confidence_interval.low), float(res.confidence_interval.high)


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


def mann_whitney(metric: str, group_a: str, a: np.ndarray, group_b: str, b: np.ndarray) -> MannWhitney | None:
    """Two-sided Mann-Whitney U with effect sizes; None when either group is empty."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.mannwhitneyu(a, b, alternative="two-sided")
    cles = float(res.statistic) / (a.size * b.size)
    p_value = float(res.pvalue) if np.isfinite(res.pvalue) else 1.0  # all values tied: no evidence of a difference
    return MannWhitney(
        metric=metric,
        group_a=group_a,
        group_b=group_b,
        n_a=int(a.size),
        n_b=int(b.size),
        u=float(res.statistic),
        p_value=p_value,
        rank_biserial=2 * cles - 1,
        common_language=cles,
    )


def format_ci(g: GroupStats, digits: int = 2) -> str:
    """'0.41 [0.35, 0.47] (n=120)' or 'n/a (n=0)'."""
    if g.median is None:
        return f"n/a (n={g.n})"
    return f"{g.median:.{digits}f} [{g.ci_low:.{digits}f}, {g.ci_high:.{digits}f}] (n={g.n})"
