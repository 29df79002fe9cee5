"""Max cosine similarity between the units of two dictionaries, both ways, in bounded memory.

For every unit of A: the largest cosine between its (unit-norm) direction and
any unit of B, and which unit that is; likewise for every unit of B against A,
for decoder directions and for encoder directions. The similarity matrix is
never held whole: blocks of ``chunk x chunk`` are computed one at a time and
each block updates the running row maxima (A -> B) and column maxima (B -> A),
so one sweep serves both directions. Peak memory is the two direction matrices
plus one block (64 MB at chunk 4096), whatever the number of units.

Feature splitting: while sweeping the decoder blocks, every pair above
``split_threshold`` is kept; units of A matched by several units of B are split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from autointerp.dictionaries.spec import Directions

DEFAULT_CHUNK = 4096
COUNT_THRESHOLDS = (0.9, 0.7, 0.5)


@dataclass
class MaxCosine:
    """Running maxima of one similarity sweep (A rows x B rows)."""

    best_a: torch.Tensor  # [n_a] max cosine of each unit of A over B
    arg_a: torch.Tensor  # [n_a] index in B of that maximum
    best_b: torch.Tensor  # [n_b] max cosine of each unit of B over A
    arg_b: torch.Tensor  # [n_b] index in A of that maximum
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # [n, 3] (a, b, cos) with cos >= threshold


def max_cosine(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    chunk: int = DEFAULT_CHUNK,
    pair_threshold: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> MaxCosine:
    """Both-way max cosine of unit-norm rows ``a [n_a, d]`` and ``b [n_b, d]``, one ``chunk x chunk`` block at a time.

    Ties keep the lowest index (the first block/position that reached the maximum).
    ``progress`` is called with the number of A rows finished after each row block.
    """
    n_a, n_b = a.shape[0], b.shape[0]
    best_a = torch.full((n_a,), -torch.inf)
    arg_a = torch.zeros(n_a, dtype=torch.long)
    best_b = torch.full((n_b,), -torch.inf)
    arg_b = torch.zeros(n_b, dtype=torch.long)
    pairs: list[np.ndarray] = []
    with torch.inference_mode():
        for i in range(0, n_a, chunk):
            ai = a[i : i + chunk]
            for j in range(0, n_b, chunk):
                s = ai @ b[j : j + chunk].T  # [ca, cb]
                v, idx = s.max(dim=1)
                better = v > best_a[i : i + chunk]
                best_a[i : i + chunk] = torch.where(better, v, best_a[i : i + chunk])
                arg_a[i : i + chunk] = torch.where(better, idx + j, arg_a[i : i + chunk])
                v, idx = s.max(dim=0)
                better = v > best_b[j : j + chunk]
                best_b[j : j + chunk] = torch.where(better, v, best_b[j : j + chunk])
                arg_b[j : j + chunk] = torch.where(better, idx + i, arg_b[j : j + chunk])
                if pair_threshold is not None:
                    hit = (s >= pair_threshold).nonzero()
                    if len(hit):
                        cos = s[hit[:, 0], hit[:, 1]]
                        pairs.append(
                            np.column_stack([(hit[:, 0] + i).numpy(), (hit[:, 1] + j).numpy(), cos.double().numpy()])
                        )
                del s
            if progress is not None:
                progress(min(i + chunk, n_a))
    out = np.concatenate(pairs) if pairs else np.zeros((0, 3))
    return MaxCosine(best_a, arg_a, best_b, arg_b, out)


@dataclass(frozen=True)
class SplitUnit:
    """A unit of A whose decoder direction is matched by several units of B."""

    unit_a: int
    units_b: tuple[int, ...]  # strongest match first
    cosines: tuple[float, ...]


def split_units(pairs: np.ndarray, min_matches: int = 2) -> list[SplitUnit]:
    """Units of A with at least ``min_matches`` units of B above the threshold the pairs were kept at."""
    out = []
    if len(pairs) == 0:
        return out
    a = pairs[:, 0].astype(np.int64)
    order = np.lexsort((-pairs[:, 2], a))
    a, b, cos = a[order], pairs[order, 1].astype(np.int64), pairs[order, 2]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    ends = np.r_[starts[1:], len(a)]
    for s, e in zip(starts, ends):
        if e - s >= min_matches:
            out.append(SplitUnit(int(a[s]), tuple(int(x) for x in b[s:e]), tuple(float(x) for x in cos[s:e])))
    out.sort(key=lambda u: (-len(u.units_b), u.unit_a))
    return out


@dataclass(frozen=True)
class Comparison:
    """compare-dicts results: per-unit maxima both ways, for decoder and encoder directions."""

    name_a: str
    name_b: str
    n_a: int
    n_b: int
    d_in: int
    decoder: MaxCosine | None  # None when either checkpoint has no decoder weights
    encoder: MaxCosine | None
    splits: list[SplitUnit]
    split_threshold: float

    def series(self) -> dict[str, np.ndarray]:
        """Max-cosine arrays by name: a_to_b_decoder, a_to_b_encoder, b_to_a_decoder, b_to_a_encoder."""
        out = {}
        for part, mc in (("decoder", self.decoder), ("encoder", self.encoder)):
            if mc is not None:
                out[f"a_to_b_{part}"] = mc.best_a.double().numpy()
                out[f"b_to_a_{part}"] = mc.best_b.double().numpy()
        return out

    def counts_above(self, thresholds: tuple[float, ...] = COUNT_THRESHOLDS) -> dict[str, dict[str, int]]:
        return {name: {f">{t}": int((v > t).sum()) for t in thresholds} for name, v in self.series().items()}


def compare_directions(
    a: Directions,
    b: Directions,
    *,
    chunk: int = DEFAULT_CHUNK,
    split_threshold: float = 0.7,
    progress: Callable[[str, int], None] | None = None,
) -> Comparison:
    """Decoder and encoder max-cosine sweeps of A against B (same width required)."""
    from autointerp.errors import InputError

    if a.d_in != b.d_in:
        raise InputError(
            f"compare-dicts needs dictionaries of the same width: {a.name} reads d_in={a.d_in}, {b.name} d_in={b.d_in}"
        )

    def sweep(x, y, part: str, threshold: float | None) -> MaxCosine | None:
        if x is None or y is None:
            return None
        tick = None if progress is None else (lambda n: progress(part, n))
        return max_cosine(x, y, chunk=chunk, pair_threshold=threshold, progress=tick)

    dec = sweep(a.decoder, b.decoder, "decoder", split_threshold)
    enc = sweep(a.encoder, b.encoder, "encoder", None)
    splits = split_units(dec.pairs) if dec is not None else []
    return Comparison(a.name, b.name, a.n_units, b.n_units, a.d_in, dec, enc, splits, split_threshold)
