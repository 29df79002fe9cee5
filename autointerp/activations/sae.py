"""Dictionaries: SAEs and the identity dictionary for neurons.

Every basis goes through the same code path: ``encode(x)`` maps activations
``[..., d_in]`` to unit activations ``[..., d_sae]``. Neurons are the
:class:`IdentityDict`, so features and neurons are sampled identically.

Encoding of :class:`SparseAutoencoder` (each step is a field; the checkpoint readers in
``sae_formats`` set them from the config keys of the library that wrote the checkpoint)::

    x'  =  input_norm.apply(x)                      SAELens normalize_activations
    x'  =  x' - b_dec                               when subtract_b_dec (SAELens apply_b_dec_to_input)
    pre =  x' @ W_enc + b_enc
    pre =  pre * pre_scale                          SAELens TopK rescale_acts_by_decoder_norm (= ||W_dec[i]||)
    f   =  activation(pre)                          ReLU / tanh-ReLU / TopK(k) / signed TopK / GroupMax / JumpReLU
    f   =  f * (x' @ W_gate + b_gate > 0)           gated SAEs (W_enc, b_enc are then the magnitude path)

and decoding undoes it::

    y   =  (f / pre_scale * dec_scale) @ W_dec + b_dec
    y   =  input_norm.undo(y, x)                    needs the input x for per-token norms (layer_norm, ...)
    y   =  y + x @ W_skip.T                         sparsify skip_connection (needs x)
"""

from __future__ import annotations

import math
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

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """``[..., d_sae] -> [..., d_in]``; ``x`` is the input ``f`` was encoded from (per-token norms need it)."""
        ...


def _check_width(x: torch.Tensor, d_in: int, what: str) -> None:
    if x.shape[-1] != d_in:
        raise InputError(f"{what} expects activations of width {d_in}, got {x.shape[-1]}")


def _as_index(units, device) -> torch.Tensor:
    return torch.as_tensor(units, dtype=torch.long, device=device)


