"""Contracts between the activation side and the sampler.

The corpus becomes a stream of :class:`TokenWindow` (fixed maximum length,
never crossing a document boundary). An :class:`ActivationSource` turns
batches of windows into unit activations ``[B, T, U]``; the sampler consumes
:class:`ActivationBatch` and never sees the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
class ActivationBatch:
    """Activations of the selected units on a batch of windows."""

    window_indices: np.ndarray  # [B] int64, TokenWindow.index of each row
    activations: torch.Tensor  # [B, T, U] float32 on CPU; padded positions are 0
    mask: torch.Tensor  # [B, T] bool; True where there is a real token


@runtime_checkable
class ActivationSource(Protocol):
    """Anything that maps token windows to unit activations (model + hook site + dictionary, or synthetic)."""

    n_units: int  # U: number of selected units (columns of ActivationBatch.activations)

    def batches(self, windows: Iterable[TokenWindow], batch_size: int) -> Iterator[ActivationBatch]: ...
