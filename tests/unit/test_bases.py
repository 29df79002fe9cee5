"""Units of a run: features and neurons as bases, and their direct logit effects for the explainer."""

from __future__ import annotations

import torch

from autointerp.activations.model_source import Basis
from autointerp.activations.sae import IdentityDict
from autointerp.activations.sites import HookSite
from autointerp.runs.bases import RunBasis, build_bases, logit_tokens
from autointerp.runs.config import load_config


def _names(subject, ids):
    return tuple(subject.tokenizer.decode([int(i)]) for i in ids)


def test_logit_tokens_follow_the_write_direction(tiny_llama):
    W_U = tiny_llama.unembed.float()
    resid = RunBasis("neurons:layers.1.resid_post", "neuron",
                     Basis(HookSite.parse("layers.1.resid_post"), IdentityDict(32), (3,)))
    got = logit_tokens(tiny_llama, resid, 3, 4)
    assert got.promoted == _names(tiny_llama, W_U[3].topk(4).indices)
    assert got.suppressed == _names(tiny_llama, (-W_U[3]).topk(4).indices)
    mlp = RunBasis("neurons:layers.1.mlp", "neuron", Basis(HookSite.parse("layers.1.mlp"), IdentityDict(48), (5,)))
    down = tiny_llama.model.model.layers[1].mlp.down_proj.weight  # [d_model, d_mlp]: neuron 5 writes column 5
    assert logit_tokens(tiny_llama, mlp, 5, 4).promoted == _names(tiny_llama, (down[:, 5] @ W_U).topk(4).indices)
    assert logit_tokens(tiny_llama, mlp, 5, 0) is None


def test_build_bases_same_path_for_features_and_neurons(tiny_llama, tiny_llama_dir, tmp_path):
    from autointerp.activations.sae import make_sae
    from autointerp.activations.sae_formats import save_saelens

    W = torch.randn(10, 32, generator=torch.Generator().manual_seed(0))
    sae = save_saelens(make_sae("relu", W.T.clone(), torch.zeros(10), W, torch.zeros(32)), tmp_path / "s")
    cfg = load_config(None, {"model": str(tiny_llama_dir), "sae": str(sae), "sae_site": "layers.2.resid_post",
                             "features": 4, "neuron_site": "layers.2.mlp", "neurons": "0-2"})
    feats, neurons = build_bases(cfg, tiny_llama)
    assert (feats.kind, feats.name, len(feats.unit_ids)) == ("feature", "sae:s", 4)
    assert (neurons.kind, neurons.name, neurons.unit_ids) == ("neuron", "neurons:layers.2.mlp", (0, 1, 2))
    assert isinstance(neurons.basis.dictionary, IdentityDict) and neurons.basis.dictionary.d_in == 48
    assert build_bases(cfg, tiny_llama)[0].unit_ids == feats.unit_ids  # seeded
