"""Dictionaries: SAEs (ReLU, TopK, JumpReLU) and the identity dictionary for neurons.

Every basis goes through the same code path: ``encode(x)`` maps activations
``[..., d_in]`` to unit activations ``[..., d_sae]``. Neurons are the
:class:`IdentityDict`, so features and neurons are sampled identically.

Encoding of :class:`SparseAutoencoder`::

    x   -> normalise (optional, SAELens ``normalize_activations``)
        -> x - b_dec                (when ``subtract_b_dec``)
    pre =  x @ W_enc + b_enc
    f   =  activation(pre)          (ReLU / TopK(k) / JumpReLU(threshold))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from autointerp.errors import ConfigError, InputError
from autointerp.registry import Registry


@runtime_checkable
class Dictionary(Protocol):
    """A basis of units over activations of width ``d_in``."""

    d_in: int  # width of the activations it reads (must equal the hook site's width)
    d_sae: int  # number of units

    def encode(self, x: torch.Tensor, units: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """``[..., d_in] -> [..., d_sae]`` (or ``[..., len(units)]`` when ``units`` is given)."""
        ...

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """``[..., d_sae] -> [..., d_in]``."""
        ...


def _check_width(x: torch.Tensor, d_in: int, what: str) -> None:
    if x.shape[-1] != d_in:
        raise InputError(f"{what} expects activations of width {d_in}, got {x.shape[-1]}")


def _as_index(units, device) -> torch.Tensor:
    return torch.as_tensor(units, dtype=torch.long, device=device)


class IdentityDict:
    """Neurons as a dictionary: every dimension of the hook site is one unit."""

    def __init__(self, d: int):
        if d < 1:
            raise ConfigError(f"IdentityDict width must be >= 1, got {d}")
        self.d_in = self.d_sae = int(d)

    def encode(self, x: torch.Tensor, units: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        _check_width(x, self.d_in, "neuron basis")
        return x if units is None else x.index_select(-1, _as_index(units, x.device))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        _check_width(f, self.d_sae, "neuron basis")
        return f

    def __repr__(self) -> str:
        return f"IdentityDict({self.d_in})"


# ---------------------------------------------------------------- activation functions


class Activation(Protocol):
    """Maps pre-activations ``[..., d_sae]`` to feature activations; ``elementwise`` ones allow column selection."""

    elementwise: bool

    def __call__(self, pre: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor: ...


@dataclass(frozen=True)
class ReLU:
    elementwise = True

    def __call__(self, pre: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(pre)


@dataclass(frozen=True)
class TopK:
    """Keep the k largest pre-activations per token (then ReLU), zero the rest."""

    k: int
    elementwise = False

    def __call__(self, pre: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        values, indices = pre.topk(min(self.k, pre.shape[-1]), dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(-1, indices, torch.relu(values))


@dataclass(frozen=True, eq=False)
class JumpReLU:
    """``pre * (pre > threshold)`` with a per-unit threshold (then ReLU)."""

    threshold: torch.Tensor  # [d_sae]
    elementwise = True

    def __call__(self, pre: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        thr = self.threshold if units is None else self.threshold.index_select(0, units)
        return torch.relu(pre * (pre > thr))


SAE_ARCHITECTURES: Registry[Callable[..., Activation]] = Registry("SAE architecture")
SAE_ARCHITECTURES.add("relu", lambda **kw: ReLU())
SAE_ARCHITECTURES.add("topk", lambda k=None, **kw: TopK(_need_k(k)))
SAE_ARCHITECTURES.add("jumprelu", lambda threshold=None, **kw: JumpReLU(_need(threshold, "threshold")))


def _need_k(k) -> int:
    if k is None or int(k) < 1:
        raise ConfigError(f"TopK SAE needs k >= 1, got {k!r}")
    return int(k)


def _need(value, name):
    if value is None:
        raise InputError(f"SAE architecture needs tensor {name!r}, which the checkpoint does not have")
    return value


# ---------------------------------------------------------------- input normalisation (SAELens)

INPUT_NORMS: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("SAE input normalisation")
INPUT_NORMS.add("none", lambda x: x)
# SAELens folds the dataset-wide scale into the weights when it saves, so nothing is left to do at inference.
INPUT_NORMS.add("expected_average_only_in", lambda x: x)
INPUT_NORMS.add(
    "constant_norm_rescale", lambda x: x * (x.shape[-1] ** 0.5) / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
)
INPUT_NORMS.add(
    "layer_norm",
    lambda x: (x - x.mean(-1, keepdim=True)) / ((x - x.mean(-1, keepdim=True)).std(-1, keepdim=True) + 1e-5),
)


# ---------------------------------------------------------------- the SAE


class SparseAutoencoder:
    """A one-layer SAE in the common ``W_enc [d_in, d_sae]`` / ``W_dec [d_sae, d_in]`` layout."""

    def __init__(
        self,
        W_enc: torch.Tensor,
        b_enc: torch.Tensor | None,
        W_dec: torch.Tensor | None,
        b_dec: torch.Tensor | None,
        activation: Activation,
        *,
        subtract_b_dec: bool = True,
        input_norm: str = "none",
        architecture: str = "relu",
        source: str = "SAE",
    ):
        if W_enc.ndim != 2:
            raise InputError(f"{source}: W_enc must be 2-D [d_in, d_sae], got shape {tuple(W_enc.shape)}")
        self.d_in, self.d_sae = (int(n) for n in W_enc.shape)
        self.source = source  # where it came from, for error messages
        self.architecture = architecture  # "relu" | "topk" | "jumprelu" (key of SAE_ARCHITECTURES)
        self.W_enc = W_enc.float()
        self.b_enc = _vec(b_enc, self.d_sae, "b_enc", source)
        self.b_dec = _vec(b_dec, self.d_in, "b_dec", source)
        if W_dec is not None and tuple(W_dec.shape) != (self.d_sae, self.d_in):
            raise InputError(f"{source}: W_dec has shape {tuple(W_dec.shape)}, expected {(self.d_sae, self.d_in)}")
        self.W_dec = None if W_dec is None else W_dec.float()
        if isinstance(activation, JumpReLU):  # a scalar threshold (BatchTopK) applies to every unit
            thr = activation.threshold.float().reshape(-1)
            activation = JumpReLU(
                _vec(thr.expand(self.d_sae).clone() if thr.numel() == 1 else thr, self.d_sae, "threshold", source)
            )
        self.activation = activation
        self.subtract_b_dec = subtract_b_dec  # subtract b_dec from the input before encoding
        self.input_norm = input_norm  # key of INPUT_NORMS
        self._norm = INPUT_NORMS.get(input_norm)

    @property
    def k(self) -> int | None:
        return self.activation.k if isinstance(self.activation, TopK) else None

    def to(self, device: str | torch.device) -> SparseAutoencoder:
        """Move every tensor to ``device`` (in place); returns self."""
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).to(device))
        if isinstance(self.activation, JumpReLU):
            self.activation = JumpReLU(self.activation.threshold.to(device))
        return self

    def pre_activations(self, x: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        _check_width(x, self.d_in, self.source)
        x = self._norm(x.float())
        if self.subtract_b_dec:
            x = x - self.b_dec
        if units is None:
            return x @ self.W_enc + self.b_enc
        return x @ self.W_enc.index_select(1, units) + self.b_enc.index_select(0, units)

    def encode(self, x: torch.Tensor, units: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        if units is None:
            return self.activation(self.pre_activations(x))
        idx = _as_index(units, x.device)
        if self.activation.elementwise:  # only the selected columns are computed
            return self.activation(self.pre_activations(x, idx), idx)
        return self.activation(self.pre_activations(x)).index_select(-1, idx)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        if self.W_dec is None:
            raise InputError(f"{self.source} has no decoder weights")
        _check_width(f, self.d_sae, self.source)
        return f.float() @ self.W_dec + self.b_dec

    def __repr__(self) -> str:
        extra = f", k={self.k}" if self.k else ""
        return f"SparseAutoencoder({self.architecture}, d_in={self.d_in}, d_sae={self.d_sae}{extra})"


def _vec(t: torch.Tensor | None, n: int, name: str, source: str) -> torch.Tensor:
    if t is None:
        return torch.zeros(n)
    t = t.float()
    if tuple(t.shape) != (n,):
        raise InputError(f"{source}: {name} has shape {tuple(t.shape)}, expected ({n},)")
    return t


def make_sae(
    architecture: str,
    W_enc,
    b_enc,
    W_dec,
    b_dec,
    *,
    k: int | None = None,
    threshold: torch.Tensor | None = None,
    **kwargs,
) -> SparseAutoencoder:
    """Build an SAE of a registered architecture (``relu``, ``topk``, ``jumprelu``)."""
    activation = SAE_ARCHITECTURES.get(architecture)(k=k, threshold=threshold)
    return SparseAutoencoder(W_enc, b_enc, W_dec, b_dec, activation, architecture=architecture, **kwargs)


def check_width(dictionary: Dictionary, width: int, site: str) -> None:
    """Fail clearly when a dictionary does not read activations of the hook site's width."""
    if dictionary.d_in != width:
        src = getattr(dictionary, "source", type(dictionary).__name__)
        raise InputError(
            f"{src} reads activations of width d_in={dictionary.d_in}, but hook site {site} has width {width}"
        )
