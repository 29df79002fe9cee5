"""saprmarks dictionary_learning checkpoints: ``ae.pt`` (a torch state dict) + ``config.json`` (``trainer``, ``buffer``).

Each dictionary class is read with the tensor names and encode/decode of ``dictionary_learning/dictionary.py``
and ``trainers/*.py``:

==========================  ===========================================================================
AutoEncoder                 ``relu(encoder(x - bias))``; decoder + bias. Decoder normalisation: see below.
GatedAutoEncoder            gate ``encoder(x - decoder_bias) + gate_bias > 0`` times
                            ``relu(exp(r_mag) * encoder(x - decoder_bias) + mag_bias)``
JumpReluAutoEncoder         ``relu(pre * (pre > threshold))``, ``pre = x @ W_enc + b_enc`` (no b_dec subtraction)
AutoEncoderTopK             top-k of ``relu(encoder(x - b_dec))`` (``encode``'s default, ``use_threshold=False``)
BatchTopKSAE                ``relu(pre) * (relu(pre) > threshold)`` with the learned global threshold
                            (``encode``'s default, ``use_threshold=True``)
MatryoshkaBatchTopKSAE      as BatchTopKSAE, with ``W_enc``/``W_dec`` parameters
==========================  ===========================================================================

Decoder normalisation: ``AutoEncoder.from_pretrained`` (default ``normalize_decoder=True``) rescales each
decoder column to unit norm and folds the norm into the encoder (weights and bias), unless the norms are
already all close to 1. autointerp reproduces **the loader's** encoding, because that is what a
dictionary_learning user gets from the documented loading path, and it makes activations comparable across
features (each one is a coefficient on a unit-norm direction); it only rescales each feature's activations
(which units fire never changes, and autointerp normalises activations per unit for the LLM anyway). The
other classes' loaders do not normalise, so neither does autointerp.

A BatchTopK/Matryoshka checkpoint whose threshold was never learned (``threshold < 0``) is refused:
dictionary_learning would encode it as a plain ReLU, and its batch-level top-k depends on the batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from autointerp.activations.sae import SparseAutoencoder, make_sae
from autointerp.activations.sae_io import KeyPolicy, SaeFormat, check_dims, read_json, read_state_dict, take
from autointerp.errors import ConfigError, InputError

WEIGHTS, CONFIG = "ae.pt", "config.json"

_TRAINING_ONLY = "training-only (loss, optimiser, schedule, threshold tracking); the saved weights are what encode"
_META = "metadata"
_CLASSES = {  # dict class -> (kind, trainers that write it)
    "AutoEncoder": ("relu", ("StandardTrainer", "StandardTrainerAprilUpdate", "PAnnealTrainer")),
    "GatedAutoEncoder": ("gated", ("GatedSAETrainer", "GatedAnnealTrainer")),
    "JumpReluAutoEncoder": ("jumprelu", ("JumpReluTrainer",)),
    "AutoEncoderTopK": ("topk", ("TopKTrainer",)),
    "BatchTopKSAE": ("batchtopk", ("BatchTopKTrainer",)),
    "MatryoshkaBatchTopKSAE": ("matryoshka", ("MatryoshkaBatchTopKTrainer",)),
}
DICT_CLASSES = tuple(_CLASSES)  # the dictionary classes read (an in-memory object is read by its class name)
_BY_TRAINER = {trainer: cls for cls, (_, trainers) in _CLASSES.items() for trainer in trainers}

TRAINER_KEYS = KeyPolicy(
    "dictionary_learning",
    implemented={
        "dict_class": f"selects the encoding: {', '.join(_CLASSES)}; others refused",
        "trainer_class": "selects the dictionary class when dict_class is absent",
        "activation_dim": "checked against the weights",
        "dict_size": "checked against the weights",
        "k": "TopK k; must equal the state dict's k buffer (as from_pretrained checks)",
        "submodule_name": "`<kind>_layer_<i>` (kind resid_pre/resid_post/mlp/mlp_in/mlp_out/attn_out) checked "
        "against the requested site; other names shown as unchecked",
        "layer": "checked against the requested site's layer",
        "lm_name": "shown in the summary",
    },
    ignored={
        **dict.fromkeys(["wandb_name", "device", "seed"], _META),
        **dict.fromkeys(
            [
                "lr",
                "steps",
                "warmup_steps",
                "decay_start",
                "sparsity_warmup_steps",
                "l1_penalty",
                "resample_steps",
                "threshold_beta",
                "threshold_start_step",
                "sparsity_penalty",
                "auxk_alpha",
                "top_k_aux",
                "sparsity_queue_length",
                "sparsity_function",
                "p_start",
                "p_end",
                "n_sparsity_updates",
                "anneal_start",
                "target_l0",
                "group_weights",
                "group_fractions",
                "group_sizes",
                "bandwidth",
                "k_anneal_steps",
            ],
            _TRAINING_ONLY,
        ),
        "norm_factor": "dictionary_learning's training folds it into the saved biases (scale_biases), so raw "
        "activations are encoded as saved",
    },
)
BUFFER_KEYS = KeyPolicy(
    "dictionary_learning buffer",
    implemented={
        "d_submodule": "checked against the weights",
        "io": "'out' (the default) is the submodule's output; 'in' is shown in the summary",
    },
    ignored=dict.fromkeys(
        ["n_ctxs", "ctx_len", "refresh_batch_size", "out_batch_size", "device", "layer"], "activation buffer settings"
    ),
)
DL_KEYS = KeyPolicy(
    "dictionary_learning",
    implemented={"trainer": "audited with the trainer table", "buffer": "audited with the buffer table"},
    ignored={},
    nested={"trainer": TRAINER_KEYS, "buffer": BUFFER_KEYS},
)
_SUBMODULE = re.compile(r"^(resid_pre|resid_post|mlp|mlp_in|mlp_out|attn_out)_layer_(\d+)$")


def _paths(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / WEIGHTS, path / CONFIG
    cfg = path.parent / CONFIG  # ae.pt, or checkpoints/ae_<step>.pt beside the trainer folder's config.json
    return path, cfg if cfg.is_file() else path.parent.parent / CONFIG


def _infer_class(sd: Mapping, weights: str) -> str:
    if "r_mag" in sd:
        return "GatedAutoEncoder"
    if "group_sizes" in sd:
        return "MatryoshkaBatchTopKSAE"
    if "W_enc" in sd and "threshold" in sd and "k" not in sd:
        return "JumpReluAutoEncoder"
    if "bias" in sd and "encoder.weight" in sd:
        return "AutoEncoder"
    raise ConfigError(
        f"SAE {weights}: no config.json names its dictionary class and the tensors are ambiguous "
        f"({', '.join(sorted(sd))}); put the trainer's config.json beside it"
    )


def load_dictionary_learning(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    weights, cfg_path = _paths(path)
    cfg = read_json(cfg_path) if cfg_path.is_file() else {}
    DL_KEYS.audit(cfg, f"SAE config {cfg_path}")
    return dictionary_learning_from_parts(
        cfg, lambda: read_state_dict(weights), where=str(cfg_path), weights=str(weights),
        source=f"SAE {weights.parent}", k=k, architecture=architecture, audited=True,
    )


def dictionary_learning_from_parts(
    cfg: dict,
    state_dict: Mapping[str, torch.Tensor] | Callable[[], Mapping[str, torch.Tensor]],
    *,
    where: str,
    weights: str,
    source: str,
    k: int | None = None,
    architecture: str | None = None,
    audited: bool = False,
) -> SparseAutoencoder:
    """An SAE from a dictionary_learning ``config.json`` dict (``trainer``, ``buffer``; ``trainer.dict_class`` names
    the class) and its state dict; the file and the in-memory paths both read through here."""
    if not audited:
        DL_KEYS.audit(cfg, f"SAE config {where}")
    trainer, buffer = cfg.get("trainer") or {}, cfg.get("buffer") or {}
    sd = state_dict() if callable(state_dict) else state_dict
    if "ae" in sd and "optimizer" in sd:
        raise InputError(
            f"SAE weights {weights} are a dictionary_learning training backup (weights at the training "
            "scale, before norm_factor is folded in); use the final ae.pt"
        )
    cls = (
        trainer.get("dict_class")
        or _BY_TRAINER.get(trainer.get("trainer_class", ""))
        or (None if trainer else _infer_class(sd, weights))
    )
    if cls not in _CLASSES:
        raise ConfigError(
            f"SAE config {where}: unsupported dictionary_learning trainer "
            f"{trainer.get('trainer_class') or trainer.get('dict_class')!r}; "
            f"expected one of: {', '.join(sorted([*_CLASSES, *_BY_TRAINER]))}"
        )
    kind = _CLASSES[cls][0]
    sae, note = _BUILDERS[kind](sd, weights, trainer, k, architecture, source)
    check_dims(trainer, sae, where, "activation_dim", "dict_size")
    check_dims(buffer, sae, where, "d_submodule", None)
    _set_hook(sae, trainer, buffer)
    parts = [f"dictionary_learning {cls} ({sae.architecture}{f' k={sae.k}' if sae.k else ''})", note]
    if buffer.get("io", "out") != "out":
        parts.append(f"trained on the submodule's io={buffer['io']!r}")
    if sae.hook_name is None and trainer.get("submodule_name"):
        parts.append(f"submodule_name {trainer['submodule_name']!r} not checked against the site")
    if trainer.get("lm_name"):
        parts.append(f"lm {trainer['lm_name']}")
    sae.summary = "; ".join(p for p in parts if p)
    return sae


def _set_hook(sae: SparseAutoencoder, trainer: dict, buffer: dict) -> None:
    m = _SUBMODULE.match(str(trainer.get("submodule_name") or ""))
    io_ok = buffer.get("io", "out") == "out"
    sae.hook_name = f"layers.{m.group(2)}.{m.group(1)}" if m and io_ok else None
    layer = trainer.get("layer")
    sae.hook_layer = int(layer) if isinstance(layer, int) and not isinstance(layer, bool) else None


def _k(sd: Mapping, trainer: dict, k: int | None, weights: str) -> int:
    sd_k = int(sd["k"]) if "k" in sd else None
    cfg_k = trainer.get("k")
    if sd_k is not None and cfg_k is not None and int(cfg_k) != sd_k:
        raise InputError(f"SAE {weights}: config k={cfg_k} but the state dict's k buffer is {sd_k}")
    return k or sd_k or cfg_k


def _relu(sd, weights, trainer, k, architecture, src):
    enc, dec = take(sd, "encoder.weight", weights).float(), take(sd, "decoder.weight", weights).float()
    b_enc = take(sd, "encoder.bias", weights).float()
    norms = dec.norm(dim=0)
    note = "decoder already unit-norm"
    if not torch.allclose(norms, torch.ones_like(norms)):  # AutoEncoder.from_pretrained(normalize_decoder=True)
        dec, enc, b_enc = dec / norms, enc * norms[:, None], b_enc * norms
        note = "decoder normalised and norms folded into the encoder, as AutoEncoder.from_pretrained does"
    sae = make_sae(architecture or "relu", enc.T, b_enc, dec.T, take(sd, "bias", weights), k=k, source=src)
    return sae, note


def _gated(sd, weights, trainer, k, architecture, src):
    enc = take(sd, "encoder.weight", weights).float().T
    sae = make_sae(
        "gated",
        enc * take(sd, "r_mag", weights).float().exp(),
        take(sd, "mag_bias", weights),
        take(sd, "decoder.weight", weights).float().T,
        take(sd, "decoder_bias", weights),
        gate=(enc, take(sd, "gate_bias", weights)),
        source=src,
    )
    return sae, ""


def _jumprelu(sd, weights, trainer, k, architecture, src):
    sae = make_sae(
        architecture or "jumprelu",
        take(sd, "W_enc", weights),
        take(sd, "b_enc", weights),
        take(sd, "W_dec", weights),
        take(sd, "b_dec", weights),
        threshold=take(sd, "threshold", weights),
        k=k,
        subtract_b_dec=False,
        source=src,
    )
    return sae, "b_dec not subtracted (JumpReluAutoEncoder.apply_b_dec_to_input=False)"


def _topk(sd, weights, trainer, k, architecture, src):
    sae = make_sae(
        architecture or "topk",
        take(sd, "encoder.weight", weights).float().T,
        take(sd, "encoder.bias", weights),
        take(sd, "decoder.weight", weights).float().T,
        take(sd, "b_dec", weights),
        k=_k(sd, trainer, k, weights),
        source=src,
    )
    return sae, "top-k per token (encode's default; the learned threshold is not used)"


def _thresholded(matryoshka: bool):
    def build(sd, weights, trainer, k, architecture, src):
        threshold = take(sd, "threshold", weights).float().reshape(-1)
        if architecture is None and float(threshold.min()) < 0:
            raise InputError(
                f"SAE {weights}: threshold={float(threshold.min())} was never learned; "
                "dictionary_learning would encode it as a plain ReLU; refusing"
            )
        _k(sd, trainer, None, weights)
        if matryoshka:
            W_enc, W_dec = take(sd, "W_enc", weights), take(sd, "W_dec", weights)
            b_enc = take(sd, "b_enc", weights)
        else:
            W_enc, W_dec = take(sd, "encoder.weight", weights).float().T, take(sd, "decoder.weight", weights).float().T
            b_enc = take(sd, "encoder.bias", weights)
        sae = make_sae(
            architecture or "jumprelu",
            W_enc,
            b_enc,
            W_dec,
            take(sd, "b_dec", weights),
            threshold=threshold,
            k=k,
            source=src,
        )
        return sae, "global threshold (encode's default use_threshold=True)"

    return build


_BUILDERS = {
    "relu": _relu,
    "gated": _gated,
    "jumprelu": _jumprelu,
    "topk": _topk,
    "batchtopk": _thresholded(False),
    "matryoshka": _thresholded(True),
}

FORMAT = SaeFormat(
    detect=lambda p: (p / WEIGHTS).is_file(),
    load=load_dictionary_learning,
    keys=DL_KEYS,
    weights_name=WEIGHTS,
)
