"""Reading (and writing) SAE checkpoints in the layouts people publish.

Formats, detected from the folder contents (or chosen by name)::

    saelens              cfg.json + sae_weights.safetensors  (W_enc [d_in,d_sae], b_enc, W_dec, b_dec, threshold)
    sparsify             cfg.json + sae.safetensors  (encoder.weight [d_sae,d_in], encoder.bias, W_dec, b_dec; TopK k)
    dictionary_learning  ae.pt + config.json  (torch state dict; the trainer/dict class gives the architecture)
    safetensors          one .safetensors with W_enc, b_enc, W_dec, b_dec (+ threshold); k / architecture by argument

Tensors are read with safetensors or ``torch.load(weights_only=True)``: no
arbitrary object is ever unpickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from autointerp.activations.sae import SparseAutoencoder, TopK, make_sae
from autointerp.errors import ConfigError, InputError
from autointerp.registry import Registry


@dataclass(frozen=True)
class SaeFormat:
    """One checkpoint layout: how to recognise it and how to load it."""

    detect: Callable[[Path], bool]  # does this folder/file look like this format?
    load: Callable[..., SparseAutoencoder]  # (path, k=None, architecture=None) -> SAE


SAE_FORMATS: Registry[SaeFormat] = Registry("SAE format")
_DETECTION_ORDER = ("saelens", "sparsify", "dictionary_learning", "safetensors")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read SAE config {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise InputError(f"SAE config {path} is not a JSON object")
    return data


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise InputError(
            f"cannot read SAE weights {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def _take(tensors: dict, key: str, path: Path, required: bool = True) -> torch.Tensor | None:
    if key in tensors:
        return tensors[key]
    if required:
        raise InputError(f"SAE weights {path} have no tensor {key!r}; found: {', '.join(sorted(tensors)) or '(none)'}")
    return None


def _check_dims(cfg: dict, sae: SparseAutoencoder, path: Path, d_in_key: str = "d_in", d_sae_key: str | None = "d_sae"):
    for key, got in ((d_in_key, sae.d_in), (d_sae_key, sae.d_sae)):
        if key and cfg.get(key) is not None and int(cfg[key]) != got:
            raise InputError(f"SAE config {path}: {key}={cfg[key]} but the weights have {got}")


# ---------------------------------------------------------------- SAELens

_SAELENS_ARCH = {"standard": "relu", "relu": "relu", "topk": "topk", "jumprelu": "jumprelu"}


def _load_saelens(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    cfg_path = path / "cfg.json"
    cfg = _read_json(cfg_path)
    tensors = _read_safetensors(path / "sae_weights.safetensors")
    arch_name = str(cfg.get("architecture", "standard"))
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if arch_name == "standard" and str(cfg.get("activation_fn_str", cfg.get("activation_fn", "relu"))) == "topk":
        arch_name = "topk"  # older SAELens: a standard SAE with a TopK activation function
    if architecture is None and arch_name not in _SAELENS_ARCH:
        raise ConfigError(
            f"SAE config {cfg_path}: unsupported architecture {arch_name!r}; "
            f"expected one of: {', '.join(sorted(_SAELENS_ARCH))}"
        )
    weights = path / "sae_weights.safetensors"
    sae = make_sae(
        architecture or _SAELENS_ARCH[arch_name],
        _take(tensors, "W_enc", weights),
        _take(tensors, "b_enc", weights, False),
        _take(tensors, "W_dec", weights, False),
        _take(tensors, "b_dec", weights, False),
        k=k or cfg.get("k") or kwargs.get("k"),
        threshold=_take(tensors, "threshold", weights, False),
        subtract_b_dec=bool(cfg.get("apply_b_dec_to_input", True)),
        input_norm=str(cfg.get("normalize_activations") or "none"),
        source=f"SAE {path}",
    )
    _check_dims(cfg, sae, cfg_path)
    sae.hook_name = cfg.get("hook_name") or (cfg.get("metadata") or {}).get("hook_name")
    return sae


SAE_FORMATS.add(
    "saelens",
    SaeFormat(
        detect=lambda p: (p / "cfg.json").is_file() and (p / "sae_weights.safetensors").is_file(), load=_load_saelens
    ),
)


# ---------------------------------------------------------------- EleutherAI sparsify


def _load_sparsify(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    cfg_path, weights = path / "cfg.json", path / "sae.safetensors"
    cfg = _read_json(cfg_path)
    if str(cfg.get("activation", "topk")) != "topk":
        raise ConfigError(
            f"SAE config {cfg_path}: unsupported sparsify activation {cfg.get('activation')!r}; expected 'topk'"
        )
    tensors = _read_safetensors(weights)
    W = _take(tensors, "encoder.weight", weights)
    sae = make_sae(
        architecture or "topk",
        W.T,
        _take(tensors, "encoder.bias", weights, False),
        _take(tensors, "W_dec", weights, False),
        _take(tensors, "b_dec", weights, False),
        k=k or cfg.get("k"),
        subtract_b_dec=not cfg.get("transcode", False),
        source=f"SAE {path}",
    )
    _check_dims(cfg, sae, cfg_path, "d_in", "num_latents")
    return sae


SAE_FORMATS.add(
    "sparsify",
    SaeFormat(detect=lambda p: (p / "cfg.json").is_file() and (p / "sae.safetensors").is_file(), load=_load_sparsify),
)


# ---------------------------------------------------------------- dictionary_learning

# trainer class / dict class -> architecture
_DL_ARCH = {
    "StandardTrainer": "relu",
    "StandardTrainerAprilUpdate": "relu",
    "PAnnealTrainer": "relu",
    "AutoEncoder": "relu",
    "TopKTrainer": "topk",
    "AutoEncoderTopK": "topk",
    "BatchTopKTrainer": "batchtopk",
    "BatchTopKSAE": "batchtopk",
    "JumpReluTrainer": "jumprelu",
    "JumpReluAutoEncoder": "jumprelu",
}


def _load_dictionary_learning(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    cfg_path, weights = path / "config.json", path / "ae.pt"
    trainer = (_read_json(cfg_path).get("trainer") or {}) if cfg_path.is_file() else {}
    kind = architecture or _DL_ARCH.get(trainer.get("dict_class", "")) or _DL_ARCH.get(trainer.get("trainer_class", ""))
    if kind is None:
        raise ConfigError(
            f"SAE config {cfg_path}: unsupported dictionary_learning trainer "
            f"{trainer.get('trainer_class') or trainer.get('dict_class')!r}; "
            f"expected one of: {', '.join(sorted(_DL_ARCH))}"
        )
    try:
        sd = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unsafe pickle or a corrupt file
        raise InputError(
            f"cannot read SAE weights {weights} as a plain tensor state dict: {type(exc).__name__}"
        ) from None
    if not isinstance(sd, dict):
        raise InputError(f"SAE weights {weights} are not a state dict")
    src = f"SAE {path}"
    if kind == "jumprelu":
        sae = make_sae(
            "jumprelu",
            _take(sd, "W_enc", weights),
            _take(sd, "b_enc", weights, False),
            _take(sd, "W_dec", weights, False),
            _take(sd, "b_dec", weights, False),
            threshold=_take(sd, "threshold", weights),
            subtract_b_dec=False,
            source=src,
        )
    else:
        enc, dec = _take(sd, "encoder.weight", weights), _take(sd, "decoder.weight", weights, False)
        b_dec = _take(sd, "bias" if kind == "relu" else "b_dec", weights, False)
        k_val = k or (int(sd["k"]) if "k" in sd else trainer.get("k"))
        threshold = _take(sd, "threshold", weights, False)
        if kind == "batchtopk" and threshold is not None and float(threshold.reshape(-1)[0]) >= 0:
            arch, extra = "jumprelu", {"threshold": threshold}  # BatchTopK at inference: one global threshold
        else:
            arch, extra = ("relu", {}) if kind == "relu" else ("topk", {"k": k_val})
        sae = make_sae(
            arch,
            enc.T,
            _take(sd, "encoder.bias", weights, False),
            None if dec is None else dec.T,
            b_dec,
            subtract_b_dec=True,
            source=src,
            **extra,
        )
    _check_dims(trainer, sae, cfg_path, "activation_dim", "dict_size")
    return sae


SAE_FORMATS.add(
    "dictionary_learning", SaeFormat(detect=lambda p: (p / "ae.pt").is_file(), load=_load_dictionary_learning)
)


# ---------------------------------------------------------------- plain safetensors


def _plain_file(path: Path) -> Path | None:
    if path.is_file() and path.suffix == ".safetensors":
        return path
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    return files[0] if len(files) == 1 else None


def _load_plain(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    file = _plain_file(path)
    if file is None:
        raise InputError(f"SAE {path}: expected one .safetensors file with W_enc, b_enc, W_dec, b_dec")
    t = _read_safetensors(file)
    threshold = _take(t, "threshold", file, False)
    arch = architecture or ("jumprelu" if threshold is not None else "topk" if k else "relu")
    return make_sae(
        arch,
        _take(t, "W_enc", file),
        _take(t, "b_enc", file),
        _take(t, "W_dec", file, False),
        _take(t, "b_dec", file, False),
        k=k,
        threshold=threshold,
        source=f"SAE {file}",
    )


SAE_FORMATS.add("safetensors", SaeFormat(detect=lambda p: _plain_file(p) is not None, load=_load_plain))


# ---------------------------------------------------------------- entry points


def detect_format(path: str | os.PathLike) -> str:
    """Name of the format of the checkpoint at ``path`` (file or folder)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"SAE checkpoint {p} not found")
    for name in _DETECTION_ORDER:
        if SAE_FORMATS.get(name).detect(p):
            return name
    raise InputError(
        f"SAE checkpoint {p}: unrecognised layout; expected SAELens (cfg.json + sae_weights.safetensors), "
        "sparsify (cfg.json + sae.safetensors), dictionary_learning (ae.pt + config.json) "
        "or one .safetensors with W_enc/b_enc/W_dec/b_dec"
    )


