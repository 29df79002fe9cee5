"""Score math for the simulator: expected values over candidate logprobs and NaN-safe Pearson correlation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def expected_value(candidate_logprobs: Mapping[str, float]) -> float:
    """Expected value of integer candidates (keys '0'..'10'), probabilities renormalised over the candidates given."""
    if not candidate_logprobs:
        raise ValueError("no candidate logprobs")
    values = np.array([int(k) for k in candidate_logprobs], dtype=float)
    lps = np.array(list(candidate_logprobs.values()), dtype=float)
    if not np.isfinite(lps).any():
        raise ValueError("every candidate has probability 0")
    weights = np.exp(lps - lps[np.isfinite(lps)].max())
    return float((weights * values).sum() / weights.sum())


def pearson(true: Sequence[float], predicted: Sequence[float]) -> tuple[float | None, str | None]:
    """Pearson r, or ``(None, reason)`` when it is undefined (too few points, a constant side, non-finite values)."""
    x = np.asarray(true, dtype=float)
    y = np.asarray(predicted, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"length mismatch: {x.size} true vs {y.size} predicted values")
    if x.size < 2:
        return None, "fewer than 2 tokens"
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None, "non-finite values"
    if np.ptp(x) == 0:
        return None, "true activations are constant"
    if np.ptp(y) == 0:
        return None, "predictions are constant"
    r = float(np.corrcoef(x, y)[0, 1])
    return (r, None) if math.isfinite(r) else (None, "correlation is undefined")
