"""sparsify, dictionary_learning and bare-file checkpoints, key by key, against direct computations."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from autointerp.activations.sae_formats import detect_format, load_sae
from autointerp.errors import ConfigError, InputError
from tests.support.peer_checkpoints import (
    D_IN,
    D_SAE,
    dl_state_dict,
    dl_trainer_config,
    inputs,
    sparsify_cfg,
    weights,
    write_dictionary_learning,
    write_sparsify,
)


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _topk_dense(pre, k):
    kth = pre.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(pre >= kth, torch.relu(pre), torch.zeros_like(pre))


# ---------------------------------------------------------------- sparsify


def test_sparsify_topk(tmp_path):
    w, x = weights(), inputs()
    folder = write_sparsify(tmp_path / "layers.1", sparsify_cfg(k=8), w)
    assert detect_format(folder) == detect_format(folder / "sae.safetensors") == "sparsify"
    sae = load_sae(folder / "sae.safetensors")
    f = _topk_dense(torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]), 8)
    _close(sae.encode(x), f)
    _close(sae.decode(f), f @ w["W_dec"] + w["b_dec"])
    assert sae.hook_name == "layers.1" and sae.k == 8


def test_sparsify_groupmax(tmp_path):
    w, x = weights(), inputs()
    sae = load_sae(write_sparsify(tmp_path / "layers.1", sparsify_cfg(activation="groupmax", k=4), w))
    acts = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    want = torch.zeros_like(acts)
    for g in range(4):  # 4 contiguous groups of 12 latents: keep each group's max
        block = acts[:, g * 12 : (g + 1) * 12]
        idx = block.argmax(dim=-1)
        want[torch.arange(len(x)), g * 12 + idx] = block.max(dim=-1).values
    _close(sae.encode(x), want)


def test_sparsify_signed(tmp_path):
    w, x = weights(), inputs()
    sae = load_sae(write_sparsify(tmp_path / "layers.1", sparsify_cfg(signed=True, k=5), w))
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    kth = pre.abs().sort(dim=-1, descending=True).values[:, 4:5]
    _close(sae.encode(x), torch.where(pre.abs() >= kth, pre, 0.0))


def test_sparsify_transcode_and_skip_connection(tmp_path):
    w, x = weights(), inputs()
    W_skip = torch.randn(D_IN, D_IN, generator=torch.Generator().manual_seed(3)) * 0.1
    folder = write_sparsify(
        tmp_path / "layers.1.mlp", sparsify_cfg(transcode=True, skip_connection=True, k=8), w, W_skip=W_skip
    )
    sae = load_sae(folder)
    f = _topk_dense(torch.relu(x @ w["W_enc"] + w["b_enc"]), 8)  # transcoders do not subtract b_dec
    _close(sae.encode(x), f)
    _close(sae.decode(f, x), f @ w["W_dec"] + w["b_dec"] + x @ W_skip.T)
    with pytest.raises(InputError, match="decoding needs the input x \\(skip_connection"):
        sae.decode(f)
    assert sae.transcoder


def test_sparsify_keys(tmp_path):
    w = weights()
    load_sae(write_sparsify(tmp_path / "a", sparsify_cfg(multi_topk=True, normalize_decoder=False), w))
    with pytest.raises(ConfigError, match="'activation_bias' is unknown"):
        load_sae(write_sparsify(tmp_path / "b", sparsify_cfg(activation_bias=0.1), w))
    with pytest.raises(ConfigError, match="activation='jumprelu' is not supported"):
        load_sae(write_sparsify(tmp_path / "c", sparsify_cfg(activation="jumprelu"), w))
    with pytest.raises(InputError, match="num_latents=64 but the weights have 48"):
        load_sae(write_sparsify(tmp_path / "d", sparsify_cfg(num_latents=64), w))
    with pytest.raises(InputError, match="expansion_factor=32"):
        load_sae(write_sparsify(tmp_path / "e", sparsify_cfg(num_latents=0), w))
    assert load_sae(write_sparsify(tmp_path / "f", sparsify_cfg(num_latents=0, expansion_factor=3), w)).d_sae == 48


# ---------------------------------------------------------------- dictionary_learning


def test_dl_autoencoder_reproduces_from_pretrained_decoder_normalisation(tmp_path):
    w, x = weights(), inputs()  # decoder column norms in [0.05, 3]: from_pretrained normalises them
    sd = dl_state_dict("AutoEncoder", w)
    sae = load_sae(
        write_dictionary_learning(tmp_path, dl_trainer_config("StandardTrainerAprilUpdate", "AutoEncoder"), sd)
    )
    norms = sd["decoder.weight"].norm(dim=0)
    f = torch.relu((x - sd["bias"]) @ (sd["encoder.weight"] * norms[:, None]).T + sd["encoder.bias"] * norms)
    _close(sae.encode(x), f)
    _close(sae.decode(f), f @ (sd["decoder.weight"] / norms).T + sd["bias"])
    # same reconstruction as the raw state dict: only the activation scale differs
    raw = torch.relu((x - sd["bias"]) @ sd["encoder.weight"].T + sd["encoder.bias"])
    _close(sae.decode(sae.encode(x)), raw @ sd["decoder.weight"].T + sd["bias"])
    assert "normalised" in sae.summary


def test_dl_gated(tmp_path):
    w, x = weights(), inputs()
    sd = dl_state_dict("GatedAutoEncoder", w)
    sae = load_sae(write_dictionary_learning(tmp_path, dl_trainer_config("GatedSAETrainer", "GatedAutoEncoder"), sd))
    x_enc = (x - sd["decoder_bias"]) @ sd["encoder.weight"].T
    f = (x_enc + sd["gate_bias"] > 0) * torch.relu(sd["r_mag"].exp() * x_enc + sd["mag_bias"])
    _close(sae.encode(x), f)
    _close(sae.decode(f), f @ sd["decoder.weight"].T + sd["decoder_bias"])


def test_dl_jumprelu_does_not_subtract_b_dec(tmp_path):
    w, x = weights(), inputs()
    sd = dl_state_dict("JumpReluAutoEncoder", w)
    sae = load_sae(
        write_dictionary_learning(
            tmp_path, dl_trainer_config("JumpReluTrainer", "JumpReluAutoEncoder", bandwidth=0.001, target_l0=20), sd
        )
    )
    pre = x @ sd["W_enc"] + sd["b_enc"]
    _close(sae.encode(x), torch.relu(pre * (pre > sd["threshold"])))


def test_dl_topk_uses_topk_and_checks_k(tmp_path):
    w, x = weights(), inputs()
    sd = dl_state_dict("AutoEncoderTopK", w, k=6)
    sae = load_sae(write_dictionary_learning(tmp_path, dl_trainer_config("TopKTrainer", "AutoEncoderTopK", k=6), sd))
    _close(sae.encode(x), _topk_dense(torch.relu((x - sd["b_dec"]) @ sd["encoder.weight"].T + sd["encoder.bias"]), 6))
    write_dictionary_learning(tmp_path, dl_trainer_config("TopKTrainer", "AutoEncoderTopK", k=7), sd)
    with pytest.raises(InputError, match="config k=7 but the state dict's k buffer is 6"):
        load_sae(tmp_path)


@pytest.mark.parametrize(
    "dict_class, trainer",
    [("BatchTopKSAE", "BatchTopKTrainer"), ("MatryoshkaBatchTopKSAE", "MatryoshkaBatchTopKTrainer")],
)
def test_dl_batchtopk_threshold(tmp_path, dict_class, trainer):
    w, x = weights(), inputs()
    sd = dl_state_dict(dict_class, w, threshold=0.4)
    cfg = dl_trainer_config(trainer, dict_class, k=8, norm_factor=12.5, threshold_beta=0.999)
    sae = load_sae(write_dictionary_learning(tmp_path, cfg, sd))
    post = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    _close(sae.encode(x), post * (post > 0.4))
    write_dictionary_learning(tmp_path, cfg, dl_state_dict(dict_class, w, threshold=-1.0))
    with pytest.raises(InputError, match="never learned"):
        load_sae(tmp_path)


def test_dl_keys_backup_and_checkpoint_paths(tmp_path):
    w = weights()
    sd = dl_state_dict("AutoEncoderTopK", w)
    cfg = dl_trainer_config("TopKTrainer", "AutoEncoderTopK", k=8)
    write_dictionary_learning(tmp_path, {**cfg, "activation_shift": 1.0}, sd)
    with pytest.raises(ConfigError, match="'activation_shift' is unknown"):
        load_sae(tmp_path)
    write_dictionary_learning(tmp_path, cfg, sd)
    (tmp_path / "checkpoints").mkdir()
    torch.save(sd, tmp_path / "checkpoints" / "ae_500.pt")
    assert detect_format(tmp_path / "checkpoints" / "ae_500.pt") == "dictionary_learning"
    assert load_sae(tmp_path / "checkpoints" / "ae_500.pt").k == 8
    torch.save({"step": 5, "ae": sd, "optimizer": {}, "config": {"k": 8}, "norm_factor": 2.0}, tmp_path / "ae.pt")
    with pytest.raises(InputError, match="training backup"):
        load_sae(tmp_path)


# ---------------------------------------------------------------- bare files


def test_bare_file_states_its_assumptions_or_is_refused(tmp_path):
    w = weights()
    save_file({k: w[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec")}, str(tmp_path / "x.safetensors"))
    sae = load_sae(tmp_path / "x.safetensors")
    assert "no config: assumed relu" in sae.summary and "b_dec subtracted" in sae.summary
    save_file({k: w[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}, str(tmp_path / "x.safetensors"))
    with pytest.raises(InputError, match="non-zero b_dec"):
        load_sae(tmp_path / "x.safetensors")
    save_file(
        {k: w[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec")} | {"b_gate": w["b_enc"].clone()},
        str(tmp_path / "x.safetensors"),
    )
    with pytest.raises(InputError, match="b_gate"):
        load_sae(tmp_path / "x.safetensors")


def test_dl_summary_and_config_json(tmp_path):
    sd = dl_state_dict("AutoEncoderTopK", weights())
    folder = write_dictionary_learning(tmp_path, dl_trainer_config("TopKTrainer", "AutoEncoderTopK", k=8), sd)
    assert json.loads((folder / "config.json").read_text())["buffer"]["io"] == "out"
    sae = load_sae(folder)
    assert sae.hook_name == "layers.1.resid_post" and "lm tiny-llama" in sae.summary
    assert (sae.d_in, sae.d_sae) == (D_IN, D_SAE)
