"""Compare per-unit score distributions between groups of units.

Within a run: features vs neurons. Between runs: features of A vs features of
B, neurons of A vs neurons of B. For each metric: median with a seeded
bootstrap CI per group, a two-sided Mann-Whitney U test per pair, sample sizes
and exclusions; plus a box/strip plot and flat tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from autointerp.report.stats import N_RESAMPLES, GroupStats, MannWhitney, group_stats_from_frame, mann_whitney


@dataclass(frozen=True)
class Metric:
    """A per-unit metric column of the units frame and the status column that says whether it is defined."""

    name: str
    status_column: str
    label: str
    limits: tuple[float, float]


METRICS = (
    Metric("simulation_score", "simulation_status", "simulation score (Pearson r)", (-1.0, 1.0)),
    Metric("mean_specificity", "specificity_status", "mean specificity rating (0-3)", (0.0, 3.0)),
)


def ok_values(frame: pd.DataFrame, metric: Metric) -> np.ndarray:
    """The metric's defined values (status 'ok') in a units frame."""
    return frame.loc[frame[metric.status_column] == "ok", metric.name].to_numpy(dtype=float)


@dataclass(frozen=True)
class GroupComparison:
    """Stats of every (metric, group) and the tests of every (metric, pair)."""

    stats: tuple[GroupStats, ...]
    tests: tuple[MannWhitney, ...]


def compare_groups(
    groups: dict[str, pd.DataFrame],
    pairs: list[tuple[str, str]],
    *,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> GroupComparison:
    """``groups``: label -> units frame (see ``load.units_frame``); ``pairs``: label pairs to test."""
    stats, tests = [], []
    for metric in METRICS:
        for label, frame in groups.items():
            stats.append(group_stats_from_frame(frame, metric.name, metric.status_column, label, seed=seed,
                                                n_resamples=n_resamples))  # fmt: skip
        for a, b in pairs:
            test = mann_whitney(metric.name, a, ok_values(groups[a], metric), b, ok_values(groups[b], metric))
            if test is not None:
                tests.append(test)
    return GroupComparison(stats=tuple(stats), tests=tuple(tests))


def stats_table(comparison: GroupComparison) -> pd.DataFrame:
    """One row per (metric, group): n, exclusions, median, CI, mean, quartiles."""
    return pd.DataFrame([s.model_dump() for s in comparison.stats])


def tests_table(comparison: GroupComparison) -> pd.DataFrame:
    """One row per (metric, pair): U, p, rank-biserial, common-language effect size, n."""
    columns = list(MannWhitney.model_fields)
    return pd.DataFrame([t.model_dump() for t in comparison.tests], columns=columns)


def _tick_label(s: GroupStats) -> str:
    excluded = f", {s.n_excluded} excl." if s.n_excluded else ""
    return f"{s.group}\n(n={s.n}{excluded})"


def plot_comparison(
    groups: dict[str, pd.DataFrame], comparison: GroupComparison, *, seed: int = 0, title: str = ""
) -> Figure:
    """One panel per metric: box + jittered points per group, median CI as an error bar, test annotated per pair."""
    rng = np.random.default_rng(seed)
    labels = list(groups)
    fig = Figure(figsize=(max(4.5, 1.6 * len(labels)) * len(METRICS), 4.4), layout="constrained")
    axes = fig.subplots(1, len(METRICS), squeeze=False)[0]
    palette = ("#3d8bc4", "#e07b39", "#5aa55a", "#9467bd")
    for ax, metric in zip(axes, METRICS):
        by_group = {s.group: s for s in comparison.stats if s.metric == metric.name}
        data = [ok_values(groups[g], metric) for g in labels]
        positions = np.arange(1, len(labels) + 1)
        nonempty = [i for i, d in enumerate(data) if d.size]
        if nonempty:
            ax.boxplot([data[i] for i in nonempty], positions=positions[nonempty], widths=0.5, showfliers=False,
                       medianprops={"color": "black"}, boxprops={"color": "#555555"})  # fmt: skip
        for i, (d, pos) in enumerate(zip(data, positions)):
            color = palette[i % len(palette)]
            jitter = rng.uniform(-0.18, 0.18, size=d.size)
            ax.scatter(pos + jitter, d, s=9, alpha=min(0.8, max(0.15, 30 / max(d.size, 1))), color=color, lw=0)
            s = by_group[labels[i]]
            if d.size == 0:
                ax.text(pos, sum(metric.limits) / 2, "no scores", ha="center", va="center", fontsize=8, color="#888888")
            if s.median is not None:
                ax.errorbar(pos + 0.33, s.median, yerr=[[s.median - s.ci_low], [s.ci_high - s.median]], fmt="D",
                            color="black", ms=4, capsize=3, lw=1.2)  # fmt: skip
        ax.set_xticks(positions, [_tick_label(by_group[g]) for g in labels], fontsize=8)
        ax.set_xlim(0.4, len(labels) + 0.8)
        lo, hi = metric.limits
        pad = 0.08 * (hi - lo)
        ax.set_ylim(lo - pad, hi + 3 * pad)
        ax.set_yticks(np.arange(lo, hi + 1e-9, 0.5))
        for test in (t for t in comparison.tests if t.metric == metric.name):
            xa, xb = labels.index(test.group_a) + 1, labels.index(test.group_b) + 1
            y = hi + 1.2 * pad
            ax.plot([xa, xa, xb, xb], [y - 0.3 * pad, y, y, y - 0.3 * pad], color="#333333", lw=0.8)
            ax.text((xa + xb) / 2, y + 0.2 * pad, f"Mann-Whitney p={test.p_value:.2g}, r={test.rank_biserial:+.2f}",
                    ha="center", va="bottom", fontsize=7.5)  # fmt: skip
        ax.set_ylabel(metric.label, fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#eeeeee", lw=0.6)
        ax.set_axisbelow(True)
    if title:
        fig.suptitle(title + "  (diamond: median with 95% bootstrap CI)", fontsize=11)
    return fig
