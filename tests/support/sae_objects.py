"""In-memory SAE objects shaped like the peer libraries' classes, without the libraries (for the Python API tests).

- :class:`SAELensStyleSAE` - SAELens 6 ``SAE``: ``cfg`` (a dataclass-like object with ``to_dict()``, the same dict
  ``cfg.json`` holds) and the parameters ``W_enc [d_in, d_sae]``, ``b_enc``, ``W_dec [d_sae, d_in]``, ``b_dec``.
- :class:`SparsifyStyleSae` - sparsify ``SparseCoder``: ``cfg.to_dict()`` without ``d_in``, a ``d_in`` attribute,
  ``encoder`` (``nn.Linear``), ``W_dec [num_latents, d_in]``, ``b_dec``.
- :class:`BareEncoder` - any ``nn.Module`` with ``encode(x)``: ``relu((x - b_dec) @ W_enc + b_enc)``, and ``W_dec``.

Each has ``save(folder)`` writing the same weights in its library's on-disk layout (tests/support/peer_checkpoints.py).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from tests.support.peer_checkpoints import write_saelens, write_sparsify


class _Cfg:
    def __init__(self, data: dict):
        self._data = dict(data)
        for k, v in data.items():
            setattr(self, k, v)

    def to_dict(self) -> dict:
        return dict(self._data)


def _param(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone())


class SAELensStyleSAE(nn.Module):
    def __init__(self, cfg: dict, w: dict):
        super().__init__()
        self.cfg = _Cfg(cfg)
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            setattr(self, name, _param(w[name]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def save(self, folder: Path) -> Path:
        return write_saelens(folder, self.cfg.to_dict(), {k: v.detach() for k, v in self.state_dict().items()})


class SparsifyStyleSae(nn.Module):
    def __init__(self, cfg: dict, w: dict):
        super().__init__()
        self.cfg = _Cfg({k: v for k, v in cfg.items() if k != "d_in"})
        self.d_in, d_sae = w["W_enc"].shape
        self.num_latents = d_sae
        self.encoder = nn.Linear(self.d_in, d_sae)
        self.encoder.weight.data = w["W_enc"].T.contiguous().clone()
        self.encoder.bias.data = w["b_enc"].clone()
        self.W_dec = _param(w["W_dec"])
        self.b_dec = _param(w["b_dec"])

    def save(self, folder: Path) -> Path:
        w = {"W_enc": self.encoder.weight.detach().T, "b_enc": self.encoder.bias.detach(),
             "W_dec": self.W_dec.detach(), "b_dec": self.b_dec.detach()}  # fmt: skip
        return write_sparsify(folder, {**self.cfg.to_dict(), "d_in": self.d_in}, w)


class BareEncoder(nn.Module):
    """No config, no library: just encode (and W_dec for the units' directions)."""

    def __init__(self, w: dict):
        super().__init__()
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            setattr(self, name, _param(w[name]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def save(self, folder: Path) -> Path:
        """A bare safetensors file (read as ReLU, b_dec subtracted: the same encoding)."""
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(folder / "bare.safetensors"))
        return folder / "bare.safetensors"


def dictionary_learning_object(dict_class: str, state_dict: dict) -> nn.Module:
    """A module of class ``dict_class`` (``AutoEncoderTopK`` ...) holding ``state_dict`` under the same names, as a
    dictionary_learning dictionary does (tensors of sub-modules under dotted names)."""
    module = type(dict_class, (nn.Module,), {})()
    for key, value in state_dict.items():
        owner, _, leaf = key.rpartition(".")
        holder = module
        if owner:
            if not hasattr(module, owner):
                module.add_module(owner, nn.Module())
            holder = getattr(module, owner)
        if value.is_floating_point() and value.ndim > 0:
            holder.register_parameter(leaf, _param(value))
        else:
            holder.register_buffer(leaf, value.clone())
    return module
