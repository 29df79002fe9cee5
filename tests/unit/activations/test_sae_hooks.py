"""Hook names in SAE checkpoints: mapped onto autointerp sites, and a mismatch with the requested site refused."""

from __future__ import annotations

import pytest
import torch

from autointerp.activations.hook_names import check_hook, map_hook
from autointerp.activations.sae_formats import check_sae_site, load_sae
from autointerp.errors import ConfigError
from tests.support.peer_checkpoints import (
    dl_state_dict,
    dl_trainer_config,
    saelens_tensors,
    saelens_v6_cfg,
    sparsify_cfg,
    weights,
    write_dictionary_learning,
    write_saelens,
    write_sparsify,
)


@pytest.mark.parametrize(
    "hook, site",
    [
        ("blocks.6.hook_resid_post", "layers.6.resid_post"),
        ("blocks.6.hook_resid_pre", "layers.6.resid_pre"),
        ("blocks.6.hook_mlp_out", "layers.6.mlp_out"),
        ("blocks.6.hook_attn_out", "layers.6.attn_out"),
        ("blocks.6.mlp.hook_post", "layers.6.mlp"),
        ("layers.6.resid_post", "layers.6.resid_post"),
        ("layers.6.mlp", "layers.6.mlp"),  # autointerp's own name (autointerp's saves): the neurons
    ],
)
def test_hook_names_map_onto_sites(hook, site):
    assert map_hook(hook).site == site


@pytest.mark.parametrize(
    "hookpoint, site",
    [
        ("layers.6", "layers.6.resid_post"),
        ("model.layers.6", "layers.6.resid_post"),
        ("layers.6.mlp", "layers.6.mlp_out"),  # a module path: the MLP module's output
        ("transformer.h.6.mlp", "layers.6.mlp_out"),
        ("gpt_neox.layers.6.attention", "layers.6.attn_out"),
        ("layers.6.self_attn", "layers.6.attn_out"),
    ],
)
def test_sparsify_hookpoints_map_onto_sites(hookpoint, site):
    assert map_hook(hookpoint, modules=True).site == site


def test_transcoder_hookpoints_read_the_module_input():
    assert map_hook("layers.6.mlp", modules=True, transcode=True).site == "layers.6.mlp_in"
    assert map_hook("layers.6", modules=True, transcode=True).site == "layers.6.resid_pre"


@pytest.mark.parametrize(
    "hook",
    [
        "blocks.6.attn.hook_z",
        "blocks.6.hook_resid_mid",
        "blocks.6.mlp.hook_pre",
        "blocks.6.hook_mlp_in",
        "hook_embed",
        "blocks.6.ln2.hook_normalized",
        "blocks.6.attn.hook_nonsense",
    ],
)
def test_hooks_without_a_site_are_refused(hook):
    assert map_hook(hook).site is None
    with pytest.raises(ConfigError, match="which no autointerp site reads|not a hook name autointerp knows"):
        check_hook(hook, "layers.6.resid_post", source="SAE x")


def test_post_norm_models_refuse_module_outputs():
    assert map_hook("layers.6.mlp", modules=True, model_type="gemma2").site is None
    assert map_hook("layers.6.mlp", modules=True, model_type="llama").site == "layers.6.mlp_out"


def test_mismatch_refused_unless_allowed():
    with pytest.raises(ConfigError, match="maps to layers.6.resid_post, not the requested site layers.5.resid_post"):
        check_hook("blocks.6.hook_resid_post", "layers.5.resid_post", source="SAE x")
    line = check_hook("blocks.6.hook_resid_post", "layers.5.resid_post", source="SAE x", allow_mismatch=True)
    assert "mismatch allowed" in line
    assert check_hook(None, "layers.5.resid_post", source="SAE x").startswith("hook: not stated")


def test_each_format_checks_its_hook(tmp_path):
    w = weights()
    write_saelens(
        tmp_path / "a", saelens_v6_cfg("standard", hook_name="blocks.1.hook_mlp_out"), saelens_tensors("standard", w)
    )
    sae = load_sae(tmp_path / "a")
    assert check_sae_site(sae, "layers.1.mlp_out") == "hook: blocks.1.hook_mlp_out = layers.1.mlp_out"
    with pytest.raises(ConfigError, match="hook 'blocks.1.hook_mlp_out'"):
        check_sae_site(sae, "layers.1.resid_post")
    sp = load_sae(write_sparsify(tmp_path / "layers.3.mlp", sparsify_cfg(transcode=True), w))
    check_sae_site(sp, "layers.3.mlp_in")
    with pytest.raises(ConfigError, match="maps to layers.3.mlp_in"):
        check_sae_site(sp, "layers.3.mlp_out")
    cfg = dl_trainer_config("TopKTrainer", "AutoEncoderTopK", k=8, submodule_name="my_probe", layer=4)
    dl = load_sae(write_dictionary_learning(tmp_path / "dl", cfg, dl_state_dict("AutoEncoderTopK", w)))
    check_sae_site(dl, "layers.4.resid_post")
    with pytest.raises(ConfigError, match="trained on layer 4, not layer 2"):
        check_sae_site(dl, "layers.2.resid_post")


def test_run_config_refuses_a_mismatched_sae(tiny_llama, tiny_llama_dir, tmp_path):
    from autointerp.runs.bases import build_bases
    from autointerp.runs.config import load_config

    W = torch.randn(10, 32, generator=torch.Generator().manual_seed(0))
    cfg = saelens_v6_cfg("standard", hook_name="blocks.1.hook_resid_post") | {"d_in": 32, "d_sae": 10}
    write_saelens(
        tmp_path / "s", cfg, {"W_enc": W.T.clone(), "b_enc": torch.zeros(10), "W_dec": W, "b_dec": torch.zeros(32)}
    )
    base = {"model": str(tiny_llama_dir), "sae": str(tmp_path / "s"), "features": 2, "neuron_site": None}
    with pytest.raises(
        ConfigError, match="field 'sae': .*blocks.1.hook_resid_post.*not the requested site layers.2.resid_post"
    ):
        build_bases(load_config(None, base | {"sae_site": "layers.2.resid_post"}), tiny_llama)
    assert build_bases(load_config(None, base | {"sae_site": "layers.1.resid_post"}), tiny_llama)
    over = load_config(None, base | {"sae_site": "layers.2.resid_post", "sae_site_override": True})
    assert build_bases(over, tiny_llama)[0].kind == "feature"
