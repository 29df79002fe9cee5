"""Specificity histograms (the Scaling Monosemanticity figure): rubric score mix per activation level.

For each group (features / neurons, or one unit), the fraction of 0-3 ratings
in each activation-level bin of the held-out contexts: "below threshold" (windows
whose max is at or below the sampler's threshold x the unit's max, level -1) then the bins by their activation range as a
fraction of the unit's max activation. Failed judgements are left out (and
counted in the summary).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field

from autointerp.types import UnitSamples

SCORES = (0, 1, 2, 3)
SCORE_COLORS = ("#d0d0d0", "#9ecae1", "#3d8bc4", "#08306b")
KIND_ORDER = ("feature", "neuron")
TABLE_COLUMNS = ["kind", "level", "score", "count", "fraction", "n_in_level"]
BELOW_THRESHOLD = "below threshold"  # the label of level -1


class LevelInfo(BaseModel):
    """One activation level on the histogram's x axis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = Field(description="Level bin (-1 = below the sampler's threshold).")
    label: str = Field(description="Axis label, e.g. 'below threshold' or '20-40%'.")
    frac_low: float | None = Field(default=None, description="Median over units of the bin's lower edge / max act.")
    frac_high: float | None = Field(default=None, description="Median over units of the bin's upper edge / max act.")


def level_infos(levels: Iterable[int], units: Iterable[UnitSamples]) -> list[LevelInfo]:
    """Labels for the levels present: 'below threshold' for -1, else the bin's range as a fraction of max activation."""
    fractions: dict[int, list[tuple[float, float]]] = {}
    for u in units:
        edges = np.asarray(u.bin_edges, dtype=float)
        top = edges[-1] if edges.size else 0.0
        if edges.size < 2 or not np.isfinite(top) or top <= 0:
            continue
        for i in range(edges.size - 1):
            fractions.setdefault(i, []).append((edges[i] / top, edges[i + 1] / top))
    infos = []
    for level in sorted(set(levels)):
        if level < 0:
            infos.append(LevelInfo(level=level, label=BELOW_THRESHOLD))
        elif level in fractions:
            lo, hi = np.median(np.asarray(fractions[level]), axis=0)
            label = f"{lo * 100:.0f}-{hi:.0%}"
            infos.append(LevelInfo(level=level, label=label, frac_low=float(lo), frac_high=float(hi)))
        else:
            infos.append(LevelInfo(level=level, label=f"bin {level}"))
    return infos


def specificity_table(judgements: pd.DataFrame, by: str = "kind") -> pd.DataFrame:
    """Counts and fractions of each score per (group, level) over ok judgements.

    Columns: ``by, level, score, count, fraction, n_in_level``; every (group,
    level) present gets all four scores, and its fractions sum to 1.
    """
    columns = [by, *TABLE_COLUMNS[1:]]
    ok = judgements[judgements["ok"]]
    if ok.empty:
        return pd.DataFrame(columns=columns).astype({"level": "int64", "score": "int64", "count": "int64"})
    counts = ok.groupby([by, "level", "score"]).size()
    groups = ok[[by, "level"]].drop_duplicates().itertuples(index=False, name=None)
    full = pd.MultiIndex.from_tuples([(g, lv, s) for g, lv in groups for s in SCORES], names=[by, "level", "score"])
    table = counts.reindex(full, fill_value=0).rename("count").reset_index()
    table["n_in_level"] = table.groupby([by, "level"])["count"].transform("sum")
    table["fraction"] = table["count"] / table["n_in_level"]
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    table = table.sort_values([by, "level", "score"], key=lambda s: s.map(order) if s.name == "kind" else s)
    return table[columns].astype({"level": "int64", "score": "int64", "count": "int64", "n_in_level": "int64"})


