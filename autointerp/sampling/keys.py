"""Deterministic per-window keys: order-independent pseudo-randomness for the reservoirs and the split.

Every window gets ``splitmix64(seed, stream, window_index)``; nothing depends on
the order in which windows arrive, so shards can be sampled separately and merged.
Priorities are int64 numbers where *smaller is better*; every one carries the
window index in its low 31 bits, so two different windows never tie.
"""

from __future__ import annotations

import numpy as np
import torch

from autointerp.errors import InputError

EMPTY = torch.iinfo(torch.int64).max  # priority of an empty slot (worse than any real entry)
WINDOW_BITS = 31
WINDOW_MASK = (1 << WINDOW_BITS) - 1
MAX_WINDOW = WINDOW_MASK - 1  # so that no priority can equal EMPTY

_STREAM_RESERVOIR = 0x5EED_0001
_STREAM_SPLIT = 0x5EED_0002
_STREAM_RANDOM = 0x5EED_0003


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash(seed: int, stream: int, windows: np.ndarray) -> np.ndarray:
    base = splitmix64(np.array([seed, stream], dtype=np.uint64))
    with np.errstate(over="ignore"):
        mixed = splitmix64(base[0:1] ^ base[1:2])
        return splitmix64(windows.astype(np.uint64) ^ mixed)


def check_windows(windows: np.ndarray) -> np.ndarray:
    """Window indices as int64, checked to fit the priority encoding."""
    w = np.asarray(windows, dtype=np.int64)
    if w.size and (w.min() < 0 or w.max() > MAX_WINDOW):
        raise InputError(f"window index out of range: expected 0..{MAX_WINDOW}, got {int(w.min())}..{int(w.max())}")
    return w


def reservoir_priority(seed: int, windows: np.ndarray, stream: int = _STREAM_RESERVOIR) -> torch.Tensor:
    """[B] int64 random priority of each window (32 random high bits, window index low bits)."""
    w = check_windows(windows)
    h = _hash(seed, stream, w) >> np.uint64(64 - 32)
    return torch.from_numpy(((h.astype(np.int64) << WINDOW_BITS) | w).astype(np.int64))


def random_priority(seed: int, windows: np.ndarray) -> torch.Tensor:
    """[B] priority of the random-window draw: a stream independent of the level samples' priorities, so the
    random windows are not the windows the levels happen to prefer."""
    return reservoir_priority(seed, windows, _STREAM_RANDOM)


def heldout_mask(seed: int, windows: np.ndarray, fraction: float) -> torch.Tensor:
    """[B] bool: True where the window belongs to the held-out split (a pure function of seed and index)."""
    w = check_windows(windows)
    u = (_hash(seed, _STREAM_SPLIT, w) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return torch.from_numpy(u < fraction)


def top_priority(values: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """Priority of positive float32 values: larger value first, then smaller window index.

    Positive float32 bit patterns are ordered like the values, so the priority is
    exact (no rounding) and merges of partial top-k lists are exact.
    """
    bits = values.to(torch.float32).contiguous().view(torch.int32).to(torch.int64)
    return ((WINDOW_MASK - bits) << WINDOW_BITS) | windows


def bottom_priority(values: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """Priority of positive float32 values: smaller value first, then smaller window index."""
    bits = values.to(torch.float32).contiguous().view(torch.int32).to(torch.int64)
    return (bits << WINDOW_BITS) | windows


SPLITS = (0, 1)  # 0: explain, 1: held-out
