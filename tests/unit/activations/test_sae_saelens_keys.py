"""SAELens checkpoints, key by key: each encodes/decodes as a direct computation from the written weights."""

from __future__ import annotations

import json

import pytest
import torch

from autointerp.activations.sae_formats import detect_format, load_sae
from autointerp.errors import ConfigError, InputError
from tests.support.peer_checkpoints import (
    D_IN,
    D_SAE,
    inputs,
    saelens_tensors,
    saelens_v5_cfg,
    saelens_v6_cfg,
    weights,
    write_saelens,
)


def _topk_dense(pre, k):
    kth = pre.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(pre >= kth, torch.relu(pre), torch.zeros_like(pre))


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _write(tmp_path, arch, training=False, w=None, **fields):
    w = w or weights()
    cfg = saelens_v6_cfg(arch, training=training) | fields
    write_saelens(tmp_path, cfg, saelens_tensors(arch, w))
    return w


def test_standard_and_apply_b_dec_to_input(tmp_path):
    w, x = _write(tmp_path / "a", "standard"), inputs()
    sae = load_sae(tmp_path / "a")
    f = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    _close(sae.encode(x), f)
    _close(sae.decode(sae.encode(x)), f @ w["W_dec"] + w["b_dec"])
    _write(tmp_path / "b", "standard", apply_b_dec_to_input=False)
    _close(load_sae(tmp_path / "b").encode(x), torch.relu(x @ w["W_enc"] + w["b_enc"]))


def test_topk_rescale_acts_by_decoder_norm_training_checkpoint(tmp_path):
    """SAELens TopK training configs default rescale_acts_by_decoder_norm to true: pre * ||W_dec[i]|| before top-k."""
    w, x = _write(tmp_path, "topk", training=True, k=6), inputs()
    assert json.loads((tmp_path / "cfg.json").read_text())["rescale_acts_by_decoder_norm"] is True
    sae = load_sae(tmp_path)
    norms = w["W_dec"].norm(dim=-1)
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    f = _topk_dense(pre * norms, 6)
    _close(sae.encode(x), f)
    _close(sae.decode(sae.encode(x)), (f / norms) @ w["W_dec"] + w["b_dec"])
    # the key matters on these weights: ignoring it flips active sets
    assert ((_topk_dense(pre, 6) > 0) != (f > 0)).any()
    assert "rescale_acts_by_decoder_norm" in sae.summary


