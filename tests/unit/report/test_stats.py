import numpy as np
import pytest
from scipy import stats

from autointerp.report.stats import format_ci, group_stats, mann_whitney, median_ci, median_difference_ci


def test_median_ci_matches_scipy_bootstrap_with_same_seed():
    x = np.random.default_rng(11).normal(size=57)
    med, lo, hi = median_ci(x, seed=5, n_resamples=999)
    ref = stats.bootstrap((x,), np.median, n_resamples=999, method="percentile", rng=np.random.default_rng(5))
    assert med == pytest.approx(np.median(x))
    assert (lo, hi) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert lo <= med <= hi
    assert median_ci(x, seed=5, n_resamples=999) == (med, lo, hi)  # seeded: reproducible
    assert median_ci(x, seed=6, n_resamples=999) != (med, lo, hi)


def test_degenerate_groups():
    assert median_ci(np.array([])) is None
    assert median_ci(np.array([0.3])) == (0.3, 0.3, 0.3)
    assert median_ci(np.full(5, 2.0)) == (2.0, 2.0, 2.0)
    g = group_stats("m", "feature", np.array([]), n_failed=2, n_missing=1)
    assert (g.n, g.median, g.n_excluded) == (0, None, 3)
    assert format_ci(g) == "n/a (n=0)"


def test_group_stats_fields():
    x = np.arange(10.0)
    g = group_stats("m", "feature", x, n_undefined=1, seed=0, n_resamples=499)
    assert (g.n, g.median, g.mean, g.q1, g.q3, g.n_excluded) == (10, 4.5, 4.5, 2.25, 6.75, 1)
    assert format_ci(g).startswith("4.50 [") and format_ci(g).endswith("(n=10)")


def test_mann_whitney_matches_scipy_and_effect_sizes():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.5, 1, 30), rng.normal(0, 1, 25)
    t = mann_whitney("m", "a", a, "b", b)
    ref = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert (t.statistic, t.p_value) == pytest.approx((ref.statistic, ref.pvalue))
    brute = np.mean([(x > y) + 0.5 * (x == y) for x in a for y in b])
    assert t.common_language == pytest.approx(brute)
    assert t.rank_biserial == pytest.approx(2 * brute - 1)
    flipped = mann_whitney("m", "b", b, "a", a)
    assert flipped.rank_biserial == pytest.approx(-t.rank_biserial)
    assert flipped.p_value == pytest.approx(t.p_value)
    assert mann_whitney("m", "a", a, "b", np.array([])) is None


def test_mann_whitney_all_tied():
    t = mann_whitney("m", "a", np.ones(4), "b", np.ones(3))
    assert t.rank_biserial == 0 and t.p_value == 1.0


def test_wilcoxon_paired_matches_scipy_and_brute_force_effect_size():
    from autointerp.report.stats import wilcoxon_paired

    rng = np.random.default_rng(4)
    a = rng.normal(0.4, 0.2, 40)
    b = a - rng.normal(0.1, 0.15, 40)
    t = wilcoxon_paired("m", "A", a, "B", b, seed=2, n_resamples=999)
    ref = stats.wilcoxon(a, b)
    assert t.paired and t.test == "wilcoxon-signed-rank" and (t.n_a, t.n_b) == (40, 40)
    assert (t.statistic, t.p_value) == pytest.approx((ref.statistic, ref.pvalue))
    d = a - b
    ranks = stats.rankdata(np.abs(d))
    assert t.rank_biserial == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())
    assert t.common_language == pytest.approx(np.mean(d > 0))
    boot = stats.bootstrap((d,), np.median, n_resamples=999, method="percentile", rng=np.random.default_rng(2))
    assert (t.diff_ci_low, t.diff_ci_high) == pytest.approx((boot.confidence_interval.low, boot.confidence_interval.high))
    assert "paired" in t.label and "rank-biserial" in t.short
    flipped = wilcoxon_paired("m", "B", b, "A", a, seed=2, n_resamples=999)
    assert flipped.rank_biserial == pytest.approx(-t.rank_biserial) and flipped.p_value == pytest.approx(t.p_value)


def test_wilcoxon_paired_degenerate_cases():
    from autointerp.report.stats import wilcoxon_paired

    same = wilcoxon_paired("m", "A", np.ones(5), "B", np.ones(5))
    assert (same.p_value, same.rank_biserial, same.median_difference) == (1.0, 0.0, 0.0)
    assert wilcoxon_paired("m", "A", np.array([]), "B", np.array([])) is None
    with pytest.raises(ValueError, match="equal lengths"):
        wilcoxon_paired("m", "A", np.ones(3), "B", np.ones(2))


def test_mean_ci_matches_scipy_bootstrap():
    from autointerp.report.stats import mean_ci

    x = np.random.default_rng(8).normal(size=30)
    m, lo, hi = mean_ci(x, seed=1, n_resamples=999)
    ref = stats.bootstrap((x,), np.mean, n_resamples=999, method="percentile", rng=np.random.default_rng(1))
    assert m == pytest.approx(x.mean()) and (lo, hi) == pytest.approx(ref.confidence_interval)
    assert mean_ci(np.array([])) is None and mean_ci(np.array([2.0])) == (2.0, 2.0, 2.0)


def test_difference_ci_with_a_group_of_one_unit():
    """A kind with one scored unit (a budget-stopped run) against a varied group: the CI comes from resampling the
    other group alone (a single value resamples to itself), instead of scipy's refusal ending the report."""
    one, many = np.array([2.0]), np.array([0.0, 1.0, 1.0, 3.0, 0.5])
    point, low, high = median_difference_ci(one, many, seed=3, n_resamples=2000)
    assert point == 2.0 - 1.0
    rng = np.random.default_rng(0)
    draws = 2.0 - np.median(rng.choice(many, size=(20000, many.size)), axis=1)
    assert low <= point <= high and low >= draws.min() and high <= draws.max()
    assert (low, high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])), abs=0.51)
    flipped = median_difference_ci(many, one, seed=3, n_resamples=2000)
    assert flipped == pytest.approx((-point, -high, -low))
    test = mann_whitney("m", "features", one, "neurons", many, seed=3, n_resamples=2000)
    assert test is not None and test.n_a == 1 and test.n_b == 5


def test_difference_ci_of_two_varied_groups_is_unchanged():
    a, b = np.array([0.1, 0.4, 0.9, 0.3]), np.array([0.0, 0.2, 0.1])
    point, low, high = median_difference_ci(a, b, seed=0, n_resamples=2000)

    def diff(x, y, axis=-1):
        return np.median(x, axis=axis) - np.median(y, axis=axis)

    ref = stats.bootstrap((a, b), diff, n_resamples=2000, method="percentile", vectorized=True,
                          rng=np.random.default_rng(0))  # fmt: skip
    assert point == pytest.approx(0.35 - 0.1)
    assert (low, high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