def plot_specificity(
    table: pd.DataFrame,
    levels: list[LevelInfo],
    *,
    by: str = "kind",
    groups: list[str] | None = None,
    title: str = "",
    panel_size=(5.6, 4.2),
) -> Figure:
    """Side-by-side stacked bars (one panel per group): fraction of each score per level, n annotated.

    ``groups`` fixes the panels (e.g. every kind in the run, even one without ratings); default: those in the table.
    """
    groups = groups or list(dict.fromkeys(table[by])) or ["(no ratings)"]
    labels = {info.level: info.label for info in levels}
    level_list = sorted(set(table["level"])) or [-1]
    fig = Figure(figsize=(panel_size[0] * len(groups), panel_size[1]), layout="constrained")
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
    x = np.arange(len(level_list))
    for ax, group in zip(axes, groups):
        sub = table[table[by] == group]
        bottom = np.zeros(len(level_list))
        for score, color in zip(SCORES, SCORE_COLORS):
            rows = sub[sub["score"] == score].set_index("level")
            frac = rows["fraction"].reindex(level_list).fillna(0).to_numpy(dtype=float)
            ax.bar(x, frac, bottom=bottom, color=color, edgecolor="white", linewidth=0.5, width=0.8, label=str(score))
            bottom += frac
        n_in = sub.drop_duplicates("level").set_index("level")["n_in_level"].reindex(level_list)
        for xi, n in zip(x, n_in.fillna(0)):
            if not sub.empty:
                ax.text(xi, 1.01, f"n={int(n)}", ha="center", va="bottom", fontsize=7, color="#444444")
        rotate = len(x) > panel_size[0] * 1.1  # labels collide on narrow panels
        ax.set_xticks(x, [labels.get(lv, BELOW_THRESHOLD if lv < 0 else str(lv)) for lv in level_list], rotation=40 if rotate else 0,
                      ha="right" if rotate else "center", rotation_mode="anchor", fontsize=8)  # fmt: skip
        if sub.empty:
            ax.text(0.5, 0.5, "no specificity ratings", transform=ax.transAxes, ha="center", color="#888888")
        ax.set_ylim(0, 1.08)
        ax.set_title(f"{group}s" if group in KIND_ORDER else str(group), fontsize=11)
        ax.set_xlabel("activation level (% of the unit's max activation)", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        if ax is axes[0]:
            ax.set_ylabel("fraction of held-out contexts", fontsize=9)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], title="specificity\nrating", loc="outside right center", fontsize=8,
               title_fontsize=8, frameon=False)  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_level_recall(recall: pd.DataFrame, levels: list[LevelInfo], *, title: str = "") -> Figure:
    """Recall per activation level (one line per scorer and kind) with n per point; ``recall`` from
    :func:`autointerp.report.scores.level_hits`."""
    labels = {info.level: info.label for info in levels}
    level_list = sorted(set(recall["level"]))
    fig = Figure(figsize=(5.6, 4.2), layout="constrained")
    ax = fig.subplots()
    x = {lv: i for i, lv in enumerate(level_list)}
    styles = {"feature": "-", "neuron": "--"}
    for (scorer, kind), sub in recall.groupby(["scorer", "kind"], sort=False):
        sub = sub.sort_values("level")
        xs = [x[lv] for lv in sub["level"]]
        line = ax.plot(xs, sub["recall"], styles.get(kind, ":"), marker="o", ms=4, label=f"{scorer}, {kind}s")[0]
        if "chance" in sub and sub["chance"].notna().all():  # the judge's false-positive rate: recall at chance
            ax.plot(xs, sub["chance"], ":", color=line.get_color(), lw=1,
                    label=f"{scorer}, {kind}s: chance (false-positive rate)")
        for xi, r, n in zip(xs, sub["recall"], sub["total"]):
            ax.annotate(f"n={int(n)}", (xi, r), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=6.5,
                        color="#555555")  # fmt: skip
    ax.set_xticks(range(len(level_list)), [labels.get(lv, str(lv)) for lv in level_list], fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("activation level (% of the unit's max activation)", fontsize=9)
    ax.set_ylabel("recall (activating contexts judged active)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=11)
    return fig