class IdentityDict:
    """Neurons as a dictionary: every dimension of the hook site is one unit."""

    summary = "neurons (identity dictionary)"

    def __init__(self, d: int):
        if d < 1:
            raise ConfigError(f"IdentityDict width must be >= 1, got {d}")
        self.d_in = self.d_sae = int(d)

    def encode(self, x: torch.Tensor, units: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        _check_width(x, self.d_in, "neuron basis")
        return x if units is None else x.index_select(-1, _as_index(units, x.device))

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        _check_width(f, self.d_sae, "neuron basis")
        return f

    def write_direction(self, unit: int) -> torch.Tensor:
        """The direction unit ``unit`` adds to the site per unit of activation."""
        return torch.nn.functional.one_hot(torch.tensor(int(unit)), self.d_in).float()

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
class TanhReLU:
    """``tanh(relu(pre))``: SAELens < 6 ``activation_fn: tanh-relu``."""

    elementwise = True

    def __call__(self, pre: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(torch.relu(pre))


class _FromCodes:
    """An activation that keeps k units per token: ``codes(pre)`` gives their ``(indices, values)`` ``[..., k]``
    (the activation without its zeros); calling it scatters them into the dense ``[..., d_sae]``."""

    elementwise = False

    def codes(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __call__(self, pre: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        indices, values = self.codes(pre)
        return torch.zeros_like(pre).scatter_(-1, indices, values)


@dataclass(frozen=True)
class TopK(_FromCodes):
    """Keep the k largest pre-activations per token (then ReLU), zero the rest."""

    k: int

    def codes(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values, indices = pre.topk(min(self.k, pre.shape[-1]), dim=-1, sorted=False)
        return indices, torch.relu(values)


@dataclass(frozen=True)
class SignedTopK(_FromCodes):
    """Keep the k pre-activations of largest magnitude, with their sign (EleutherAI sae ``signed: true``)."""

    k: int

    def codes(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        indices = pre.abs().topk(min(self.k, pre.shape[-1]), dim=-1, sorted=False).indices
        return indices, pre.gather(-1, indices)


@dataclass(frozen=True)
class GroupMax:
    """sparsify ``activation: groupmax``: ReLU, then the max of each of k contiguous groups of latents."""

    k: int
    elementwise = False

    def __call__(self, pre: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        acts = torch.relu(pre)
        values, idx = acts.unflatten(-1, (self.k, -1)).max(dim=-1)
        offsets = torch.arange(0, acts.shape[-1], acts.shape[-1] // self.k, device=acts.device)
        return torch.zeros_like(acts).scatter_(-1, idx + offsets, values)


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
SAE_ARCHITECTURES.add("tanh_relu", lambda **kw: TanhReLU())
SAE_ARCHITECTURES.add("topk", lambda k=None, **kw: TopK(_need_k(k)))
SAE_ARCHITECTURES.add("signed_topk", lambda k=None, **kw: SignedTopK(_need_k(k)))
SAE_ARCHITECTURES.add("groupmax", lambda k=None, **kw: GroupMax(_need_k(k)))
SAE_ARCHITECTURES.add("jumprelu", lambda threshold=None, **kw: JumpReLU(_need(threshold, "threshold")))
SAE_ARCHITECTURES.add("gated", lambda **kw: ReLU())  # the magnitude path; the gate is SparseAutoencoder.gate


def _need_k(k) -> int:
    if k is None or int(k) != k or int(k) < 1:
        raise ConfigError(f"TopK SAE needs k (an integer >= 1), got {k!r}")
    return int(k)


def _need(value, name):
    if value is None:
        raise InputError(f"SAE architecture needs tensor {name!r}, which the checkpoint does not have")
    return value


# ---------------------------------------------------------------- input normalisation (SAELens)


class InputNorm(Protocol):
    """How an SAE normalises its input before encoding, and how decoding undoes it."""

    name: str  # SAELens ``normalize_activations`` value
    per_token: bool  # undo needs the input x (its per-token statistics)

    def apply(self, x: torch.Tensor) -> torch.Tensor: ...

    def undo(self, y: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor: ...


@dataclass(frozen=True)
class NoNorm:
    name: str = "none"
    per_token = False

    def apply(self, x):
        return x

    def undo(self, y, x):
        return y


@dataclass(frozen=True)
class ScaleNorm:
    """``x * scale``: SAELens ``expected_average_only_in`` with the dataset scaling factor not folded in yet."""

    scale: float
    name: str = "expected_average_only_in"
    per_token = False

    def apply(self, x):
        return x * self.scale

    def undo(self, y, x):
        return y / self.scale


def _norm_coeff(x: torch.Tensor) -> torch.Tensor:
    # SAELens: sqrt(d_in) / ||x||; an all-zero row (where SAELens gives NaN) is left at zero instead
    return (x.shape[-1] ** 0.5) / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


@dataclass(frozen=True)
class ConstantNormRescale:
    """Each token rescaled to norm sqrt(d_in); decoding divides by the same per-token factor."""

    name: str = "constant_norm_rescale"
    per_token = True

    def apply(self, x):
        return x * _norm_coeff(x)

    def undo(self, y, x):
        return y / _norm_coeff(x)


@dataclass(frozen=True)
class LayerNormNoAffine:
    """SAELens ``layer_norm``: ``(x - mean) / (std + 1e-5)`` (unbiased std); decoding ``y * std + mean``."""

    name: str = "layer_norm"
    per_token = True
    eps: float = 1e-5

    @staticmethod
    def _stats(x):
        mu = x.mean(dim=-1, keepdim=True)
        return mu, (x - mu).std(dim=-1, keepdim=True)

    def apply(self, x):
        mu, std = self._stats(x)
        return (x - mu) / (std + self.eps)

    def undo(self, y, x):
        mu, std = self._stats(x)
        return y * std + mu


INPUT_NORMS: Registry[Callable[..., InputNorm]] = Registry("SAE input normalisation")
INPUT_NORMS.add("none", lambda scale=None: NoNorm())
INPUT_NORMS.add("expected_average_only_in", lambda scale=None: ScaleNorm(float(_need(scale, "scaling_factor"))))
INPUT_NORMS.add("constant_norm_rescale", lambda scale=None: ConstantNormRescale())
INPUT_NORMS.add("layer_norm", lambda scale=None: LayerNormNoAffine())


# ---------------------------------------------------------------- the SAE


class SparseAutoencoder:
    """A one-layer SAE in the common ``W_enc [d_in, d_sae]`` / ``W_dec [d_sae, d_in]`` layout (see module doc)."""

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
        input_scale: float | None = None,
        pre_scale: torch.Tensor | None = None,
        dec_scale: torch.Tensor | None = None,
        gate: tuple[torch.Tensor, torch.Tensor] | None = None,
        W_skip: torch.Tensor | None = None,
        transcoder: bool = False,
        architecture: str = "relu",
        source: str = "SAE",
    ):
        if W_enc.ndim != 2:
            raise InputError(f"{source}: W_enc must be 2-D [d_in, d_sae], got shape {tuple(W_enc.shape)}")
        self.d_in, self.d_sae = (int(n) for n in W_enc.shape)
        self.source = source  # where it came from, for error messages
        self.architecture = architecture  # key of SAE_ARCHITECTURES
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
        k = getattr(activation, "k", None)
        if k is not None and not 1 <= int(k) <= self.d_sae:
            raise InputError(
                f"{source}: k={k} but the SAE has d_sae={self.d_sae} latents; expected 1 <= k <= d_sae "
                "(a TopK SAE keeps k latents per token)"
            )
        if isinstance(activation, GroupMax) and self.d_sae % activation.k:
            raise InputError(f"{source}: groupmax needs d_sae ({self.d_sae}) divisible by k ({activation.k})")
        self.activation = activation
        self.subtract_b_dec = subtract_b_dec  # subtract b_dec from the input before encoding
        self.input_norm: InputNorm = INPUT_NORMS.get(input_norm)(scale=input_scale)
        self.pre_scale = None if pre_scale is None else _vec(pre_scale, self.d_sae, "pre_scale", source)
        self.dec_scale = None if dec_scale is None else _vec(dec_scale, self.d_sae, "scaling_factor", source)
        self.gate = None
        if gate is not None:
            W_gate, b_gate = gate
            if tuple(W_gate.shape) != (self.d_in, self.d_sae):
                raise InputError(
                    f"{source}: gate weights have shape {tuple(W_gate.shape)}, expected {tuple(W_enc.shape)}"
                )
            self.gate = (W_gate.float(), _vec(b_gate, self.d_sae, "b_gate", source))
        if W_skip is not None and tuple(W_skip.shape) != (self.d_in, self.d_in):
            raise InputError(f"{source}: W_skip has shape {tuple(W_skip.shape)}, expected {(self.d_in, self.d_in)}")
        self.W_skip = None if W_skip is None else W_skip.float()
        self.transcoder = transcoder  # decode predicts another site (the module's output), not x
        self.hook_name: str | None = None  # the hook the checkpoint says it was trained on (library notation)
        self.hook_layer: int | None = None  # the layer only, when that is all the checkpoint states
        self.format: str | None = None  # the checkpoint format it was read from (sae_formats)
        self.summary = f"{architecture} d_in {self.d_in} d_sae {self.d_sae}"  # readers add what they read/assumed
        _check_finite(self)

    @property
    def k(self) -> int | None:
        return getattr(self.activation, "k", None)

    def _tensor_fields(self) -> dict[str, torch.Tensor]:
        out = {n: getattr(self, n) for n in ("W_enc", "b_enc", "W_dec", "b_dec", "pre_scale", "dec_scale", "W_skip")}
        if isinstance(self.activation, JumpReLU):
            out["threshold"] = self.activation.threshold
        if self.gate is not None:
            out["W_gate"], out["b_gate"] = self.gate
        return {n: t for n, t in out.items() if t is not None}

    def to(self, device: str | torch.device) -> SparseAutoencoder:
        """Move every tensor to ``device`` (in place); returns self."""
        for name in ("W_enc", "b_enc", "W_dec", "b_dec", "pre_scale", "dec_scale", "W_skip"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).to(device))
        if isinstance(self.activation, JumpReLU):
            self.activation = JumpReLU(self.activation.threshold.to(device))
        if self.gate is not None:
            self.gate = (self.gate[0].to(device), self.gate[1].to(device))
        return self

    def sae_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input as the encoder sees it: normalised, minus b_dec when the SAE subtracts it."""
        _check_width(x, self.d_in, self.source)
        x = self.input_norm.apply(x.float())
        return x - self.b_dec if self.subtract_b_dec else x

    def pre_activations(self, x: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        return self._pre(self.sae_input(x), units)

    def _pre(self, sae_in: torch.Tensor, units: torch.Tensor | None) -> torch.Tensor:
        pre = _affine(sae_in, self.W_enc, self.b_enc, units)
        if self.pre_scale is not None:
            pre = pre * (self.pre_scale if units is None else self.pre_scale.index_select(0, units))
        return pre

    def encode(self, x: torch.Tensor, units: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        sae_in = self.sae_input(x)
        idx = None if units is None else _as_index(units, x.device)
        cols = idx if self.activation.elementwise else None  # only the selected columns are computed
        f = self.activation(self._pre(sae_in, cols), cols)
        if self.gate is not None:
            f = f * (_affine(sae_in, *self.gate, cols) > 0)
        return f if idx is None or cols is not None else f.index_select(-1, idx)

    def encode_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(indices, values)`` ``[..., k]`` such that ``encode(x)`` is zero elsewhere, for TopK-style SAEs whose
        activation can give them (the dense ``[..., d_sae]`` output is then never built); None for the others."""
        codes = getattr(self.activation, "codes", None)
        if codes is None or self.gate is not None:
            return None
        return codes(self._pre(self.sae_input(x), None))

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction of ``x`` from ``f = encode(x)``, in the input's space (normalisation undone).

        ``x`` is required when the SAE normalises per token or has a skip connection."""
        if self.W_dec is None:
            raise InputError(f"{self.source} has no decoder weights")
        _check_width(f, self.d_sae, self.source)
        if x is None and (self.input_norm.per_token or self.W_skip is not None):
            why = f"normalize_activations={self.input_norm.name}" if self.input_norm.per_token else "skip_connection"
            raise InputError(f"{self.source}: decoding needs the input x ({why} depends on it)")
        y = (f.float() * self._decode_multiplier()) @ self.W_dec + self.b_dec
        y = self.input_norm.undo(y, None if x is None else x.float())
        if self.W_skip is not None:
            y = y + x.float() @ self.W_skip.T
        return y

    def _decode_multiplier(self) -> torch.Tensor | float:
        mult: torch.Tensor | float = 1.0
        if self.pre_scale is not None:  # a zero-norm row never fires (pre * 0); avoid 0/0
            mult = 1.0 / torch.where(self.pre_scale == 0, torch.ones_like(self.pre_scale), self.pre_scale)
        if self.dec_scale is not None:
            mult = mult * self.dec_scale
        return mult

    def write_direction(self, unit: int) -> torch.Tensor:
        """What unit ``unit`` adds to the decoder's output per unit of activation (before any per-token norm undo)."""
        if self.W_dec is None:
            raise InputError(f"{self.source} has no decoder weights")
        mult = self._decode_multiplier()
        scale = mult[unit] if isinstance(mult, torch.Tensor) else mult
        y = self.W_dec[unit] * scale
        return self.input_norm.undo(y, None) if not self.input_norm.per_token else y

    def __repr__(self) -> str:
        extra = f", k={self.k}" if self.k else ""
        return f"SparseAutoencoder({self.architecture}, d_in={self.d_in}, d_sae={self.d_sae}{extra})"


def _affine(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, units: torch.Tensor | None) -> torch.Tensor:
    # the bias is added in place: the same values as ``x @ W + b``, without a second [..., d_sae] buffer
    if units is None:
        return (x @ W).add_(b)
    return (x @ W.index_select(1, units)).add_(b.index_select(0, units))


def _vec(t: torch.Tensor | None, n: int, name: str, source: str) -> torch.Tensor:
    if t is None:
        return torch.zeros(n)
    t = torch.as_tensor(t).float()
    if tuple(t.shape) != (n,):
        raise InputError(f"{source}: {name} has shape {tuple(t.shape)}, expected ({n},)")
    return t


def _check_finite(sae: SparseAutoencoder) -> None:
    for name, t in sae._tensor_fields().items():
        bad = int((~torch.isfinite(t)).sum())
        if bad:
            raise InputError(
                f"{sae.source}: tensor {name} has {bad} NaN/inf value(s) of {t.numel()}; "
                "refusing to encode with it (its units would look dead or poison every unit)"
            )
    scale = getattr(sae.input_norm, "scale", 1.0)
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"{sae.source}: input scaling factor must be finite and > 0, got {scale}")


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
    """Build an SAE of a registered architecture (``relu``, ``topk``, ``jumprelu``, ``gated`` with ``gate=``, ...)."""
    activation = SAE_ARCHITECTURES.get(architecture)(k=k, threshold=threshold)
    if (architecture == "gated") != (kwargs.get("gate") is not None):
        raise ConfigError("a gated SAE needs gate=(W_gate, b_gate), and only a gated SAE takes one")
    return SparseAutoencoder(W_enc, b_enc, W_dec, b_dec, activation, architecture=architecture, **kwargs)


def check_width(dictionary: Dictionary, width: int, site: str) -> None:
    """Fail clearly when a dictionary does not read activations of the hook site's width."""
    if dictionary.d_in != width:
        src = getattr(dictionary, "source", type(dictionary).__name__)
        raise InputError(
            f"{src} reads activations of width d_in={dictionary.d_in}, but hook site {site} has width {width}"
        )
