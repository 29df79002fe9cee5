"""Contracts between the activation side and the sampler.

The corpus becomes a stream of :class:`TokenWindow` (fixed maximum length,
never crossing a document boundary). An :class:`ActivationSource` turns
batches of windows into unit activations ``[B, T, U]``; the sampler consumes
:class:`ActivationBatch` and never sees the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@dataclass(frozen=True)
class TokenWindow:
    """A run of at most ``window`` tokens from one document."""

    index: int  # global index of the window in the corpus stream (stable for a given corpus + tokenizer + window)
    doc_id: str  # id of the source document
    token_ids: tuple[int, ...]


@dataclass(frozen=True)
class SparseActivations:
    """The non-zero activations of a batch ``[B, T, U]`` as coordinates (a sparse code never made dense).

    Entries are ordered by (row, position); a (row, position, unit) appears at most once, every value is
    non-zero and every position is a real token of its window.
    """

    rows: torch.Tensor  # [N] int64 batch row b
    positions: torch.Tensor  # [N] int64 token position t
    units: torch.Tensor  # [N] int64 unit column u
    values: torch.Tensor  # [N] float32
    shape: tuple[int, int, int]  # (B, T, U)

    @classmethod
    def from_dense(cls, acts: torch.Tensor, mask: torch.Tensor) -> SparseActivations:
        """The non-zeros of ``acts [B, T, U]`` at real tokens (``mask``), on the device ``acts`` is on."""
        b, t, u = (acts * mask.to(acts.device).unsqueeze(-1)).nonzero(as_tuple=True)
        return cls(b, t, u, acts[b, t, u].float(), tuple(acts.shape))

    def cpu(self) -> SparseActivations:
        return SparseActivations(self.rows.cpu(), self.positions.cpu(), self.units.cpu(), self.values.cpu(),
                                 self.shape)

    def dense(self) -> torch.Tensor:
        out = torch.zeros(self.shape, dtype=self.values.dtype)
        out[self.rows, self.positions, self.units] = self.values
        return out

    def abs(self) -> SparseActivations:
        return SparseActivations(self.rows, self.positions, self.units, self.values.abs(), self.shape)


@dataclass(frozen=True)
class ActivationBatch:
    """Activations of the selected units on a batch of windows: dense, or (``sparse``) as their non-zeros only.

    Read them with :meth:`dense` unless the reader handles :class:`SparseActivations` itself (the sampler does).
    """

    window_indices: np.ndarray  # [B] int64, TokenWindow.index of each row
    activations: torch.Tensor | None  # [B, T, U] float32 on CPU; padded positions are 0 (None when sparse)
    mask: torch.Tensor  # [B, T] bool; True where there is a real token
    sparse: SparseActivations | None = None

    def __post_init__(self) -> None:
        if (self.activations is None) == (self.sparse is None):
            raise ValueError("an ActivationBatch holds either dense activations or sparse ones, exactly one")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.sparse.shape if self.sparse is not None else tuple(self.activations.shape)

    def dense(self) -> torch.Tensor:
        """``[B, T, U]`` activations (built from the non-zeros for a sparse batch)."""
        return self.activations if self.sparse is None else self.sparse.dense()

    @classmethod
    def cat(cls, batches: Sequence[ActivationBatch]) -> ActivationBatch:
        """One batch of the rows of ``batches`` in order (shorter windows padded); sparse if all of them are."""
        if len(batches) == 1:
            return batches[0]
        T = max(b.shape[1] for b in batches)
        U = batches[0].shape[2]
        indices = np.concatenate([b.window_indices for b in batches])
        mask = torch.cat([torch.nn.functional.pad(b.mask, (0, T - b.mask.shape[1])) for b in batches])
        if all(b.sparse is not None for b in batches):
            offsets = np.cumsum([0] + [b.shape[0] for b in batches[:-1]])
            parts = [b.sparse for b in batches]
            sparse = SparseActivations(
                torch.cat([p.rows + int(o) for p, o in zip(parts, offsets, strict=True)]),
                torch.cat([p.positions for p in parts]),
                torch.cat([p.units for p in parts]),
                torch.cat([p.values for p in parts]),
                (len(indices), T, U),
            )
            return cls(indices, None, mask, sparse=sparse)
        acts = torch.cat([torch.nn.functional.pad(b.dense(), (0, 0, 0, T - b.shape[1])) for b in batches])
        return cls(indices, acts, mask)


@runtime_checkable
class ActivationSource(Protocol):
    """Anything that maps token windows to unit activations (model + hook site + dictionary, or synthetic)."""

    n_units: int  # U: number of selected units (columns of ActivationBatch.activations)

    def batches(self, windows: Iterable[TokenWindow], batch_size: int) -> Iterator[ActivationBatch]: ...
