"""Compare per-unit score distributions between groups of units, for every metric of every scorer.

Within a run: features vs neurons (disjoint units: Mann-Whitney U). Between runs: features of A vs
features of B, neurons of A vs neurons of B; when the two groups share unit ids (two explainers on one
SAE, the same neurons) the comparison is paired unit by unit (Wilcoxon signed-rank + paired bootstrap of
the median difference), otherwise unpaired. For each metric: median with a seeded bootstrap CI per group,
one test per pair, sample sizes and exclusions; plus a box/strip plot and flat tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from autointerp.report.scores import BUILTIN, MetricSpec
from autointerp.report.stats import (
    N_RESAMPLES,
    GroupStats,
    GroupTest,
    group_stats_from_frame,
    mann_whitney,
    wilcoxon_paired,
)

Metric = MetricSpec  # the old name
METRICS = BUILTIN


def ok_values(frame: pd.DataFrame, metric: MetricSpec) -> np.ndarray:
    """The metric's defined values (status 'ok') in a units frame."""
    return frame.loc[frame[metric.status_column] == "ok", metric.name].to_numpy(dtype=float)


def ok_series(frame: pd.DataFrame, metric: MetricSpec) -> pd.Series:
    """Defined values indexed by unit key."""
    rows = frame[frame[metric.status_column] == "ok"]
    return pd.Series(rows[metric.name].to_numpy(dtype=float), index=rows["unit"].to_numpy())


@dataclass(frozen=True)
class GroupComparison:
    """Stats of every (metric, group) and the tests of every (metric, pair)."""

    metrics: tuple[MetricSpec, ...]
    stats: tuple[GroupStats, ...]
    tests: tuple[GroupTest, ...]


def pair_test(
    metric: MetricSpec,
    label_a: str,
    a: pd.DataFrame,
    label_b: str,
    b: pd.DataFrame,
    *,
    seed: int,
    n_resamples: int,
    pairable: bool = True,
) -> GroupTest | None:
    """Paired test on the shared units when the groups share unit ids (and ``pairable``: the ids name the same
    units), else Mann-Whitney U."""
    va, vb = ok_series(a, metric), ok_series(b, metric)
    if pairable and set(a["unit"]) & set(b["unit"]):
        shared = va.index.intersection(vb.index)
        excluded = len(va.index.union(vb.index)) - len(shared)
        return wilcoxon_paired(metric.name, label_a, va[shared].to_numpy(), label_b, vb[shared].to_numpy(),
                               n_unpaired_excluded=excluded, seed=seed, n_resamples=n_resamples)  # fmt: skip
    return mann_whitney(metric.name, label_a, va.to_numpy(), label_b, vb.to_numpy(), seed=seed, n_resamples=n_resamples)


def compare_groups(
    groups: dict[str, pd.DataFrame],
    pairs: list[tuple[str, str]],
    *,
    metrics: Sequence[MetricSpec] = BUILTIN,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    unpairable: Sequence[tuple[str, str]] = (),
) -> GroupComparison:
    """``groups``: label -> units frame (see ``load.units_frame``); ``pairs``: label pairs to test;
    ``unpairable``: pairs whose shared unit ids do not name the same units (e.g. two SAEs in same-named folders)."""
    stats, tests = [], []
    for metric in metrics:
        for label, frame in groups.items():
            g = group_stats_from_frame(frame, metric.name, metric.status_column, label, seed=seed,
                                       n_resamples=n_resamples)
            stats.append(g.model_copy(update={"chance": group_chance(frame, metric)}))
        for a, b in pairs:
            test = pair_test(metric, a, groups[a], b, groups[b], seed=seed, n_resamples=n_resamples,
                             pairable=(a, b) not in unpairable)  # fmt: skip
            if test is not None:
                tests.append(test)
    return GroupComparison(metrics=tuple(metrics), stats=tuple(stats), tests=tuple(tests))


def group_chance(frame: pd.DataFrame, metric: MetricSpec) -> float | None:
    """The chance level of a group's units: the metric's, or the mean of the scored units' own where it varies."""
    if not metric.chance_varies:
        return metric.chance
    if metric.chance_column not in frame:
        return None
    own = frame.loc[frame[metric.status_column] == "ok", metric.chance_column].dropna()
    return float(own.mean()) if len(own) else None


LABEL_COLUMNS = ("protocol", "aggregation", "chance_rule", "method")


def stats_table(comparison: GroupComparison) -> pd.DataFrame:
    """One row per (metric, group): n, exclusions, median, CI, mean, quartiles, chance, and what the numbers are
    (protocol, aggregation, chance rule, method)."""
    specs = {m.name: m for m in comparison.metrics}
    rows = [{**s.model_dump(), **{c: getattr(specs[s.metric], c, "") if s.metric in specs else "" for c in
                                  LABEL_COLUMNS}} for s in comparison.stats]  # fmt: skip
    return pd.DataFrame(rows, columns=[*GroupStats.model_fields, *LABEL_COLUMNS])


def tests_table(comparison: GroupComparison) -> pd.DataFrame:
    """One row per (metric, pair): test, paired or not, statistic, p, rank-biserial, common-language effect, n."""
    return pd.DataFrame([t.model_dump() for t in comparison.tests], columns=list(GroupTest.model_fields))


