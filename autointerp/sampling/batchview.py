"""What the sampler reads from one activation batch, from dense ``[B, T, U]`` or sparse non-zeros alike.

A batch gives the sampler three things: each window's max per unit (``wmax [B, U]``),
its non-zeros ``(row, position, unit, value)`` (statistics), and the per-token
activations of chosen (row, unit) pairs (the contexts it keeps). A dense batch
(neurons) is read directly; a sparse one (a TopK SAE's codes, never made
dense) gives all three from its non-zeros in O(non-zeros + B x U), which is what
makes sampling a wide SAE cheap next to its forward pass. Both give identical
numbers, bit for bit: the non-zeros come in the same (row, position) order, so
every per-unit sum adds the same values in the same order
(``tests/unit/test_sampling_sparse.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from autointerp.activations.source import ActivationBatch, SparseActivations
from autointerp.errors import InputError

NonZeros = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # (row, position, unit, value)


def window_maxima(acts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, U] max activation over the real tokens of each window."""
    wmax = acts.amax(dim=1)
    padded = (~mask).any(dim=1).nonzero().squeeze(1)
    if padded.numel():
        sub = acts[padded].masked_fill(~mask[padded].unsqueeze(2), float("-inf"))
        wmax[padded] = sub.amax(dim=1)
    return wmax


def sparse_window_maxima(sp: SparseActivations, lengths: torch.Tensor) -> torch.Tensor:
    """[B, U] max over real tokens from the non-zeros: a pair with fewer non-zeros than real tokens also has a 0."""
    B, _, U = sp.shape
    key = sp.rows * U + sp.units
    wmax = torch.full((B * U,), float("-inf"), dtype=sp.values.dtype)
    wmax.scatter_reduce_(0, key, sp.values, reduce="amax")
    count = torch.bincount(key, minlength=B * U).view(B, U)
    wmax = wmax.view(B, U)
    has_zero = count < lengths.unsqueeze(1)
    return torch.where(has_zero, wmax.clamp(min=0.0), wmax)


class _TokenGather:
    """Per-token activations [n, T] of (window row, unit) pairs of one batch [B, T, U].

    Sparse batches (SAE features) are rebuilt from the batch's non-zeros, sorted once per batch by (row, unit) and
    looked up by binary search: O(n log N + values) per call, nothing of size B x U; dense ones (neurons) are read
    directly. ``limit`` clamps values to what the storage type can hold (float16 tops out at 65504).
    """

    SPARSE = 0.05  # fraction of non-zeros below which a dense batch is read through its non-zeros

    def __init__(self, acts: torch.Tensor | None, nz: NonZeros, shape: tuple[int, int, int],
                 dtype: torch.dtype = torch.float32, limit: float | None = None):
        self.acts, self.shape, self.dtype, self.limit = acts, shape, dtype, limit
        b, t, u, vals = nz
        B, T, U = shape
        self.sparse = acts is None or vals.numel() < self.SPARSE * B * T * U
        if self.sparse:
            key = b * U + u
            order = torch.argsort(key, stable=True)
            self.key, self.t, self.vals = key[order], t[order], vals[order]
            if limit is not None:
                self.vals = self.vals.clamp(-limit, limit)

    def _limited(self, out: torch.Tensor) -> torch.Tensor:
        """A dense read, clamped in place to the storage's limit (``out`` is a fresh copy)."""
        return out if self.limit is None else out.clamp_(-self.limit, self.limit)

    def windows(self, rows: torch.Tensor) -> torch.Tensor:
        """``[n, T, U]``: every unit's per-token activations on batch rows ``rows``."""
        if not self.sparse:
            return self._limited(self.acts[rows])
        B, T, U = self.shape
        at = torch.full((B,), -1, dtype=torch.int64)
        at[rows] = torch.arange(rows.numel())
        which = at[torch.div(self.key, U, rounding_mode="floor")]
        hit = which >= 0
        out = torch.zeros(rows.numel(), T, U, dtype=self.dtype)
        out[which[hit], self.t[hit], self.key[hit] % U] = self.vals[hit]
        return out

    def __call__(self, rows: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        if not self.sparse:
            return self._limited(self.acts[rows, :, units])
        _, T, U = self.shape
        query = rows * U + units
        lo = torch.searchsorted(self.key, query)
        count = torch.searchsorted(self.key, query, right=True) - lo
        which = torch.repeat_interleave(torch.arange(query.numel()), count)
        first = torch.repeat_interleave(lo - (count.cumsum(0) - count), count)
        at = first + torch.arange(which.numel())
        out = torch.zeros(query.numel(), T, dtype=self.dtype)
        out[which, self.t[at]] = self.vals[at]
        return out


@dataclass(frozen=True, eq=False)
class BatchView:
    """The sampler's reading of one batch: shape, mask, window maxima, non-zeros and a per-token gather."""

    shape: tuple[int, int, int]  # (B, T, U)
    mask: torch.Tensor  # [B, T] bool
    wmax: torch.Tensor  # [B, U] max over real tokens
    nz: NonZeros  # the batch's non-zeros in (row, position) order
    gather: _TokenGather

    @classmethod
    def of(cls, batch: ActivationBatch, n_units: int, *, absolute: bool = False,
           limit: float | None = None) -> BatchView:
        """Validate ``batch`` against ``n_units`` and read it (``absolute``: the unit is |activation|; ``limit``:
        gathered values are clamped to +-limit, what the contexts' storage type can hold)."""
        mask, shape = batch.mask, batch.shape
        check_shapes(shape, mask, batch.window_indices, n_units)
        if batch.sparse is not None:
            sp = batch.sparse.abs() if absolute else batch.sparse
            wmax = sparse_window_maxima(sp, mask.sum(dim=1))
            nz = (sp.rows, sp.positions, sp.units, sp.values)
            return cls(shape, mask, wmax, nz, _TokenGather(None, nz, shape, sp.values.dtype, limit))
        acts = batch.activations.abs() if absolute else batch.activations
        wmax = window_maxima(acts, mask)  # the passes over all of [B, T, U] use every thread
        b, t, u = acts.nonzero(as_tuple=True)  # padded positions are 0
        nz = (b, t, u, acts[b, t, u])
        return cls(shape, mask, wmax, nz, _TokenGather(acts, nz, shape, acts.dtype, limit))


def check_shapes(shape: tuple[int, ...], mask: torch.Tensor, window_indices: np.ndarray, n_units: int) -> None:
    if len(shape) != 3 or shape[2] != n_units:
        raise InputError(f"activation batch: expected shape [B, T, {n_units}], got {list(shape)}")
    if tuple(mask.shape) != tuple(shape[:2]) or mask.dtype != torch.bool:
        raise InputError(f"activation mask: expected bool [{shape[0]}, {shape[1]}], got {mask.dtype} "
                         f"{list(mask.shape)}")
    if len(window_indices) != shape[0]:
        raise InputError(f"window_indices: expected {shape[0]} entries, got {len(window_indices)}")
