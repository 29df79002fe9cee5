"""EleutherAI sparsify checkpoints: ``cfg.json`` + ``sae.safetensors`` in a folder named after the hookpoint.

Read as ``sparsify/sparse_coder.py`` encodes (``SparseCoder.encode``: ``relu(encoder(x - b_dec))`` then
top-k or group-max; transcoders skip the ``- b_dec``) and decodes (``W_dec``, ``b_dec``, and the skip
connection ``x @ W_skip.T`` that ``forward`` adds). Tensors: ``encoder.weight [num_latents, d_in]``,
``encoder.bias``, ``W_dec [num_latents, d_in]``, ``b_dec``, ``W_skip [d_in, d_in]``. The hookpoint is
not in ``cfg.json``: sparsify's trainer names the folder after it, so the folder name is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from autointerp.activations.hook_names import is_module_path
from autointerp.activations.sae import SparseAutoencoder, make_sae
from autointerp.activations.sae_io import (
    KeyPolicy,
    SaeFormat,
    check_dims,
    read_json,
    read_safetensors,
    refuse_value,
    take,
)
from autointerp.errors import InputError

WEIGHTS, CONFIG = "sae.safetensors", "cfg.json"

SPARSIFY_KEYS = KeyPolicy(
    "sparsify",
    implemented={
        "activation": "topk or groupmax (max of each of k contiguous groups); others refused",
        "k": "number of active latents (topk) or of groups (groupmax)",
        "signed": "EleutherAI sae (2024): keep the k largest |pre-activations| with their sign",
        "transcode": "true: no b_dec subtraction before encoding; decode predicts the module's output",
        "skip_connection": "decode adds x @ W_skip.T (needs the input x)",
        "d_in": "checked against the weights",
        "num_latents": "checked against the weights (0: d_in x expansion_factor)",
        "expansion_factor": "checked against the weights when num_latents is 0",
        "d_sae": "early EleutherAI sae name of num_latents: checked",
    },
    ignored={
        "normalize_decoder": "training-time constraint on W_dec; encoding never reads decoder norms",
        "multi_topk": "training loss only (an extra 4k reconstruction term); encoding is plain top-k",
        "naive_decoder": "choice of decoder kernel; same result",
    },
)
_TENSORS = {"encoder.weight", "encoder.bias", "W_dec", "b_dec", "W_skip"}


def load_sparsify(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    folder = path if path.is_dir() else path.parent
    where, weights = folder / CONFIG, folder / WEIGHTS
    cfg = read_json(where)
    SPARSIFY_KEYS.audit(cfg, f"SAE config {where}")
    hook = folder.name if is_module_path(folder.name) else None
    return sparsify_from_parts(
        cfg, lambda: read_safetensors(weights), where=str(where), weights=str(weights), source=f"SAE {folder}",
        hookpoint=hook, hook_note=f"hookpoint unknown (folder name {folder.name!r} is not a module path)",
        k=k, architecture=architecture, audited=True,
    )


def sparsify_from_parts(
    cfg: dict,
    tensors: Mapping[str, torch.Tensor] | Callable[[], Mapping[str, torch.Tensor]],
    *,
    where: str,
    weights: str,
    source: str,
    hookpoint: str | None = None,
    hook_note: str = "hookpoint unknown",
    k: int | None = None,
    architecture: str | None = None,
    audited: bool = False,
) -> SparseAutoencoder:
    """An SAE from a sparsify config dict (``SparseCoderConfig.to_dict()`` + ``d_in``) and its state dict; the file
    and the in-memory paths both read through here. ``hookpoint`` is where it was trained, when known."""
    if not audited:
        SPARSIFY_KEYS.audit(cfg, f"SAE config {where}")
    activation = str(cfg.get("activation", "topk"))
    if activation not in ("topk", "groupmax"):
        raise refuse_value(where, "activation", activation, "'topk' or 'groupmax'")
    signed = bool(cfg.get("signed", False))
    if signed and activation != "topk":
        raise refuse_value(where, "signed", True, "false with groupmax")
    tensors = tensors() if callable(tensors) else tensors
    extra = set(tensors) - _TENSORS
    if extra:
        raise InputError(
            f"SAE weights {weights}: tensor(s) {', '.join(sorted(extra))} are not part of a sparsify "
            "sparse coder; refusing to guess what they do"
        )
    transcode = bool(cfg.get("transcode", False))
    skip = bool(cfg.get("skip_connection", False))
    W_skip = take(tensors, "W_skip", weights) if skip else None
    if not skip and "W_skip" in tensors:
        raise InputError(f"SAE weights {weights} have W_skip but {where} says skip_connection=false")
    name = architecture or ("signed_topk" if signed else activation)
    sae = make_sae(
        name,
        take(tensors, "encoder.weight", weights).T,
        take(tensors, "encoder.bias", weights),  # every SparseCoder has both biases
        take(tensors, "W_dec", weights, False),  # absent when trained with decoder=False
        take(tensors, "b_dec", weights),
        k=k or cfg.get("k", 32),  # sparsify's default k
        subtract_b_dec=not transcode,
        W_skip=W_skip,
        transcoder=transcode,
        source=source,
    )
    check_dims(cfg, sae, where, "d_in", "num_latents")
    check_dims(cfg, sae, where, "d_in", "d_sae")
    implied = int(cfg.get("expansion_factor") or 0) * sae.d_in
    if not cfg.get("num_latents") and not cfg.get("d_sae") and implied and implied != sae.d_sae:
        raise InputError(
            f"SAE config {where}: expansion_factor={cfg['expansion_factor']} x d_in={sae.d_in} "
            f"but the weights have {sae.d_sae} latents"
        )
    sae.hook_name = hookpoint
    parts = [f"sparsify {name} k={sae.k}", "b_dec not subtracted (transcoder)" if transcode else "b_dec subtracted"]
    if skip:
        parts.append("skip_connection")
    if sae.hook_name is None:
        parts.append(hook_note)
    sae.summary = "; ".join(parts)
    return sae


FORMAT = SaeFormat(
    detect=lambda p: (p / CONFIG).is_file() and (p / WEIGHTS).is_file(),
    load=load_sparsify,
    keys=SPARSIFY_KEYS,
    weights_name=WEIGHTS,
)