def _tick_label(s: GroupStats) -> str:
    excluded = f", {s.n_excluded} excl." if s.n_excluded else ""
    return f"{s.group}\n(n={s.n}{excluded})"


def _limits(metric: MetricSpec, data: list[np.ndarray]) -> tuple[float, float]:
    if metric.limits is not None:
        return metric.limits
    values = np.concatenate([d for d in data if d.size]) if any(d.size for d in data) else np.array([0.0, 1.0])
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def plot_comparison(
    groups: dict[str, pd.DataFrame],
    comparison: GroupComparison,
    *,
    seed: int = 0,
    title: str = "",
    sampling_note: str = "",
) -> Figure:
    """One panel per metric: box + jittered points per group (n in the tick labels), median CI as an error bar,
    the test of each pair annotated with its name, paired/unpaired, p and rank-biserial effect size; the
    chance level as a dotted line where defined; ``sampling_note`` (how the groups' sampling differs) below."""
    rng = np.random.default_rng(seed)
    labels = list(groups)
    metrics = comparison.metrics
    ncols = min(3, max(1, len(metrics)))
    nrows = -(-len(metrics) // ncols) if metrics else 1
    fig = Figure(figsize=(max(4.5, 1.6 * len(labels)) * ncols, 4.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    palette = ("#3d8bc4", "#e07b39", "#5aa55a", "#9467bd")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes, metrics):
        by_group = {s.group: s for s in comparison.stats if s.metric == metric.name}
        data = [ok_values(groups[g], metric) for g in labels]
        positions = np.arange(1, len(labels) + 1)
        nonempty = [i for i, d in enumerate(data) if d.size]
        lo, hi = _limits(metric, data)
        if nonempty:
            ax.boxplot([data[i] for i in nonempty], positions=positions[nonempty], widths=0.5, showfliers=False,
                       medianprops={"color": "black"}, boxprops={"color": "#555555"})  # fmt: skip
        for i, (d, pos) in enumerate(zip(data, positions)):
            color = palette[i % len(palette)]
            jitter = rng.uniform(-0.18, 0.18, size=d.size)
            ax.scatter(pos + jitter, d, s=9, alpha=min(0.8, max(0.15, 30 / max(d.size, 1))), color=color, lw=0)
            s = by_group[labels[i]]
            if d.size == 0:
                ax.text(pos, (lo + hi) / 2, "no scores", ha="center", va="center", fontsize=8, color="#888888")
            if s.median is not None:
                ax.errorbar(pos + 0.33, s.median, yerr=[[s.median - s.ci_low], [s.ci_high - s.median]], fmt="D",
                            color="black", ms=4, capsize=3, lw=1.2)  # fmt: skip
        if metric.chance is not None:
            ax.axhline(metric.chance, color="#999999", ls=":", lw=1)
            ax.text(len(labels) + 0.75, metric.chance, "chance", ha="right", va="bottom", fontsize=7, color="#777777")
        elif metric.chance_varies:  # each group's mean of its units' own chance levels
            for pos, g in zip(positions, labels):
                if by_group[g].chance is not None:
                    ax.hlines(by_group[g].chance, pos - 0.3, pos + 0.3, color="#999999", ls=":", lw=1)
            ax.text(len(labels) + 0.75, lo, "dotted: chance (mean of units')", ha="right", va="bottom", fontsize=7,
                    color="#777777")
        ax.set_xticks(positions, [_tick_label(by_group[g]) for g in labels], fontsize=8)
        ax.set_xlim(0.4, len(labels) + 0.8)
        pad = 0.08 * (hi - lo)
        n_tests = sum(1 for t in comparison.tests if t.metric == metric.name)
        ax.set_ylim(lo - pad, hi + (1.5 + 1.6 * n_tests) * pad)
        for k, test in enumerate(t for t in comparison.tests if t.metric == metric.name):
            xa, xb = labels.index(test.group_a) + 1, labels.index(test.group_b) + 1
            y = hi + (1.2 + 1.6 * k) * pad
            ax.plot([xa, xa, xb, xb], [y - 0.3 * pad, y, y, y - 0.3 * pad], color="#333333", lw=0.8)
            n_text = f"{test.n_a} pairs" if test.paired else f"n={test.n_a} vs {test.n_b}"
            ax.text((xa + xb) / 2, y + 0.2 * pad, f"{test.short} ({n_text})", ha="center", va="bottom", fontsize=7)
        ax.set_ylabel(metric.label + (f" [{metric.method}]" if metric.method else ""), fontsize=9)
        chance = ("chance per unit (dotted: mean)" if metric.chance_varies else
                  f"chance {metric.chance:.2g}" if metric.chance is not None else "no chance level")  # fmt: skip
        ax.set_title(f"{metric.scorer} ({metric.protocol}; {chance})", fontsize=8, color="#555555")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#eeeeee", lw=0.6)
        ax.set_axisbelow(True)
    if title:
        fig.suptitle(title + "  (diamond: median with 95% bootstrap CI)", fontsize=11)
    if sampling_note:
        fig.supxlabel(sampling_note, fontsize=8, color="#8a4b00" if "differ" in sampling_note else "#555555")
    return fig
