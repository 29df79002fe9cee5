"""Matched units of two dictionaries side by side with their autointerp explanations and scores.

Given a comparison of A and B and one run folder for each, every matched pair
(a unit of A and its best decoder match in B, or a unit of B and its best match
in A) whose two units were both scored is listed with both explanations and
scores. "Similar scores" means the two simulation scores differ by at most
``tolerance``; the fraction of such pairs is reported with a 95% Wilson CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from autointerp.dictionaries.compare import Comparison
from autointerp.errors import InputError

SCORES = ("simulation_score", "mean_specificity")


@dataclass(frozen=True)
class MatchedSummary:
    n_pairs: int  # matched pairs whose two units were both scored
    n_both_scored: int  # of those, pairs with a simulation score on both sides
    n_similar: int  # of those, pairs whose scores differ by <= tolerance
    tolerance: float
    fraction_similar: float | None
    ci_low: float | None
    ci_high: float | None
    spearman: float | None  # rank correlation of the two simulation scores over the pairs (n >= 3)

    def line(self) -> str:
        if not self.n_both_scored:
            return f"matched pairs scored in both runs: {self.n_pairs} (none with a simulation score on both sides)"
        rho = "" if self.spearman is None else f", Spearman rho {self.spearman:.2f}"
        return (
            f"matched pairs scored in both runs: {self.n_pairs}; similar simulation scores (|diff| <= "
            f"{self.tolerance}): {self.n_similar}/{self.n_both_scored} = {self.fraction_similar:.2f} "
            f"[95% CI {self.ci_low:.2f}, {self.ci_high:.2f}]{rho}"
        )


def _scored_units(run_dir: Path, kind: str) -> pd.DataFrame:
    from autointerp.report.load import load_run, units_frame

    frame = units_frame(load_run(run_dir))
    frame = frame[frame["kind"] == kind]
    if frame.empty:
        raise InputError(f"run {run_dir} has no {kind} units; --runs needs a run of each dictionary")
    if frame["basis"].nunique() > 1:
        raise InputError(f"run {run_dir} has several {kind} bases ({', '.join(sorted(frame['basis'].unique()))})")
    return frame.set_index("index")


def matched_pairs(
    comp: Comparison, run_a: str | Path, run_b: str | Path, kind_a: str, kind_b: str, tolerance: float = 0.2
) -> tuple[pd.DataFrame, MatchedSummary]:
    """One row per matched pair scored in both runs, and how often the pair's scores are similar."""
    if comp.decoder is None:
        raise InputError("--runs needs decoder weights in both dictionaries (matches are by decoder direction)")
    ua, ub = _scored_units(Path(run_a), kind_a), _scored_units(Path(run_b), kind_b)
    dec = comp.decoder
    candidates = {(int(a), int(dec.arg_a[a])) for a in ua.index if 0 <= a < comp.n_a}
    candidates |= {(int(dec.arg_b[b]), int(b)) for b in ub.index if 0 <= b < comp.n_b}
    rows = []
    for a, b in sorted(candidates):
        if a not in ua.index or b not in ub.index:
            continue
        ra, rb = ua.loc[a], ub.loc[b]
        a_to_b = int(dec.arg_a[a]) == b
        rows.append(
            {
                "unit_a": a,
                "unit_b": b,
                "a_matches_b": a_to_b,  # b is a's best match (else a is b's best match)
                "b_matches_a": int(dec.arg_b[b]) == a,
                "cos_decoder": float(dec.best_a[a] if a_to_b else dec.best_b[b]),
                "explanation_a": ra["explanation"],
                "explanation_b": rb["explanation"],
                **{f"{m}_a": ra[m] for m in SCORES},
                **{f"{m}_b": rb[m] for m in SCORES},
            }
        )
    frame = pd.DataFrame(rows)
    return frame, _similarity(frame, tolerance)


def _similarity(frame: pd.DataFrame, tolerance: float) -> MatchedSummary:
    if frame.empty:
        return MatchedSummary(0, 0, 0, tolerance, None, None, None, None)
    both = frame.dropna(subset=["simulation_score_a", "simulation_score_b"])
    a, b = both["simulation_score_a"].to_numpy(float), both["simulation_score_b"].to_numpy(float)
    n = len(both)
    if n == 0:
        return MatchedSummary(len(frame), 0, 0, tolerance, None, None, None, None)
    k = int((np.abs(a - b) <= tolerance).sum())
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    rho = None
    if n >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0:
        rho = float(stats.spearmanr(a, b).statistic)
    return MatchedSummary(len(frame), n, k, tolerance, k / n, float(ci.low), float(ci.high), rho)
