"""compare-dicts output files: per-unit CSVs, histograms (CSV/PNG/SVG), feature splits and a summary.

``DIR/max_cosine.csv``    one row per unit of A: unit_a, unit_b, cos_decoder, cos_encoder
                          (unit_b is the decoder match; unit_b_encoder the encoder match)
``DIR/max_cosine_b.csv``  the same for every unit of B against A (unit_b, unit_a, ...)
``DIR/histogram.csv``     series, bin_low, bin_high, count (series: a_to_b_decoder, b_to_a_encoder, ...)
``DIR/histogram.png|svg`` the two directions side by side, decoder and encoder in each
``DIR/splits.csv``        units of A matched by several units of B above the split threshold
``DIR/summary.json``      sizes, counts above 0.9 / 0.7 / 0.5 per series, number of split units
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from autointerp.dictionaries.compare import COUNT_THRESHOLDS, Comparison, MaxCosine

BIN_WIDTH = 0.02


def _column(mc: MaxCosine | None, side: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if mc is None:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    best, arg = (mc.best_a, mc.arg_a) if side == "a" else (mc.best_b, mc.arg_b)
    return arg.numpy(), best.double().numpy()


def per_unit_frames(comp: Comparison) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(A against B, B against A) with one row per unit."""
    frames = []
    for side, n, own, other in (("a", comp.n_a, "unit_a", "unit_b"), ("b", comp.n_b, "unit_b", "unit_a")):
        dec_arg, dec_cos = _column(comp.decoder, side, n)
        enc_arg, enc_cos = _column(comp.encoder, side, n)
        frames.append(
            pd.DataFrame(
                {
                    own: np.arange(n),
                    other: dec_arg,
                    "cos_decoder": dec_cos,
                    "cos_encoder": enc_cos,
                    f"{other}_encoder": enc_arg,
                }
            )
        )
    return frames[0], frames[1]


def histogram_frame(comp: Comparison) -> pd.DataFrame:
    series = comp.series()
    lo = min((float(np.nanmin(v)) for v in series.values() if len(v)), default=0.0)
    start = min(0.0, np.floor(lo / BIN_WIDTH) * BIN_WIDTH)
    edges = np.round(np.arange(start, 1.0 + BIN_WIDTH / 2, BIN_WIDTH), 10)
    rows = []
    for name, values in series.items():
        counts, _ = np.histogram(np.clip(values, edges[0], 1.0), bins=edges)
        rows += [
            {"series": name, "bin_low": float(a), "bin_high": float(b), "count": int(c)}
            for a, b, c in zip(edges[:-1], edges[1:], counts)
        ]
    return pd.DataFrame(rows, columns=["series", "bin_low", "bin_high", "count"])


def plot_histograms(comp: Comparison, hist: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=False)
    titles = (f"A -> B ({comp.n_a} units of A)", f"B -> A ({comp.n_b} units of B)")
    for ax, side, title in zip(axes, ("a_to_b", "b_to_a"), titles):
        for part, color in (("decoder", "tab:blue"), ("encoder", "tab:orange")):
            h = hist[hist.series == f"{side}_{part}"]
            if h.empty:
                continue
            ax.stairs(
                h["count"].to_numpy(),
                np.r_[h["bin_low"].to_numpy(), h["bin_high"].iloc[-1]],
                label=part,
                color=color,
                linewidth=1.5,
            )
        for t in COUNT_THRESHOLDS:
            ax.axvline(t, color="grey", linestyle=":", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("max cosine similarity")
        ax.set_ylabel("units")
        ax.legend(fontsize=8)
    fig.suptitle(f"A = {Path(comp.name_a).name}   B = {Path(comp.name_b).name}", fontsize=9)
    fig.tight_layout()
    paths = [out / "histogram.png", out / "histogram.svg"]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths


def splits_frame(comp: Comparison) -> pd.DataFrame:
    rows = [
        {
            "unit_a": s.unit_a,
            "n_matches": len(s.units_b),
            "units_b": ";".join(map(str, s.units_b)),
            "cosines": ";".join(f"{c:.4f}" for c in s.cosines),
        }
        for s in comp.splits
    ]
    return pd.DataFrame(rows, columns=["unit_a", "n_matches", "units_b", "cosines"])


def summary(comp: Comparison, seconds: float | None = None) -> dict:
    return {
        "a": comp.name_a,
        "b": comp.name_b,
        "n_a": comp.n_a,
        "n_b": comp.n_b,
        "d_in": comp.d_in,
        "counts_above": comp.counts_above(),
        "median": {name: float(np.median(v)) for name, v in comp.series().items()},
        "split_threshold": comp.split_threshold,
        "n_split_units": len(comp.splits),
        "decoder_available": comp.decoder is not None,
        "seconds": seconds,
    }


def write_comparison(comp: Comparison, out: str | Path, seconds: float | None = None) -> list[Path]:
    """Write every compare-dicts file into ``out`` (created); returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fa, fb = per_unit_frames(comp)
    paths = [out / "max_cosine.csv", out / "max_cosine_b.csv", out / "histogram.csv", out / "splits.csv"]
    fa.to_csv(paths[0], index=False, float_format="%.8f")
    fb.to_csv(paths[1], index=False, float_format="%.8f")
    hist = histogram_frame(comp)
    hist.to_csv(paths[2], index=False)
    splits_frame(comp).to_csv(paths[3], index=False)
    paths += plot_histograms(comp, hist, out)
    (out / "summary.json").write_text(json.dumps(summary(comp, seconds), indent=2), encoding="utf-8")
    paths.append(out / "summary.json")
    return paths


def summary_lines(comp: Comparison) -> list[str]:
    """What the CLI prints: counts above each threshold, both ways."""
    lines = []
    for name, counts in comp.counts_above().items():
        n = comp.n_a if name.startswith("a_to_b") else comp.n_b
        lines.append(f"{name:<15} " + "  ".join(f"{k}: {v}/{n}" for k, v in counts.items()))
    lines.append(
        f"split units of A (>= 2 units of B with decoder cosine >= {comp.split_threshold}): {len(comp.splits)}"
    )
    return lines
