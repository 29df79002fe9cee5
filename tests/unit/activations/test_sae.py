"""Dictionaries (contract test over every implementation) and SAE checkpoint formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from autointerp.activations.sae import Dictionary, IdentityDict, check_width, make_sae
from autointerp.activations.sae_formats import detect_format, load_sae, save_saelens
from autointerp.errors import ConfigError, InputError

D_IN, D_SAE, K = 16, 40, 5


class Opaque:
    """An arbitrary pickled object: weights_only loading must refuse it."""


def _weights(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "W_enc": torch.randn(D_IN, D_SAE, generator=g),
        "b_enc": torch.randn(D_SAE, generator=g) * 0.1,
        "W_dec": torch.randn(D_SAE, D_IN, generator=g),
        "b_dec": torch.randn(D_IN, generator=g),
        "threshold": torch.rand(D_SAE, generator=g),
    }


def _x(seed=1, shape=(3, 4)):
    return torch.randn(*shape, D_IN, generator=torch.Generator().manual_seed(seed))


# direct computations, written independently of the implementation
def _relu_ref(w, x, sub=True):
    return torch.relu((x - w["b_dec"] * sub) @ w["W_enc"] + w["b_enc"])


def _topk_ref(w, x, k=K, sub=True):
    pre = (x - w["b_dec"] * sub) @ w["W_enc"] + w["b_enc"]
    kth = pre.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(pre >= kth, torch.relu(pre), torch.zeros_like(pre))


def _jump_ref(w, x, sub=False):
    pre = (x - w["b_dec"] * sub) @ w["W_enc"] + w["b_enc"]
    return torch.where(pre > w["threshold"], torch.relu(pre), torch.zeros_like(pre))


def _dictionaries():
    w = _weights()
    return {
        "identity": IdentityDict(D_IN),
        "relu": make_sae("relu", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"]),
        "topk": make_sae("topk", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"], k=K),
        "jumprelu": make_sae("jumprelu", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"], threshold=w["threshold"]),
    }


@pytest.mark.parametrize("name", list(_dictionaries()))
def test_dictionary_contract(name):
    d = _dictionaries()[name]
    assert isinstance(d, Dictionary)
    x = _x()
    f = d.encode(x)
    assert f.shape == (3, 4, d.d_sae) and f.dtype == torch.float32
    assert d.decode(f).shape == x.shape
    units = [d.d_sae - 1, 0, 3]
    torch.testing.assert_close(d.encode(x, units), f[..., units])
    torch.testing.assert_close(d.encode(x, torch.tensor(units)), f[..., units])
    with pytest.raises(InputError, match=f"width {D_IN}, got {D_IN + 1}"):
        d.encode(torch.zeros(2, D_IN + 1))
    check_width(d, D_IN, "layers.0.mlp")
    with pytest.raises(InputError, match="hook site layers.0.mlp has width 7"):
        check_width(d, 7, "layers.0.mlp")


def test_identity_dict_is_the_input():
    x = _x()
    d = IdentityDict(D_IN)
    assert torch.equal(d.encode(x), x) and torch.equal(d.decode(x), x)
    assert d.d_in == d.d_sae == D_IN


def test_architectures_encode_as_direct_computation():
    w, x, d = _weights(), _x(), _dictionaries()
    torch.testing.assert_close(d["relu"].encode(x), _relu_ref(w, x))
    torch.testing.assert_close(d["topk"].encode(x), _topk_ref(w, x))
    torch.testing.assert_close(d["jumprelu"].encode(x, None), _jump_ref(w, x, sub=True))
    assert ((d["topk"].encode(x) > 0).sum(-1) <= K).all()
    torch.testing.assert_close(d["relu"].decode(d["relu"].encode(x)), _relu_ref(w, x) @ w["W_dec"] + w["b_dec"])


def test_unknown_architecture_and_missing_k():
    w = _weights()
    with pytest.raises(ConfigError, match="unknown SAE architecture 'matryoshka'"):
        make_sae("matryoshka", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"])
    with pytest.raises(ConfigError, match="gated SAE needs gate"):
        make_sae("gated", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"])
    with pytest.raises(ConfigError, match="needs k"):
        make_sae("topk", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"])


def test_inconsistent_shapes_are_one_line_errors():
    w = _weights()
    with pytest.raises(InputError, match=r"W_dec has shape \(40, 15\), expected \(40, 16\)"):
        make_sae("relu", w["W_enc"], w["b_enc"], w["W_dec"][:, :15], w["b_dec"])
    with pytest.raises(InputError, match=r"b_enc has shape \(39,\)"):
        make_sae("relu", w["W_enc"], w["b_enc"][:-1], w["W_dec"], w["b_dec"])


# ---------------------------------------------------------------- checkpoint layouts written as the libraries do


def _saelens(tmp_path, arch, extra_cfg=None):
    w = _weights()
    keys = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if arch == "jumprelu" else [])
    save_file({k: w[k] for k in keys}, str(tmp_path / "sae_weights.safetensors"))
    cfg = {
        "architecture": arch,
        "d_in": D_IN,
        "d_sae": D_SAE,
        "apply_b_dec_to_input": arch != "jumprelu",
        "normalize_activations": "none",
        "hook_name": "blocks.1.hook_resid_post",
        **(extra_cfg or {}),
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    return w


@pytest.mark.parametrize(
    "arch, extra, ref",
    [
        ("standard", {}, lambda w, x: _relu_ref(w, x)),
        ("topk", {"k": K}, lambda w, x: _topk_ref(w, x)),
        ("standard", {"activation_fn_str": "topk", "activation_fn_kwargs": {"k": K}}, lambda w, x: _topk_ref(w, x)),
        ("jumprelu", {}, lambda w, x: _jump_ref(w, x)),
    ],
)
def test_saelens(tmp_path, arch, extra, ref):
    w = _saelens(tmp_path, arch, extra)
    assert detect_format(tmp_path) == "saelens"
    sae = load_sae(tmp_path)
    torch.testing.assert_close(sae.encode(_x()), ref(w, _x()))
    assert sae.hook_name == "blocks.1.hook_resid_post"


def test_saelens_constant_norm_rescale(tmp_path):
    w = _saelens(tmp_path, "standard", {"normalize_activations": "constant_norm_rescale"})
    x = _x()
    scaled = x * D_IN**0.5 / x.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(load_sae(tmp_path).encode(x), _relu_ref(w, scaled))


def test_saelens_errors(tmp_path):
    _saelens(tmp_path, "transcoder")
    with pytest.raises(ConfigError, match="unsupported architecture 'transcoder'"):
        load_sae(tmp_path)
    _saelens(tmp_path, "standard", {"d_in": D_IN + 1})
    with pytest.raises(InputError, match=f"d_in={D_IN + 1} but the weights have {D_IN}"):
        load_sae(tmp_path)
    save_file({"W_enc": _weights()["W_enc"]}, str(tmp_path / "sae_weights.safetensors"))
    (tmp_path / "cfg.json").write_text(json.dumps({"architecture": "jumprelu", "d_in": D_IN}))
    with pytest.raises(InputError, match=r"no tensor W_dec, b_dec, b_enc, threshold \(or log_threshold\)"):
        load_sae(tmp_path)


def test_sparsify(tmp_path):
    w = _weights()
    save_file(
        {
            "encoder.weight": w["W_enc"].T.contiguous(),
            "encoder.bias": w["b_enc"],
            "W_dec": w["W_dec"],
            "b_dec": w["b_dec"],
        },
        str(tmp_path / "sae.safetensors"),
    )
    (tmp_path / "cfg.json").write_text(
        json.dumps(
            {
                "expansion_factor": 32,
                "normalize_decoder": True,
                "num_latents": D_SAE,
                "k": K,
                "multi_topk": False,
                "d_in": D_IN,
            }
        )
    )
    assert detect_format(tmp_path) == "sparsify"
    sae = load_sae(tmp_path)
    assert sae.k == K
    torch.testing.assert_close(sae.encode(_x()), _topk_ref(w, _x()))
    torch.testing.assert_close(sae.decode(sae.encode(_x())), _topk_ref(w, _x()) @ w["W_dec"] + w["b_dec"])


def test_sparsify_missing_tensor(tmp_path):
    save_file({"W_dec": _weights()["W_dec"]}, str(tmp_path / "sae.safetensors"))
    (tmp_path / "cfg.json").write_text(json.dumps({"k": K, "d_in": D_IN}))
    with pytest.raises(InputError, match="no tensor 'encoder.weight'; found: W_dec"):
        load_sae(tmp_path)


def _dl_config(tmp_path, trainer_class, dict_class, **extra):
    cfg = {
        "trainer": {
            "trainer_class": trainer_class,
            "dict_class": dict_class,
            "activation_dim": D_IN,
            "dict_size": D_SAE,
            **extra,
        },
        "buffer": {"d_submodule": D_IN},
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))


def test_dictionary_learning_standard(tmp_path):
    w = _weights()
    w["W_dec"] = w["W_dec"] / w["W_dec"].norm(dim=1, keepdim=True)  # unit-norm: from_pretrained leaves it as is
    torch.save(
        {
            "encoder.weight": w["W_enc"].T.contiguous(),
            "encoder.bias": w["b_enc"],
            "decoder.weight": w["W_dec"].T.contiguous(),
            "bias": w["b_dec"],
        },
        tmp_path / "ae.pt",
    )
    _dl_config(tmp_path, "StandardTrainer", "AutoEncoder")
    assert detect_format(tmp_path) == "dictionary_learning"
    sae = load_sae(tmp_path)
    torch.testing.assert_close(sae.encode(_x()), _relu_ref(w, _x()))
    torch.testing.assert_close(sae.decode(sae.encode(_x())), _relu_ref(w, _x()) @ w["W_dec"] + w["b_dec"])


def test_dictionary_learning_topk_and_batchtopk(tmp_path):
    w = _weights()
    sd = {
        "encoder.weight": w["W_enc"].T.contiguous(),
        "encoder.bias": w["b_enc"],
        "decoder.weight": w["W_dec"].T.contiguous(),
        "b_dec": w["b_dec"],
        "k": torch.tensor(K),
    }
    torch.save(sd, tmp_path / "ae.pt")
    _dl_config(tmp_path, "TopKTrainer", "AutoEncoderTopK", k=K)
    torch.testing.assert_close(load_sae(tmp_path).encode(_x()), _topk_ref(w, _x()))

    torch.save({**sd, "threshold": torch.tensor(0.3)}, tmp_path / "ae.pt")  # BatchTopK: one global threshold
    _dl_config(tmp_path, "BatchTopKTrainer", "BatchTopKSAE", k=K)
    pre = torch.relu((_x() - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    torch.testing.assert_close(load_sae(tmp_path).encode(_x()), pre * (pre > 0.3))


def test_dictionary_learning_jumprelu(tmp_path):
    w = _weights()
    torch.save({k: w[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}, tmp_path / "ae.pt")
    _dl_config(tmp_path, "JumpReluTrainer", "JumpReluAutoEncoder")
    torch.testing.assert_close(load_sae(tmp_path).encode(_x()), _jump_ref(w, _x()))


def test_dictionary_learning_refuses_pickled_objects(tmp_path):
    torch.save({"encoder.weight": Opaque()}, tmp_path / "ae.pt")
    _dl_config(tmp_path, "StandardTrainer", "AutoEncoder")
    with pytest.raises(InputError, match="plain tensor state dict"):
        load_sae(tmp_path)


def test_dictionary_learning_unknown_trainer(tmp_path):
    torch.save({"encoder.weight": torch.zeros(D_SAE, D_IN)}, tmp_path / "ae.pt")
    _dl_config(tmp_path, "MatryoshkaTrainer", "MatryoshkaSAE")
    with pytest.raises(ConfigError, match="unsupported dictionary_learning trainer 'MatryoshkaTrainer'"):
        load_sae(tmp_path)


@pytest.mark.parametrize("with_threshold, k", [(False, None), (False, K), (True, None)])
def test_plain_safetensors(tmp_path, with_threshold, k):
    w = _weights()
    if with_threshold:
        w["b_dec"] = torch.zeros(D_IN)  # with a non-zero b_dec a bare JumpReLU file is ambiguous (refused)
    keys = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if with_threshold else [])
    save_file({key: w[key] for key in keys}, str(tmp_path / "my_sae.safetensors"))
    assert detect_format(tmp_path / "my_sae.safetensors") == detect_format(tmp_path) == "safetensors"
    sae = load_sae(tmp_path / "my_sae.safetensors", k=k)
    want = _jump_ref(w, _x(), sub=True) if with_threshold else _topk_ref(w, _x()) if k else _relu_ref(w, _x())
    torch.testing.assert_close(sae.encode(_x()), want)


def test_detect_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_sae(tmp_path / "nope")
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(InputError, match="unrecognised layout"):
        load_sae(tmp_path)
    with pytest.raises(ConfigError, match="unknown SAE format 'hdf5'"):
        load_sae(tmp_path, format="hdf5")


@pytest.mark.parametrize("name", ["relu", "topk", "jumprelu"])
def test_save_saelens_round_trip(tmp_path, name):
    sae = _dictionaries()[name]
    save_saelens(sae, tmp_path / name, hook_name="layers.1.resid_post", model_name="tiny")
    back = load_sae(tmp_path / name)
    assert (back.architecture, back.k, back.d_in, back.d_sae) == (sae.architecture, sae.k, D_IN, D_SAE)
    assert torch.equal(back.encode(_x()), sae.encode(_x()))
    assert json.loads((tmp_path / name / "cfg.json").read_text())["hook_name"] == "layers.1.resid_post"


def test_units_are_computed_only_for_selected_columns():
    d = _dictionaries()["relu"]
    rng = np.random.default_rng(0)
    units = rng.choice(D_SAE, size=7, replace=False)
    torch.testing.assert_close(d.encode(_x(), units), d.encode(_x())[..., units])
