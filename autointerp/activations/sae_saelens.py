"""SAELens checkpoints: ``cfg.json`` + ``sae_weights.safetensors`` (any SAELens version, inference or training save).

Read key by key as SAELens's own ``SAE`` / ``TrainingSAE`` classes use them (``sae_lens/saes/*.py``,
``loading/pretrained_sae_loaders.py``); see :data:`SAELENS_KEYS` for the audit. Notable choices:

- TopK ``rescale_acts_by_decoder_norm`` (on by default in SAELens TopK *training* configs): the
  pre-activations are multiplied by ``||W_dec[i]||`` before top-k, decoding divides by it again.
- BatchTopK / Matryoshka training checkpoints encode as SAELens's ``save_inference_model`` turns them:
  a JumpReLU with the learned global ``topk_threshold`` (after the decoder-norm rescale when on).
- ``normalize_activations: expected_average_only_in`` needs the dataset scaling factor. SAELens folds it
  into the weights at the end of training (and the config then says ``none``); a checkpoint saved before
  that carries it in ``activation_scaler.json``, which is applied (and undone on decode). Without that file
  the factor is unknown and the checkpoint is refused (SAELens's disk loader would silently skip it).
- ``dtype``: weights are rounded to it as SAELens loads them; arithmetic is float32.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from autointerp.activations.sae import SparseAutoencoder, make_sae
from autointerp.activations.sae_io import (
    KeyPolicy,
    SaeFormat,
    check_dims,
    decoder_row_norms,
    read_json,
    read_safetensors,
    refuse_value,
    take,
)
from autointerp.errors import ConfigError, InputError

WEIGHTS, CONFIG, SCALER = "sae_weights.safetensors", "cfg.json", "activation_scaler.json"

_TRAINING_ONLY = "training-only (loss, optimiser, initialisation or schedule); the saved weights are what encode"
_DATA_SIDE = "describes the training data or model loading, not the encoder"
_META = "metadata"

SAELENS_KEYS = KeyPolicy(
    "SAELens",
    implemented={
        "architecture": "standard, topk, jumprelu, gated, batchtopk and matryoshka_batchtopk (as SAELens's inference "
        "conversion: JumpReLU at `topk_threshold`); transcoder, skip_transcoder, jumprelu_transcoder refused",
        "d_in": "checked against the weights",
        "d_sae": "checked against the weights",
        "dtype": "weights rounded to it as SAELens loads them (arithmetic in float32); unknown dtypes refused",
        "apply_b_dec_to_input": "b_dec subtracted from the input before encoding when true (default true)",
        "normalize_activations": "none; constant_norm_rescale and layer_norm applied per token and undone by "
        "decode; expected_average_only_in applied with `activation_scaler.json` (refused without it); "
        "pre-6 booleans mapped as SAELens does",
        "k": "TopK k",
        "activation_fn": "relu, topk (k from activation_fn_kwargs), tanh-relu; others refused",
        "activation_fn_str": "pre-6 name of activation_fn",
        "activation_fn_kwargs": "only `k` is read; any other kwarg refused",
        "rescale_acts_by_decoder_norm": "TopK family: pre-activations times ||W_dec[i]|| before top-k; decode "
        "divides by it",
        "finetuning_scaling_factor": "true: decode multiplies activations by the `scaling_factor` tensor (SAELens < 6); "
        "a non-unit `scaling_factor` without it is refused, as SAELens does",
        "reshape_activations": "none; hook_z refused",
        "hook_name": "checked against the requested site (hook-name mapping)",
        "hook_point": "pre-6 name of hook_name",
        "hook_head_index": "null; a head index is refused (per-head SAEs)",
        "hook_point_head_index": "pre-6 name of hook_head_index",
        "hook_name_out": "transcoder output hook: refused when set",
        "hook_head_index_out": "transcoder output head: refused when set",
        "model_from_pretrained_kwargs": "shown in the summary: TransformerLens weight processing can change the "
        "activations at the hook (autointerp reads the HF model unprocessed)",
        "metadata": "SAELens 6 metadata: audited key by key with the same table",
    },
    ignored={
        "autointerp_training": "autointerp's own training record (the demo SAE): tokens, steps, FVU",
        **dict.fromkeys(
            [
                "model_name",
                "model_class_name",
                "context_size",
                "prepend_bos",
                "dataset_path",
                "dataset_trust_remote_code",
                "seqpos_slice",
                "exclude_special_tokens",
                "hook_layer",
                "hook_point_layer",
                "hook_eval",
                "streaming",
                "is_dataset_tokenized",
                "use_cached_activations",
                "cached_activations_path",
                "disable_concat_sequences",
                "sequence_separator_token",
                "model_kwargs",
            ],
            _DATA_SIDE,
        ),
        **dict.fromkeys(
            [
                "device",
                "sae_lens_version",
                "sae_lens_training_version",
                "neuronpedia_id",
                "run_name",
                "wandb_project",
                "wandb_id",
                "wandb_entity",
                "wandb_log_frequency",
                "eval_every_n_wandb_logs",
                "log_to_wandb",
                "log_activations_store_to_wandb",
                "log_optimizer_state_to_wandb",
                "verbose",
                "n_checkpoints",
                "checkpoint_path",
                "save_final_checkpoint",
                "output_path",
                "resume",
                "resume_from_checkpoint",
                "logger",
                "n_eval_batches",
                "eval_batch_size_prompts",
                "act_store_device",
                "compile_llm",
                "llm_compilation_mode",
                "compile_sae",
                "sae_compilation_mode",
                "autocast",
                "autocast_lm",
            ],
            _META,
        ),
        **dict.fromkeys(
            [
                "decoder_init_norm",
                "use_sparse_activations",
                "aux_loss_coefficient",
                "l1_coefficient",
                "lp_norm",
                "l1_warm_up_steps",
                "l0_coefficient",
                "l0_warm_up_steps",
                "jumprelu_init_threshold",
                "jumprelu_bandwidth",
                "jumprelu_sparsity_loss_mode",
                "jumprelu_tanh_scale",
                "pre_act_loss_coefficient",
                "topk_threshold_lr",
                "matryoshka_widths",
                "b_dec_init_method",
                "expansion_factor",
                "normalize_sae_decoder",
                "noise_scale",
                "from_pretrained_path",
                "decoder_orthogonal_init",
                "decoder_heuristic_init",
                "decoder_heuristic_init_norm",
                "init_encoder_as_decoder_transpose",
                "n_batches_in_buffer",
                "training_tokens",
                "finetuning_tokens",
                "store_batch_size_prompts",
                "seed",
                "train_batch_size_tokens",
                "adam_beta1",
                "adam_beta2",
                "mse_loss_normalization",
                "scale_sparsity_penalty_by_decoder_norm",
                "lr",
                "lr_scheduler_name",
                "lr_warm_up_steps",
                "lr_end",
                "lr_decay_steps",
                "n_restart_cycles",
                "finetuning_method",
                "use_ghost_grads",
                "feature_sampling_window",
                "dead_feature_window",
                "dead_feature_threshold",
            ],
            _TRAINING_ONLY,
        ),
    },
    nested={"metadata": None},  # SAELens 6 moved some keys into metadata: the same table applies
)

_DTYPES = {
    name: dt
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
    for name in (str(dt).removeprefix("torch."), str(dt))
}
_ARCH = {  # SAELens architecture -> autointerp architecture
    "standard": "relu",
    "topk": "topk",
    "jumprelu": "jumprelu",
    "gated": "gated",
    "batchtopk": "jumprelu",
    "matryoshka_batchtopk": "jumprelu",
}
_TOPK_FAMILY = {"topk", "batchtopk", "matryoshka_batchtopk"}
_ACT_FNS = {"relu": "relu", "topk": "topk", "tanh-relu": "tanh_relu"}
_TENSORS = {  # tensors each architecture has on disk (beyond these: refused)
    "standard": {"W_enc", "b_enc", "W_dec", "b_dec"},
    "topk": {"W_enc", "b_enc", "W_dec", "b_dec"},
    "jumprelu": {"W_enc", "b_enc", "W_dec", "b_dec", "threshold", "log_threshold"},
    "gated": {"W_enc", "b_gate", "b_mag", "r_mag", "W_dec", "b_dec"},
    "batchtopk": {"W_enc", "b_enc", "W_dec", "b_dec", "topk_threshold"},
    "matryoshka_batchtopk": {"W_enc", "b_enc", "W_dec", "b_dec", "topk_threshold"},
}


def _get(cfg: dict, *keys, default=None):
    """First non-null value among ``keys`` at the top level, then in SAELens 6 ``metadata``."""
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    for scope in (cfg, meta):
        for key in keys:
            if scope.get(key) is not None:
                return scope[key]
    return default


def _norm_name(cfg: dict) -> str:
    value = cfg.get("normalize_activations", "none")
    if isinstance(value, bool):  # SAELens < 3: a boolean meant the April-update scaling
        value = "expected_average_only_in" if value else "none"
    return value or "none"


def _normalisation(cfg: dict, scaling_factor: float | None, where: str, scaler_where: str) -> tuple[str, float | None]:
    value = _norm_name(cfg)
    if value not in ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm"):
        raise refuse_value(
            where, "normalize_activations", value, "none, expected_average_only_in, constant_norm_rescale or layer_norm"
        )
    if value != "expected_average_only_in":
        return value, None
    if scaling_factor is None:
        raise ConfigError(
            f"SAE config {where}: normalize_activations='expected_average_only_in' but the dataset scaling factor is "
            f"not {scaler_where}; SAELens folds it into the weights when training ends, so this checkpoint "
            "cannot be encoded as trained"
        )
    return value, float(scaling_factor)


def load_saelens(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    folder = path if path.is_dir() else path.parent
    where, weights, scaler = folder / CONFIG, folder / WEIGHTS, folder / SCALER
    cfg = read_json(where)
    SAELENS_KEYS.audit(cfg, f"SAE config {where}")
    wants = scaler.is_file() and _norm_name(cfg) == "expected_average_only_in"
    factor = read_json(scaler).get("scaling_factor") if wants else None
    return saelens_from_parts(
        cfg, lambda: read_safetensors(weights), where=str(where), weights=str(weights), source=f"SAE {folder}",
        scaling_factor=factor, scaler_where=f"beside it ({SCALER})", k=k, architecture=architecture, audited=True,
    )


def saelens_from_parts(
    cfg: dict,
    raw_tensors: Mapping[str, torch.Tensor] | Callable[[], Mapping[str, torch.Tensor]],
    *,
    where: str,
    weights: str,
    source: str,
    scaling_factor: float | None = None,
    scaler_where: str = "given",
    k: int | None = None,
    architecture: str | None = None,
    audited: bool = False,
) -> SparseAutoencoder:
    """An SAE from a SAELens config dict and its state dict, read key by key (the file and the in-memory paths).

    ``where`` / ``weights`` name the config and the tensors in messages; ``scaling_factor`` is the dataset
    scaling factor of ``normalize_activations: expected_average_only_in`` when known."""
    if not audited:
        SAELENS_KEYS.audit(cfg, f"SAE config {where}")
    dtype_name = str(cfg.get("dtype") or "float32")
    if dtype_name not in _DTYPES:
        raise refuse_value(where, "dtype", dtype_name, ", ".join(sorted(_DTYPES)))
    raw = raw_tensors() if callable(raw_tensors) else raw_tensors
    tensors = {n: t.to(_DTYPES[dtype_name]).float() for n, t in raw.items()}

    arch = str(cfg.get("architecture") or "standard")
    act_fn = str(_get(cfg, "activation_fn", "activation_fn_str", default="relu"))
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if act_fn not in _ACT_FNS:
        raise refuse_value(where, "activation_fn", act_fn, ", ".join(_ACT_FNS))
    if set(kwargs) - {"k"}:
        raise refuse_value(where, "activation_fn_kwargs", sorted(set(kwargs) - {"k"}), "only 'k'")
    if arch == "standard" and act_fn == "topk":
        arch = "topk"  # SAELens < 6: a standard SAE with a TopK activation function
    if arch not in _ARCH:
        raise ConfigError(
            f"SAE config {where}: unsupported architecture {arch!r}; expected one of: {', '.join(sorted(_ARCH))}"
        )
    if act_fn == "tanh-relu" and arch != "standard":
        raise refuse_value(where, "activation_fn", act_fn, f"relu for architecture {arch!r}")
    hook = _get(cfg, "hook_name", "hook_point")
    for key, old in (
        ("hook_head_index", "hook_point_head_index"),
        ("hook_name_out", None),
        ("hook_head_index_out", None),
    ):
        value = _get(cfg, key, *([old] if old else []))
        if value is not None:
            raise refuse_value(where, key, value, "null (per-head SAEs and transcoders are not supported)")
    if cfg.get("reshape_activations", "none") not in (None, "none") or str(hook or "").endswith("_z"):
        raise refuse_value(
            where,
            "reshape_activations",
            cfg.get("reshape_activations", hook),
            "none (hook_z SAEs read per-head attention values)",
        )
    extra = set(tensors) - _TENSORS[arch] - {"scaling_factor"}
    if extra:
        raise InputError(
            f"SAE weights {weights}: tensor(s) {', '.join(sorted(extra))} are not part of a SAELens "
            f"{arch!r} SAE; refusing to guess what they do"
        )
    needed = _TENSORS[arch] - {"threshold", "log_threshold"}
    missing = sorted(needed - set(tensors)) + (
        ["threshold (or log_threshold)"] if arch == "jumprelu" and not {"threshold", "log_threshold"} & set(tensors)
        else [])
    if missing:
        raise InputError(
            f"SAE weights {weights}: no tensor {', '.join(missing)}, which a SAELens {arch!r} SAE has; "
            f"found: {', '.join(sorted(tensors)) or '(none)'}"
        )
    norm, scale = _normalisation(cfg, scaling_factor, where, scaler_where)
    rescale = bool(cfg.get("rescale_acts_by_decoder_norm", False))
    if rescale and arch not in _TOPK_FAMILY:
        raise refuse_value(where, "rescale_acts_by_decoder_norm", True, f"false for architecture {arch!r}")

    W_dec = take(tensors, "W_dec", weights, required=rescale)
    common = {
        "subtract_b_dec": bool(cfg.get("apply_b_dec_to_input", True)),
        "input_norm": norm,
        "input_scale": scale,
        "pre_scale": decoder_row_norms(W_dec) if rescale else None,
        "dec_scale": _finetuning_scale(cfg, tensors, where),
        "source": source,
    }
    name = architecture or (_ACT_FNS[act_fn] if arch == "standard" else _ARCH[arch])
    threshold = _threshold(arch, tensors, weights)
    ckpt_k = cfg.get("k") if cfg.get("k") is not None else kwargs.get("k")
    if arch == "gated":
        W_enc = take(tensors, "W_enc", weights)
        sae = make_sae(
            name,
            W_enc * take(tensors, "r_mag", weights).exp(),
            take(tensors, "b_mag", weights),
            W_dec,
            take(tensors, "b_dec", weights, False),
            gate=(W_enc, take(tensors, "b_gate", weights)),
            **common,
        )
    else:
        sae = make_sae(
            name,
            take(tensors, "W_enc", weights),
            take(tensors, "b_enc", weights, False),
            W_dec,
            take(tensors, "b_dec", weights, False),
            k=k or (ckpt_k if arch == "topk" else None),
            threshold=threshold,
            **common,
        )
    check_dims(cfg, sae, where)
    sae.hook_name = hook
    sae.summary = _summary(cfg, arch, sae, rescale, norm, dtype_name, k, ckpt_k, architecture)
    return sae


def _threshold(arch: str, tensors: dict, weights: str) -> torch.Tensor | None:
    if arch in ("batchtopk", "matryoshka_batchtopk"):
        return take(tensors, "topk_threshold", weights).reshape(1)  # one global threshold (SAELens inference save)
    if "threshold" in tensors:
        return tensors["threshold"]
    if "log_threshold" in tensors:
        return tensors["log_threshold"].exp()
    return None


def _finetuning_scale(cfg: dict, tensors: dict, where: str) -> torch.Tensor | None:
    scale = tensors.get("scaling_factor")
    if scale is None or torch.allclose(scale, torch.ones_like(scale)):
        return None  # SAELens drops an all-ones scaling_factor
    if not cfg.get("finetuning_scaling_factor"):
        raise ConfigError(
            f"SAE config {where}: the weights have a non-unit 'scaling_factor' but "
            "finetuning_scaling_factor is false; SAELens refuses this too"
        )
    return scale


def _summary(cfg, arch, sae, rescale, norm, dtype_name, k, ckpt_k, architecture) -> str:
    parts = [f"saelens {arch}" + (f" k={sae.k}" if sae.k else "")]
    if k and ckpt_k and int(k) != int(ckpt_k):
        parts.append(f"k overridden (checkpoint k={ckpt_k})")
    if architecture:
        parts.append(f"encoded as {architecture} (overridden)")
    if arch in ("batchtopk", "matryoshka_batchtopk"):
        parts.append("encoded as JumpReLU at topk_threshold (SAELens inference conversion)")
    parts.append(f"apply_b_dec_to_input={'true' if sae.subtract_b_dec else 'false'}")
    parts.append(f"normalize_activations={norm}")
    if rescale:
        parts.append("rescale_acts_by_decoder_norm")
    if sae.dec_scale is not None:
        parts.append("finetuning_scaling_factor")
    parts.append(f"dtype={dtype_name}")
    kwargs = _get(cfg, "model_from_pretrained_kwargs")
    if kwargs:
        parts.append(f"trained on a TransformerLens model loaded with {json.dumps(kwargs, sort_keys=True)}")
    return "; ".join(parts)


FORMAT = SaeFormat(
    detect=lambda p: (p / CONFIG).is_file() and (p / WEIGHTS).is_file(),
    load=load_saelens,
    keys=SAELENS_KEYS,
    weights_name=WEIGHTS,
)