def test_topk_inference_checkpoint_without_rescale(tmp_path):
    w, x = _write(tmp_path, "topk", k=6), inputs()
    _close(load_sae(tmp_path).encode(x), _topk_dense((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"], 6))


def test_pre6_topk_activation_fn_kwargs_and_hook_point(tmp_path):
    w, x = weights(), inputs()
    cfg = saelens_v5_cfg(activation_fn_str="topk", activation_fn_kwargs={"k": 5})
    cfg["hook_point"] = cfg.pop("hook_name")
    write_saelens(tmp_path, cfg, saelens_tensors("standard", w))
    sae = load_sae(tmp_path)
    assert sae.k == 5 and sae.hook_name == "blocks.1.hook_resid_post"
    _close(sae.encode(x), _topk_dense((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"], 5))


def test_pre6_tanh_relu(tmp_path):
    w, x = weights(), inputs()
    write_saelens(tmp_path, saelens_v5_cfg(activation_fn_str="tanh-relu"), saelens_tensors("standard", w))
    _close(load_sae(tmp_path).encode(x), torch.tanh(torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])))


def test_jumprelu(tmp_path):
    w, x = _write(tmp_path, "jumprelu", apply_b_dec_to_input=False), inputs()
    pre = x @ w["W_enc"] + w["b_enc"]
    _close(load_sae(tmp_path).encode(x), torch.where(pre > w["threshold"], torch.relu(pre), 0.0))


def test_gated(tmp_path):
    w, x = weights(), inputs()
    t = saelens_tensors("gated", w)
    write_saelens(tmp_path, saelens_v6_cfg("gated"), t)
    sae = load_sae(tmp_path)
    sae_in = x - t["b_dec"]
    gate = sae_in @ t["W_enc"] + t["b_gate"] > 0
    mag = torch.relu(sae_in @ (t["W_enc"] * t["r_mag"].exp()) + t["b_mag"])
    _close(sae.encode(x), gate * mag)
    _close(sae.encode(x, [3, 0, 40]), (gate * mag)[:, [3, 0, 40]])
    _close(sae.decode(gate * mag), (gate * mag) @ t["W_dec"] + t["b_dec"])


@pytest.mark.parametrize("arch", ["batchtopk", "matryoshka_batchtopk"])
def test_batchtopk_training_checkpoint_encodes_as_saelens_inference_conversion(tmp_path, arch):
    w, x = _write(tmp_path, arch, training=True), inputs()
    norms = w["W_dec"].norm(dim=-1)
    pre = ((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]) * norms
    f = torch.where(pre > 0.4, torch.relu(pre), 0.0)
    sae = load_sae(tmp_path)
    _close(sae.encode(x), f)
    _close(sae.decode(f), (f / norms) @ w["W_dec"] + w["b_dec"])


def test_constant_norm_rescale_and_decode_undoes_it(tmp_path):
    w, x = _write(tmp_path, "standard", normalize_activations="constant_norm_rescale"), inputs()
    coeff = D_IN**0.5 / x.norm(dim=-1, keepdim=True)
    f = torch.relu((x * coeff - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    sae = load_sae(tmp_path)
    _close(sae.encode(x), f)
    _close(sae.decode(f, x), (f @ w["W_dec"] + w["b_dec"]) / coeff)
    with pytest.raises(InputError, match="decoding needs the input x"):
        sae.decode(f)


def test_layer_norm_and_decode_undoes_it(tmp_path):
    w, x = _write(tmp_path, "topk", k=6, normalize_activations="layer_norm"), inputs()
    mu = x.mean(-1, keepdim=True)
    std = (x - mu).std(-1, keepdim=True)
    f = _topk_dense(((x - mu) / (std + 1e-5) - w["b_dec"]) @ w["W_enc"] + w["b_enc"], 6)
    sae = load_sae(tmp_path)
    _close(sae.encode(x), f)
    _close(sae.decode(f, x), (f @ w["W_dec"] + w["b_dec"]) * std + mu)


def test_expected_average_only_in_uses_the_activation_scaler(tmp_path):
    w, x = _write(tmp_path, "standard", normalize_activations="expected_average_only_in"), inputs()
    with pytest.raises(ConfigError, match="activation_scaler.json"):
        load_sae(tmp_path)
    (tmp_path / "activation_scaler.json").write_text(json.dumps({"scaling_factor": 0.25}))
    f = torch.relu((x * 0.25 - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    sae = load_sae(tmp_path)
    _close(sae.encode(x), f)
    _close(sae.decode(f), (f @ w["W_dec"] + w["b_dec"]) / 0.25)


def test_pre6_boolean_normalize_activations(tmp_path):
    write_saelens(tmp_path, saelens_v5_cfg(normalize_activations=True), saelens_tensors("standard", weights()))
    with pytest.raises(ConfigError, match="'expected_average_only_in' but the dataset scaling factor"):
        load_sae(tmp_path)


def test_finetuning_scaling_factor(tmp_path):
    w, x = weights(), inputs()
    scale = torch.linspace(0.5, 2.0, D_SAE)
    t = saelens_tensors("standard", w) | {"scaling_factor": scale}
    write_saelens(tmp_path / "a", saelens_v5_cfg(finetuning_scaling_factor=True), t)
    sae = load_sae(tmp_path / "a")
    f = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    _close(sae.encode(x), f)
    _close(sae.decode(f), (f * scale) @ w["W_dec"] + w["b_dec"])
    write_saelens(tmp_path / "b", saelens_v5_cfg(), t)
    with pytest.raises(ConfigError, match="non-unit 'scaling_factor'"):
        load_sae(tmp_path / "b")
    write_saelens(tmp_path / "c", saelens_v5_cfg(), t | {"scaling_factor": torch.ones(D_SAE)})
    assert load_sae(tmp_path / "c").dec_scale is None


def test_dtype_rounds_weights_as_saelens_loads_them(tmp_path):
    w, x = _write(tmp_path, "standard", dtype="bfloat16"), inputs()
    r = {k: v.to(torch.bfloat16).float() for k, v in w.items()}
    _close(load_sae(tmp_path).encode(x), torch.relu((x - r["b_dec"]) @ r["W_enc"] + r["b_enc"]))
    _write(tmp_path, "standard", dtype="int8")
    with pytest.raises(ConfigError, match="dtype='int8' is not supported"):
        load_sae(tmp_path)


def test_training_only_keys_are_accepted_unknown_keys_refused(tmp_path):
    _write(tmp_path, "standard", training=True, lr=3e-4, use_ghost_grads=False)
    load_sae(tmp_path)
    _write(tmp_path, "standard", my_new_scaling=2.0)
    with pytest.raises(ConfigError, match="config key 'my_new_scaling' is unknown"):
        load_sae(tmp_path)
    cfg = saelens_v6_cfg("standard")
    cfg["metadata"]["activation_offset"] = 1.0
    write_saelens(tmp_path, cfg, saelens_tensors("standard", weights()))
    with pytest.raises(ConfigError, match="'activation_offset' is unknown"):
        load_sae(tmp_path)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"architecture": "transcoder"}, "unsupported architecture 'transcoder'"),
        ({"hook_head_index": 3}, "hook_head_index=3 is not supported"),
        ({"reshape_activations": "hook_z"}, "reshape_activations='hook_z'"),
        ({"hook_name_out": "blocks.1.hook_mlp_out"}, "hook_name_out="),
        ({"activation_fn_kwargs": {"k": 3, "postact_fn": "tanh"}}, "activation_fn_kwargs"),
        ({"activation_fn": "softplus"}, "activation_fn='softplus'"),
        ({"rescale_acts_by_decoder_norm": True}, "rescale_acts_by_decoder_norm=True is not supported"),
        ({"normalize_activations": "whiten"}, "normalize_activations='whiten'"),
    ],
)
def test_values_that_change_encoding_and_are_not_implemented_are_refused(tmp_path, fields, message):
    _write(tmp_path, "standard", **fields)
    with pytest.raises((ConfigError, InputError), match=message):
        load_sae(tmp_path)


def test_unexpected_tensor_refused(tmp_path):
    w = weights()
    write_saelens(tmp_path, saelens_v6_cfg("standard"), saelens_tensors("standard", w) | {"W_skip": torch.eye(D_IN)})
    with pytest.raises(InputError, match="tensor\\(s\\) W_skip are not part of a SAELens 'standard' SAE"):
        load_sae(tmp_path)


def test_weights_file_is_read_with_its_sibling_config(tmp_path):
    _write(tmp_path, "topk", training=True, k=6)
    x = inputs()
    file = tmp_path / "sae_weights.safetensors"
    assert detect_format(file) == "saelens"
    from_file, from_folder = load_sae(file), load_sae(tmp_path)
    assert from_file.k == 6 and from_file.pre_scale is not None
    assert torch.equal(from_file.encode(x), from_folder.encode(x))
    other = tmp_path / "other"
    other.mkdir()
    (other / "cfg.json").write_text("{}")
    (other / "mine.safetensors").write_bytes(file.read_bytes())
    with pytest.raises(InputError, match="has cfg.json beside it but is not named like"):
        load_sae(other / "mine.safetensors")


def test_nan_weights_are_a_one_line_error(tmp_path):
    w = weights()
    w["W_enc"][2, 5] = float("nan")
    w["b_dec"][0] = float("inf")
    _write(tmp_path, "standard", w=w)
    with pytest.raises(InputError, match="tensor W_enc has 1 NaN/inf value") as err:
        load_sae(tmp_path)
    assert "\n" not in str(err.value)


def test_summary_states_model_loading_and_dims_are_checked(tmp_path):
    cfg = saelens_v6_cfg("standard")
    cfg["metadata"]["model_from_pretrained_kwargs"] = {"center_writing_weights": False}
    write_saelens(tmp_path, cfg, saelens_tensors("standard", weights()))
    assert "center_writing_weights" in load_sae(tmp_path).summary
    _write(tmp_path, "standard", d_sae=D_SAE + 1)
    with pytest.raises(InputError, match=f"d_sae={D_SAE + 1} but the weights have {D_SAE}"):
        load_sae(tmp_path)


def test_autointerp_saves_load_back_including_the_demo_record(tmp_path):
    from autointerp.activations.sae import make_sae
    from autointerp.activations.sae_formats import save_saelens

    w, x = weights(), inputs()
    norms = w["W_dec"].norm(dim=-1)
    sae = make_sae("topk", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"], k=6, pre_scale=norms)
    save_saelens(sae, tmp_path, hook_name="layers.6.resid_post", extra={"autointerp_training": {"fvu": 0.1}})
    back = load_sae(tmp_path)
    assert json.loads((tmp_path / "cfg.json").read_text())["rescale_acts_by_decoder_norm"] is True
    assert torch.equal(back.encode(x), sae.encode(x))
