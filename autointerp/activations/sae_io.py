"""Shared pieces of the SAE checkpoint readers: the format record, safe tensor/JSON reading, key audits.

Every reader declares, per config key of the library it reads, whether autointerp *implements* it
(reads it and encodes/decodes accordingly, or refuses values it cannot honour) or *ignores* it for a
stated reason (training-only, metadata). A key in neither list might change encoding, so the reader
refuses the checkpoint with one line naming the key: nothing is ever encoded with such a key ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autointerp.activations.sae import SparseAutoencoder
from autointerp.errors import ConfigError, InputError


@dataclass(frozen=True)
class SaeFormat:
    """One checkpoint layout: how to recognise it, how to load it, and which config keys it honours."""

    detect: Callable[[Path], bool]  # does this folder look like this format?
    load: Callable[..., SparseAutoencoder]  # (path, k=None, architecture=None) -> SAE
    keys: KeyPolicy | None = None  # its config keys (None: the format has no config file)
    weights_name: str | None = None  # file name of the weights inside the folder


@dataclass(frozen=True)
class KeyPolicy:
    """The config keys of one library: implemented (key -> what autointerp does) or ignored (key -> why)."""

    library: str
    implemented: Mapping[str, str]
    ignored: Mapping[str, str]
    nested: Mapping[str, KeyPolicy | None] = field(default_factory=dict)  # dict-valued keys (None: this policy)

    def audit(self, cfg: Mapping, where: str) -> None:
        """Refuse (one line) the first key that is neither implemented nor known to be irrelevant."""
        for key, value in cfg.items():
            if key in self.nested and isinstance(value, Mapping):
                (self.nested[key] or self).audit(value, f"{where} [{key}]")
            elif key not in self.implemented and key not in self.ignored:
                raise ConfigError(
                    f"{where}: config key {key!r} is unknown to autointerp's {self.library} reader and could change "
                    "how the checkpoint encodes; refusing rather than ignoring it"
                )

    def markdown(self) -> str:
        """The docs/sae-checkpoints.md table of this policy."""
        rows = [f"| `{k}` | implemented | {v} |" for k, v in self.implemented.items()]
        rows += [f"| `{k}` | ignored | {v} |" for k, v in self.ignored.items()]
        out = ["| key | status | what autointerp does |", "|---|---|---|", *rows]
        for name, sub in self.nested.items():
            if sub is not None:
                out += ["", f"Keys inside `{name}`:", "", sub.markdown()]
        return "\n".join(out)


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read SAE config {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise InputError(f"SAE config {path} is not a JSON object")
    return data


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for a bad header
        raise InputError(
            f"cannot read SAE weights {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A torch state dict, loaded with ``weights_only=True``: no arbitrary object is unpickled."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unsafe pickle or a corrupt file: one line either way
        raise InputError(f"cannot read SAE weights {path} as a plain tensor state dict: {type(exc).__name__}") from None
    if not isinstance(sd, dict):
        raise InputError(f"SAE weights {path} are not a state dict")
    return sd


def take(tensors: Mapping, key: str, path: Path, required: bool = True) -> torch.Tensor | None:
    if key in tensors:
        return tensors[key]
    if required:
        raise InputError(f"SAE weights {path} have no tensor {key!r}; found: {', '.join(sorted(tensors)) or '(none)'}")
    return None


def check_dims(cfg: Mapping, sae: SparseAutoencoder, path: Path, d_in_key: str = "d_in", d_sae_key: str = "d_sae"):
    for key, got in ((d_in_key, sae.d_in), (d_sae_key, sae.d_sae)):
        if key and cfg.get(key) not in (None, 0) and int(cfg[key]) != got:
            raise InputError(f"SAE config {path}: {key}={cfg[key]} but the weights have {got}")


def refuse_value(where: Path | str, key: str, value, expected: str) -> ConfigError:
    return ConfigError(f"SAE config {where}: {key}={value!r} is not supported; expected {expected}")


def decoder_row_norms(W_dec: torch.Tensor) -> torch.Tensor:
    """``||W_dec[i]||`` per latent (W_dec is ``[d_sae, d_in]``)."""
    return W_dec.float().norm(dim=-1)
