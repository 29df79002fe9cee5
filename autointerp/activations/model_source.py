"""The real :class:`~autointerp.activations.source.ActivationSource`: subject model + hook site(s) + dictionary.

Special tokens: windows hold content tokens only. Each window is wrapped in
the special tokens the tokenizer adds by default (``[CLS] ... [SEP]`` for
BERT, BOS for tokenizers that add one, nothing for SmolLM2), run through the
model, and the activations of those extra positions are dropped again, so
``activations[b, t]`` always belongs to ``window.token_ids[t]``.

:class:`MultiSource` reads several bases (e.g. SAE features at
``layers.6.resid_post`` and neurons at ``layers.6.mlp``) from ONE forward pass
that stops at the deepest hooked layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch

from autointerp.activations.device import resolve_device
from autointerp.activations.models import SubjectModel
from autointerp.activations.sae import Dictionary, check_width
from autointerp.activations.sites import HookSite, as_site, capture
from autointerp.activations.source import ActivationBatch, SparseActivations, TokenWindow
from autointerp.errors import ConfigError


def special_tokens(tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ids the tokenizer puts before and after a text by default (e.g. ``([CLS],), ([SEP],)`` for BERT)."""
    plain = tokenizer("hello", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return tuple(full[:start]), tuple(full[start + len(plain) :])
    return (), ()


@dataclass(frozen=True)
class Basis:
    """One set of units: a dictionary read at a hook site, optionally restricted to some unit indices."""

    site: HookSite
    dictionary: Dictionary
    units: tuple[int, ...] | None = None  # selected unit indices (columns of the output, in this order); None = all

    @property
    def n_units(self) -> int:
        return self.dictionary.d_sae if self.units is None else len(self.units)


def _batched(items: Iterable, n: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


class MultiSource:
    """Several bases from one forward pass per batch; ``batches`` yields one ActivationBatch per basis."""

    def __init__(
        self,
        subject: SubjectModel,
        bases: Sequence[Basis],
        device: str | torch.device | None = None,
        encode_dtype: torch.dtype = torch.float32,
        sparse: bool = False,
    ):
        if not bases:
            raise ConfigError("an activation source needs at least one basis")
        self.subject = subject
        self.device = resolve_device(device) if device is not None else subject.device
        self.encode_dtype = encode_dtype  # captured activations are cast to this before the dictionary encodes them
        if self.device != subject.device:
            subject.model.to(self.device)
        self.bases = [
            Basis(
                as_site(b.site).validate(subject),
                b.dictionary,
                None if b.units is None else tuple(int(u) for u in b.units),
            )
            for b in bases
        ]
        for b in self.bases:
            check_width(b.dictionary, b.site.width(subject), str(b.site))
            if b.units is not None and any(not 0 <= u < b.dictionary.d_sae for u in b.units):
                raise ConfigError(f"unit indices for {b.site} must be in 0..{b.dictionary.d_sae - 1}")
            if hasattr(b.dictionary, "to"):
                b.dictionary.to(self.device)
        self.sites = sorted({b.site for b in self.bases})
        self.prefix, self.suffix = special_tokens(subject.tokenizer)
        pad = subject.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else 0
        self.max_positions = getattr(subject.model.config, "max_position_embeddings", None)
        self._unit_index = [
            None if b.units is None else torch.tensor(b.units, dtype=torch.long, device=self.device) for b in self.bases
        ]
        # sparse: batches may come as their non-zeros (ActivationBatch.sparse), which is all the sampler needs;
        # off the CPU, any output sparse enough is turned into its non-zeros on the device before it crosses
        self.sparse = sparse
        self.sparse_transfer = sparse and self.device.type != "cpu"
        self._column_of = [None if b.units is None else column_lookup(b.units, b.dictionary.d_sae, self.device)
                           for b in self.bases]

    @property
    def n_units(self) -> tuple[int, ...]:
        """Units per basis, in the order of ``bases``."""
        return tuple(b.n_units for b in self.bases)

    def _inputs(self, windows: list[TokenWindow]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        T = max(len(w.token_ids) for w in windows)
        L = len(self.prefix) + T + len(self.suffix)
        if self.max_positions and L > self.max_positions:
            raise ConfigError(
                f"windows of {T} tokens plus special tokens exceed the model's "
                f"{self.max_positions} positions; use a smaller window"
            )
        ids = torch.full((len(windows), L), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(windows), L), dtype=torch.long)
        mask = torch.zeros((len(windows), T), dtype=torch.bool)
        for row, w in enumerate(windows):
            seq = (*self.prefix, *w.token_ids, *self.suffix)
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            attn[row, : len(seq)] = 1
            mask[row, : len(w.token_ids)] = True
        return ids, attn, mask

    def batches(self, windows: Iterable[TokenWindow], batch_size: int) -> Iterator[tuple[ActivationBatch, ...]]:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        p = len(self.prefix)
        for chunk in _batched(windows, batch_size):
            ids, attn, mask = self._inputs(chunk)
            T = mask.shape[1]
            acts = capture(self.subject, self.sites, ids, attn)
            indices = np.fromiter((w.index for w in chunk), dtype=np.int64, count=len(chunk))
            with torch.inference_mode():
                out = tuple(
                    self._encode(i, acts[basis.site][:, p : p + T].to(self.encode_dtype), mask, indices)
                    for i, basis in enumerate(self.bases)
                )
            yield out  # outside inference mode: what the consumer builds from it stays ordinary tensors

    def _encode(self, i: int, x: torch.Tensor, mask: torch.Tensor, indices: np.ndarray) -> ActivationBatch:
        """Basis ``i``'s activations on the captured ``x``, brought to the host.

        With ``sparse``: a TopK-style SAE's codes become coordinates without the dense ``[B, T, d_sae]``
        ever being built, and on a GPU any output sparse enough crosses to the host as its non-zeros.
        Otherwise (and for dense units such as neurons) the ``[B, T, U]`` of the selected units is copied."""
        basis, units = self.bases[i], self._unit_index[i]
        if self.sparse and self._column_of[i] is not False:
            codes = getattr(basis.dictionary, "encode_codes", lambda x: None)(x)
            if codes is not None:
                sp = code_coordinates(*codes, mask, self._column_of[i], basis.n_units)
                return ActivationBatch(window_indices=indices, activations=None, mask=mask, sparse=sp)
        f = basis.dictionary.encode(x, units).float()
        if self.sparse_transfer and int(torch.count_nonzero(f)) * SPARSE_BELOW < f.numel():
            sp = SparseActivations.from_dense(f, mask).cpu()
            return ActivationBatch(window_indices=indices, activations=None, mask=mask, sparse=sp)
        f = (f * mask.to(f.device).unsqueeze(-1)).cpu()
        return ActivationBatch(window_indices=indices, activations=f, mask=mask)


SPARSE_BELOW = 8  # a GPU output with under 1/8 non-zeros crosses as coordinates (3 int64 + 1 float32 each)


def column_lookup(units: Sequence[int], d_sae: int, device: torch.device) -> torch.Tensor | bool:
    """``[d_sae]`` column of each selected unit (-1: not selected); False when a unit is selected twice."""
    if len(set(units)) != len(units):
        return False
    out = torch.full((d_sae,), -1, dtype=torch.long, device=device)
    out[torch.tensor(units, dtype=torch.long, device=device)] = torch.arange(len(units), device=device)
    return out


def code_coordinates(indices: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                     column_of: torch.Tensor | None, n_units: int) -> SparseActivations:
    """Coordinates (on the host) of TopK codes ``indices, values [B, T, k]``: zeros, padded positions and
    unselected units dropped, in (row, position) order."""
    keep = (values != 0) & mask.to(values.device).unsqueeze(-1)
    if column_of is not None:
        indices = column_of[indices]
        keep &= indices >= 0
    b, t, j = keep.nonzero(as_tuple=True)
    B, T = mask.shape
    return SparseActivations(b, t, indices[b, t, j], values[b, t, j].float(), (B, T, n_units)).cpu()


class ModelActivationSource:
    """One basis (an SAE or the neurons at one hook site) as an :class:`ActivationSource`."""

    def __init__(
        self,
        subject: SubjectModel,
        site: HookSite | str,
        dictionary: Dictionary,
        units: Sequence[int] | None = None,
        device: str | torch.device | None = None,
        sparse: bool = False,
    ):
        self._multi = MultiSource(
            subject, [Basis(as_site(site), dictionary, None if units is None else tuple(units))], device,
            sparse=sparse,
        )
        self.site = self._multi.bases[0].site
        self.dictionary = dictionary
        self.n_units = self._multi.n_units[0]

    def batches(self, windows: Iterable[TokenWindow], batch_size: int) -> Iterator[ActivationBatch]:
        for (batch,) in self._multi.batches(windows, batch_size):
            yield batch
