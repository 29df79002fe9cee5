"""Checkpoints written in the peer libraries' exact on-disk layouts, without the libraries.

Each writer mirrors the library's own save code (tensor names, shapes, dtypes, config keys and nesting):

- SAELens 6 ``SAE.save_model`` / ``TrainingSAE.save_model``: ``sae_weights.safetensors`` (the module's
  state dict) + ``cfg.json`` = the config dataclass fields + ``metadata`` + ``architecture``;
  SAELens < 6: one flat ``cfg.json`` (``activation_fn_str``, ``hook_name``, ``finetuning_scaling_factor``...).
- sparsify ``SparseCoder.save_to_disk``: ``sae.safetensors`` (``encoder.weight [L, d]``, ``encoder.bias``,
  ``W_dec [L, d]``, ``b_dec``, ``W_skip``) + ``cfg.json`` = ``SparseCoderConfig.to_dict()`` + ``d_in``,
  in a folder named after the hookpoint.
- dictionary_learning ``trainSAE``: ``ae.pt`` (``torch.save`` of the state dict; ``k`` an int32 buffer,
  ``threshold`` a float32 scalar buffer) + ``config.json`` = ``{"trainer": trainer.config, "buffer": ...}``.

The tests compute the expected encodings from these weights with their own formulas.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

D_IN, D_SAE = 16, 48


def weights(seed: int = 0, d_in: int = D_IN, d_sae: int = D_SAE, dec_norm_spread: bool = True) -> dict:
    """Random SAE weights in the SAELens layout; decoder rows get norms far from 1 (as in real training)."""
    g = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(d_sae, d_in, generator=g)
    if dec_norm_spread:
        W_dec = W_dec / W_dec.norm(dim=1, keepdim=True) * torch.empty(d_sae).uniform_(0.05, 3.0, generator=g)[:, None]
    return {
        "W_enc": torch.randn(d_in, d_sae, generator=g) * 0.5,
        "b_enc": torch.randn(d_sae, generator=g) * 0.1,
        "W_dec": W_dec,
        "b_dec": torch.randn(d_in, generator=g) * 0.3,
        "threshold": torch.rand(d_sae, generator=g) * 0.5,
    }


def inputs(seed: int = 1, n: int = 64, d_in: int = D_IN, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(n, d_in, generator=torch.Generator().manual_seed(seed)) * scale + 0.7


# ---------------------------------------------------------------- SAELens


def saelens_v6_cfg(
    architecture: str, *, training: bool = False, hook_name: str = "blocks.1.hook_resid_post", **fields
) -> dict:
    """``SAEConfig.to_dict()`` (inference) or ``TrainingSAEConfig.to_dict()`` (training) of SAELens 6."""
    cfg = {
        "d_in": D_IN,
        "d_sae": D_SAE,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
    }
    if architecture in ("topk", "batchtopk", "matryoshka_batchtopk"):
        cfg |= {"k": 100, "rescale_acts_by_decoder_norm": training}  # inference default False, training True
    if training:
        cfg["decoder_init_norm"] = 0.1
        cfg |= {
            "standard": {"l1_coefficient": 1.0, "lp_norm": 1.0, "l1_warm_up_steps": 0},
            "gated": {"l1_coefficient": 1.0, "l1_warm_up_steps": 0},
            "jumprelu": {
                "jumprelu_init_threshold": 0.01,
                "jumprelu_bandwidth": 0.05,
                "jumprelu_sparsity_loss_mode": "step",
                "l0_coefficient": 1.0,
                "l0_warm_up_steps": 0,
                "pre_act_loss_coefficient": None,
                "jumprelu_tanh_scale": 4.0,
            },
            "topk": {"use_sparse_activations": False, "aux_loss_coefficient": 1.0},
            "batchtopk": {"use_sparse_activations": False, "aux_loss_coefficient": 1.0, "topk_threshold_lr": 0.01},
            "matryoshka_batchtopk": {
                "use_sparse_activations": False,
                "aux_loss_coefficient": 1.0,
                "topk_threshold_lr": 0.01,
                "matryoshka_widths": [16, D_SAE],
            },
        }[architecture]
    cfg["metadata"] = {
        "sae_lens_version": "6.5.1",
        "sae_lens_training_version": "6.5.1",
        "model_name": "tiny-llama",
        "hook_name": hook_name,
        "hook_head_index": None,
        "context_size": 128,
        "prepend_bos": True,
        "seqpos_slice": [None],
        "model_from_pretrained_kwargs": {},
    }
    cfg["architecture"] = architecture
    cfg.update(fields)
    return cfg


def saelens_v5_cfg(architecture: str = "standard", *, hook_name: str = "blocks.1.hook_resid_post", **fields) -> dict:
    """SAELens 3-5 ``SAEConfig.to_dict()``: flat, ``activation_fn_str`` + ``activation_fn_kwargs``."""
    cfg = {
        "architecture": architecture,
        "d_in": D_IN,
        "d_sae": D_SAE,
        "dtype": "float32",
        "device": "cpu",
        "model_name": "tiny-llama",
        "hook_name": hook_name,
        "hook_layer": 1,
        "hook_head_index": None,
        "activation_fn_str": "relu",
        "activation_fn_kwargs": {},
        "apply_b_dec_to_input": True,
        "finetuning_scaling_factor": False,
        "sae_lens_training_version": "4.4.1",
        "prepend_bos": True,
        "dataset_path": "monology/pile-uncopyrighted",
        "dataset_trust_remote_code": True,
        "context_size": 128,
        "normalize_activations": "none",
        "neuronpedia_id": None,
        "model_from_pretrained_kwargs": {},
        "seqpos_slice": [None],
    }
    cfg.update(fields)
    return cfg


def write_saelens(folder: Path, cfg: dict, tensors: dict, *, dtype: torch.dtype = torch.float32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in tensors.items()}, str(folder / "sae_weights.safetensors"))
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return folder


def saelens_tensors(arch: str, w: dict) -> dict:
    """The state dict each SAELens architecture saves."""
    base = {k: w[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec")}
    if arch == "jumprelu":
        return base | {"threshold": w["threshold"]}
    if arch in ("batchtopk", "matryoshka_batchtopk"):
        return base | {"topk_threshold": torch.tensor(0.4, dtype=torch.double)}
    if arch == "gated":
        g = torch.Generator().manual_seed(7)
        return {
            "W_enc": w["W_enc"],
            "b_gate": w["b_enc"],
            "b_mag": torch.randn(D_SAE, generator=g) * 0.1,
            "r_mag": torch.randn(D_SAE, generator=g) * 0.2,
            "W_dec": w["W_dec"],
            "b_dec": w["b_dec"],
        }
    return base


# ---------------------------------------------------------------- sparsify


def sparsify_cfg(**fields) -> dict:
    """``SparseCoderConfig().to_dict()`` + ``d_in``, as ``SparseCoder.save_to_disk`` writes it."""
    cfg = {
        "activation": "topk",
        "expansion_factor": 32,
        "normalize_decoder": True,
        "num_latents": D_SAE,
        "k": 8,
        "multi_topk": False,
        "skip_connection": False,
        "transcode": False,
        "d_in": D_IN,
    }
    cfg.update(fields)
    return cfg


def write_sparsify(folder: Path, cfg: dict, w: dict, *, W_skip: torch.Tensor | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        "encoder.weight": w["W_enc"].T.contiguous(),
        "encoder.bias": w["b_enc"],
        "W_dec": w["W_dec"],
        "b_dec": w["b_dec"],
    }
    if W_skip is not None:
        tensors["W_skip"] = W_skip
    save_file(tensors, str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return folder


# ---------------------------------------------------------------- dictionary_learning


def dl_trainer_config(trainer_class: str, dict_class: str, **fields) -> dict:
    cfg = {
        "dict_class": dict_class,
        "trainer_class": trainer_class,
        "activation_dim": D_IN,
        "dict_size": D_SAE,
        "lr": 3e-4,
        "steps": 1000,
        "seed": 0,
        "device": "cpu",
        "layer": 1,
        "lm_name": "tiny-llama",
        "wandb_name": trainer_class,
        "submodule_name": "resid_post_layer_1",
    }
    cfg.update(fields)
    return cfg


def dl_state_dict(dict_class: str, w: dict, *, k: int = 8, threshold: float = 0.4) -> dict:
    """The ``state_dict()`` of each dictionary_learning class (nn.Linear weights are ``[out, in]``)."""
    enc, dec = w["W_enc"].T.contiguous(), w["W_dec"].T.contiguous()
    if dict_class == "AutoEncoder":
        return {"bias": w["b_dec"], "encoder.weight": enc, "encoder.bias": w["b_enc"], "decoder.weight": dec}
    if dict_class == "GatedAutoEncoder":
        g = torch.Generator().manual_seed(7)
        return {
            "decoder_bias": w["b_dec"],
            "r_mag": torch.randn(D_SAE, generator=g) * 0.2,
            "gate_bias": w["b_enc"],
            "mag_bias": torch.randn(D_SAE, generator=g) * 0.1,
            "encoder.weight": enc,
            "decoder.weight": dec,
        }
    if dict_class == "JumpReluAutoEncoder":
        return {k2: w[k2] for k2 in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}
    buffers = {"k": torch.tensor(k, dtype=torch.int), "threshold": torch.tensor(threshold, dtype=torch.float32)}
    if dict_class == "MatryoshkaBatchTopKSAE":
        return buffers | {
            "group_sizes": torch.tensor([16, D_SAE - 16]),
            "W_enc": w["W_enc"],
            "b_enc": w["b_enc"],
            "W_dec": w["W_dec"],
            "b_dec": w["b_dec"],
        }
    return buffers | {"decoder.weight": dec, "encoder.weight": enc, "encoder.bias": w["b_enc"], "b_dec": w["b_dec"]}


def write_dictionary_learning(folder: Path, trainer: dict, state_dict: dict, *, buffer: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, folder / "ae.pt")
    buf = buffer or {
        "d_submodule": D_IN,
        "io": "out",
        "n_ctxs": 3000,
        "ctx_len": 128,
        "refresh_batch_size": 512,
        "out_batch_size": 8192,
        "device": "cpu",
    }
    (folder / "config.json").write_text(json.dumps({"trainer": trainer, "buffer": buf}, indent=4))
    return folder
