"""Other units' contexts on which a unit is silent: delphi's hard negatives (``negatives: neighbours``) and intruders.

For every unit of a basis, candidates are the held-out top contexts of the *other* units of the run
(``per_source`` each, strongest first). One forward pass over those windows gives every unit's exact
activations on them, so a candidate is kept only where this unit never fires (max activation <= 0).
Kept contexts are ordered by the cosine similarity of the two units' decoder directions (for neurons:
their output weights; see :func:`autointerp.dictionaries.output.residual_direction`), nearest first: the first ones are the
neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from autointerp.activations.source import ActivationBatch, TokenWindow
from autointerp.scorers.records import ForeignContext, ForeignContexts
from autointerp.types import Context, UnitSamples

Batches = Callable[[Iterable[TokenWindow], int], Iterator[ActivationBatch]]


def cosine_matrix(directions: torch.Tensor) -> np.ndarray:
    """[n, n] cosine similarity of the rows (a zero row is similar to nothing)."""
    d = torch.nn.functional.normalize(directions.float(), dim=-1)
    return (d @ d.T).cpu().numpy()


def source_contexts(samples: UnitSamples, per_source: int) -> list[Context]:
    """A unit's held-out top contexts, strongest first (what it offers as someone else's negative)."""
    tops = [c for c in samples.heldout_contexts(("top",)) if c.tokens and c.max_activation > 0]
    return sorted(tops, key=lambda c: -c.max_activation)[:per_source]


def foreign_contexts(
    units: Sequence[UnitSamples],
    windows: dict[int, TokenWindow],
    batches: Batches,
    directions: torch.Tensor,
    *,
    per_source: int = 5,
    threshold: float = 0.3,
    batch_size: int = 16,
) -> dict[str, ForeignContexts]:
    """ForeignContexts per unit key. ``batches`` yields activations of exactly ``units`` (same column order)."""
    sources = [source_contexts(us, per_source) for us in units]
    wanted = sorted({c.window_index for cs in sources for c in cs})
    acts: dict[int, torch.Tensor] = {}  # window -> [T, n_units]
    missing = [w for w in wanted if w not in windows]
    if missing:
        raise KeyError(f"no tokens for window {missing[0]}")
    for batch in batches((windows[w] for w in wanted), batch_size):
        dense = batch.dense()
        for row, w in enumerate(batch.window_indices.tolist()):
            acts[int(w)] = dense[row, : int(batch.mask[row].sum())]
    cos = cosine_matrix(directions)
    out: dict[str, ForeignContexts] = {}
    for i, us in enumerate(units):
        kept: list[ForeignContext] = []
        for j in sorted((j for j in range(len(units)) if j != i), key=lambda j: (-cos[i, j], j)):
            for c in sources[j]:
                a = acts[c.window_index][: len(c.tokens)]
                if float(a[:, i].max()) > 0:
                    continue  # this unit fires there: not a negative
                src = a[:, j]
                top = float(src.max())
                marks = tuple(int(p) for p in torch.nonzero(src >= threshold * top).flatten()) if top > 0 else ()
                kept.append(ForeignContext(
                    context=c.model_copy(update={"activations": tuple(float(x) for x in a[:, i]), "kind": "random",
                                                 "level": -1}),
                    source_unit=units[j].unit.index, similarity=float(cos[i, j]), source_active=marks,
                ))
        out[us.unit.key] = ForeignContexts(unit=us.unit, contexts=tuple(kept))
    return out


def ordered_by_similarity(fc: ForeignContexts) -> list[int]:
    """Source units in the order their contexts appear (nearest first)."""
    seen: list[int] = []
    for c in fc.contexts:
        if c.source_unit not in seen:
            seen.append(c.source_unit)
    return seen


__all__ = ["cosine_matrix", "foreign_contexts", "ordered_by_similarity", "source_contexts"]
