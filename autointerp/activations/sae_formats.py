"""Reading (and writing) SAE checkpoints in the layouts people publish.

Formats, detected from the folder contents (or chosen by name); one module each::

    saelens              sae_saelens.py              cfg.json + sae_weights.safetensors
    sparsify             sae_sparsify.py             cfg.json + sae.safetensors (folder named after the hookpoint)
    dictionary_learning  sae_dictionary_learning.py  ae.pt + config.json
    safetensors          sae_plain.py                one bare .safetensors with W_enc, b_enc, W_dec, b_dec (+ threshold)

A weights file passed on its own is read with the config beside it (``sae_weights.safetensors`` with its
``cfg.json`` is a SAELens checkpoint, not a bare file). Every config key of a format is either
implemented or known to be irrelevant (``SaeFormat.keys``); any other key is refused with one line.
Tensors are read with safetensors or ``torch.load(weights_only=True)``: no arbitrary object is unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from autointerp.activations import sae_dictionary_learning, sae_plain, sae_saelens, sae_sparsify
from autointerp.activations.hook_names import check_hook
from autointerp.activations.hub import is_sae_spec, resolve_sae
from autointerp.activations.memory import refuse_memory_label
from autointerp.activations.sae import JumpReLU, SparseAutoencoder, TopK
from autointerp.activations.sae_io import SaeFormat, decoder_row_norms
from autointerp.errors import ConfigError, InputError
from autointerp.registry import Registry

SAE_FORMATS: Registry[SaeFormat] = Registry("SAE format")
SAE_FORMATS.add("saelens", sae_saelens.FORMAT)
SAE_FORMATS.add("sparsify", sae_sparsify.FORMAT)
SAE_FORMATS.add("dictionary_learning", sae_dictionary_learning.FORMAT)
SAE_FORMATS.add("safetensors", sae_plain.FORMAT)
_DETECTION_ORDER = ("saelens", "sparsify", "dictionary_learning", "safetensors")
_CONFIG_NAMES = ("cfg.json", "config.json")


def _detect_file(p: Path) -> str:
    """The format of a single weights file, judged with the files beside it."""
    for name in _DETECTION_ORDER:
        fmt = SAE_FORMATS.get(name)
        if fmt.weights_name == p.name and fmt.detect(p.parent):
            return name
    if p.suffix == ".pt":
        return "dictionary_learning"
    beside = [c for c in _CONFIG_NAMES if (p.parent / c).is_file()]
    if p.suffix == ".safetensors" and beside:
        raise InputError(
            f"SAE file {p} has {beside[0]} beside it but is not named like that library's weights "
            "(sae_weights.safetensors for SAELens, sae.safetensors for sparsify); pass the folder or rename it, "
            "so the config is not silently ignored"
        )
    if p.suffix == ".safetensors":
        return "safetensors"
    raise InputError(f"SAE file {p}: expected a .safetensors or .pt file")


def detect_format(path: str | os.PathLike) -> str:
    """Name of the format of the checkpoint at ``path`` (file or folder)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"SAE checkpoint {p} not found")
    if p.is_file():
        return _detect_file(p)
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
    """Load an SAE checkpoint; ``format`` is detected when not given, ``k``/``architecture`` override the checkpoint.

    The returned SAE's ``summary`` is one line saying how it encodes (and what was assumed), ``hook`` the
    hook name its config states (check it with :func:`check_sae_site`). ``saelens:RELEASE/SAE_ID`` and
    ``hf:REPO/PATH`` are fetched through huggingface_hub's cache first (see :mod:`autointerp.activations.hub`)."""
    refuse_memory_label(str(path), "SAE")
    if is_sae_spec(str(path)):
        path = resolve_sae(str(path)).path
    p = Path(path)
    if not p.exists():
        raise InputError(f"SAE checkpoint {p} not found")
    name = format or detect_format(p)
    sae = SAE_FORMATS.get(name).load(p, k=k, architecture=architecture)
    sae.format = name
    return sae


def check_sae_site(sae, site: str, *, model_type: str | None = None, allow_mismatch: bool = False) -> str:
    """Refuse (one line) an SAE whose checkpoint names a hook other than ``site``; returns the line to show."""
    if not isinstance(sae, SparseAutoencoder):
        return f"hook: {site}"
    source = sae.source
    layer = sae.hook_layer
    if sae.hook_name is None and layer is not None:  # dictionary_learning: only the layer is known
        site_layer = int(str(site).split(".")[1])
        if layer != site_layer and not allow_mismatch:
            raise ConfigError(
                f"{source} was trained on layer {layer}, not layer {site_layer} of the requested site {site}; "
                "choose that layer or allow the mismatch (sae_site_override: true / --allow-hook-mismatch)"
            )
        return f"hook: layer {layer} (submodule not stated); reading {site}"
    return check_hook(
        sae.hook_name,
        str(site),
        source=source,
        modules=sae.format == "sparsify",
        transcode=sae.transcoder,
        model_type=model_type,
        allow_mismatch=allow_mismatch,
    )


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

    unsupported = [n for n in ("gate", "W_skip", "dec_scale") if getattr(sae, n) is not None]
    if (
        sae.architecture not in _TO_SAELENS_ARCH
        or unsupported
        or sae.transcoder
        or sae.input_norm.name not in ("none", "constant_norm_rescale", "layer_norm")
    ):
        raise ConfigError(f"cannot write {sae!r} ({sae.summary}) as a SAELens checkpoint")
    rescale = sae.pre_scale is not None
    if rescale and (
        not isinstance(sae.activation, TopK)
        or sae.W_dec is None
        or not torch.equal(sae.pre_scale, decoder_row_norms(sae.W_dec))
    ):
        raise ConfigError(f"cannot write {sae!r}: its pre-activation scale is not its decoder norms")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {"W_enc": sae.W_enc, "b_enc": sae.b_enc, "b_dec": sae.b_dec}
    if sae.W_dec is not None:
        tensors["W_dec"] = sae.W_dec
    if isinstance(sae.activation, JumpReLU):
        tensors["threshold"] = sae.activation.threshold
    save_file(
        {k: v.detach().cpu().contiguous().float() for k, v in tensors.items()}, str(out / "sae_weights.safetensors")
    )
    cfg = {
        "architecture": _TO_SAELENS_ARCH[sae.architecture],
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "apply_b_dec_to_input": sae.subtract_b_dec,
        "normalize_activations": sae.input_norm.name,
        "dtype": "float32",
        "device": "cpu",
        "hook_name": hook_name,
        "model_name": model_name,
        **(
            {"k": sae.activation.k, "rescale_acts_by_decoder_norm": rescale} if isinstance(sae.activation, TopK) else {}
        ),
        **(extra or {}),
    }
    (out / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return out