def load_sae(
    path: str | os.PathLike, format: str | None = None, *, k: int | None = None, architecture: str | None = None
) -> SparseAutoencoder:
    """Load an SAE checkpoint; ``format`` is detected when not given, ``k``/``architecture`` override the checkpoint."""
    p = Path(path)
    name = format or detect_format(p)
    if not p.exists():
        raise InputError(f"SAE checkpoint {p} not found")
    return SAE_FORMATS.get(name).load(p, k=k, architecture=architecture)


_TO_SAELENS_ARCH = {"relu": "standard", "topk": "topk", "jumprelu": "jumprelu"}


def save_saelens(
    sae: SparseAutoencoder,
    folder: str | os.PathLike,
    *,
    hook_name: str | None = None,
    model_name: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``sae`` in the SAELens layout (``cfg.json`` + ``sae_weights.safetensors``); returns the folder."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {"W_enc": sae.W_enc, "b_enc": sae.b_enc, "b_dec": sae.b_dec}
    if sae.W_dec is not None:
        tensors["W_dec"] = sae.W_dec
    if hasattr(sae.activation, "threshold"):
        tensors["threshold"] = sae.activation.threshold
    save_file(
        {k: v.detach().cpu().contiguous().float() for k, v in tensors.items()}, str(out / "sae_weights.safetensors")
    )
    cfg = {
        "architecture": _TO_SAELENS_ARCH[sae.architecture],
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "apply_b_dec_to_input": sae.subtract_b_dec,
        "normalize_activations": sae.input_norm,
        "dtype": "float32",
        "device": "cpu",
        "hook_name": hook_name,
        "model_name": model_name,
        **({"k": sae.activation.k} if isinstance(sae.activation, TopK) else {}),
        **(extra or {}),
    }
    (out / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return out
