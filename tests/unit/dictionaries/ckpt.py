"""Write SAE checkpoints by hand in published layouts (so these tests read files as people publish them)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file


def write_saelens(folder: Path, w: dict[str, torch.Tensor | None], hook_name: str | None = None) -> str:
    """SAELens: cfg.json + sae_weights.safetensors with W_enc [d_in, d_sae], b_enc, W_dec, b_dec (ReLU)."""
    folder.mkdir(parents=True, exist_ok=True)
    d_in, d_sae = w["W_enc"].shape
    save_file(
        {k: v.contiguous().float() for k, v in w.items() if v is not None}, str(folder / "sae_weights.safetensors")
    )
    cfg = {"architecture": "standard", "d_in": d_in, "d_sae": d_sae, "apply_b_dec_to_input": True,
           "normalize_activations": "none", "hook_name": hook_name}  # fmt: skip
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return str(folder)


def write_sparsify(folder: Path, w: dict[str, torch.Tensor], k: int = 4) -> str:
    """EleutherAI sparsify: cfg.json + sae.safetensors with encoder.weight [d_sae, d_in], encoder.bias, W_dec, b_dec."""
    folder.mkdir(parents=True, exist_ok=True)
    d_in, n = w["W_enc"].shape
    (folder / "cfg.json").write_text(json.dumps({"activation": "topk", "k": k, "d_in": d_in, "num_latents": n}))
    save_file(
        {"encoder.weight": w["W_enc"].T.contiguous(), "encoder.bias": w["b_enc"], "W_dec": w["W_dec"],
         "b_dec": w["b_dec"]},
        str(folder / "sae.safetensors"),
    )  # fmt: skip
    return str(folder)
