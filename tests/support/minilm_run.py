"""A small all-scorers run config on the real ``minilm-l6`` with a tiny TopK SAE (issue 19's scenarios)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import save_saelens

ALL_SCORERS = ["specificity", "simulation", "detection", "fuzzing", "embedding", "intruder", "saebench"]
SITE = "layers.2.resid_post"


def tiny_topk_sae(folder: Path, d_sae: int = 48, k: int = 6) -> Path:
    """A seeded random TopK SAE on minilm-l6's residual stream (d_model 384), in SAELens layout."""
    g = torch.Generator().manual_seed(0)
    W_dec = torch.randn(d_sae, 384, generator=g)
    W_dec /= W_dec.norm(dim=-1, keepdim=True)
    sae = make_sae("topk", W_dec.T.clone(), torch.zeros(d_sae), W_dec, torch.zeros(384), k=k)
    return save_saelens(sae, folder, hook_name=SITE)


def minilm_config(tmp: Path, name: str, sae: Path, backend: str, *, features: int = 6, neurons: int = 4,
                  **extra) -> Path:
    """Write ``tmp/name.yaml``: ``features`` SAE features + ``neurons`` MLP neurons, every scorer, ``backend``."""
    cfg = {
        "name": name, "results_dir": str(tmp / "results"), "model": "minilm-l6", "corpus": "brown",
        "max_tokens": 3000, "window": 16, "sae": str(sae), "sae_site": SITE, "features": features,
        "neuron_site": "layers.2.mlp", "neurons": neurons, "seed": 3,
        "sampler": {"top_k": 6, "per_bin": 2, "n_random": 10, "batch_size": 8},
        "explain": {"n_top": 4, "n_quantile": 3, "n_logit_tokens": 0},
        "rubric": {"per_level": 1, "n_random": 2, "contexts_per_prompt": 3},
        "simulate": {"method": "json-list", "n_top": 2, "n_random": 2, "contexts_per_prompt": 2},
        "scorers": ALL_SCORERS, "negatives": "neighbours",
        "detection": {"per_level": 1, "n_negatives": 3},
        "fuzzing": {"per_level": 1},
        "intruder": {"n_activating": 2, "n_trials": 2},
        "backends": {"explain": backend, "rubric": backend, "simulate": backend},
        "llm": {"max_concurrency": 8, "max_retries": 1, "retry_wait": 0.01, "cache_dir": str(tmp / f"cache_{name}")},
    }
    for key, value in extra.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
