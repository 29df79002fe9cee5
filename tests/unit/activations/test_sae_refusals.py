"""Issue 19, defect 3: SAE checkpoints that used to load silently are refused with one line naming the problem.

A TopK whose k exceeds d_sae; a library's weights file whose config is missing (its encoding would be guessed);
a weights file without a tensor the format needs. Every format, folder and file paths.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import load_sae
from autointerp.errors import AutointerpError

D_IN, D_SAE = 16, 12


def _w(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"W_enc": torch.randn(D_IN, D_SAE, generator=g), "b_enc": torch.zeros(D_SAE),
            "W_dec": torch.randn(D_SAE, D_IN, generator=g), "b_dec": torch.zeros(D_IN),
            "threshold": torch.rand(D_SAE, generator=g)}


def saelens(folder, arch="topk", drop=(), **cfg):
    folder.mkdir(parents=True, exist_ok=True)
    names = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if arch == "jumprelu" else [])
    save_file({n: _w()[n] for n in names if n not in drop}, str(folder / "sae_weights.safetensors"))
    config = {"architecture": arch, "d_in": D_IN, "d_sae": D_SAE, "apply_b_dec_to_input": True,
              "normalize_activations": "none", "hook_name": "layers.1.resid_post"}
    if arch == "topk":
        config["k"] = 4
    (folder / "cfg.json").write_text(json.dumps({**config, **cfg}))
    return folder


def sparsify(folder, drop=(), **cfg):
    folder.mkdir(parents=True, exist_ok=True)
    w = _w()
    tensors = {"encoder.weight": w["W_enc"].T.contiguous(), "encoder.bias": w["b_enc"], "W_dec": w["W_dec"],
               "b_dec": w["b_dec"]}
    save_file({n: t for n, t in tensors.items() if n not in drop}, str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({"k": 4, "num_latents": D_SAE, "d_in": D_IN, **cfg}))
    return folder


def _refused(path, words: str, **kw) -> str:
    with pytest.raises(AutointerpError) as info:
        load_sae(path, **kw)
    msg = str(info.value)
    assert words in msg and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("make, k_key", [(saelens, "k"), (sparsify, "k")])
def test_k_above_d_sae_is_refused(tmp_path, make, k_key):
    folder = make(tmp_path / "sae", **{k_key: 999})
    _refused(folder, f"k=999 but the SAE has d_sae={D_SAE} latents")


def test_k_above_d_sae_is_refused_in_activation_fn_kwargs_and_by_override(tmp_path):
    folder = saelens(tmp_path / "a", arch="standard", activation_fn="topk", activation_fn_kwargs={"k": 13})
    _refused(folder, f"k=13 but the SAE has d_sae={D_SAE}")
    _refused(saelens(tmp_path / "c"), f"k=50 but the SAE has d_sae={D_SAE}", k=50)
    w = _w()
    with pytest.raises(AutointerpError, match="k=13 but the SAE has d_sae=12"):
        make_sae("topk", w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"], k=13)
    assert load_sae(saelens(tmp_path / "d", k=D_SAE)).k == D_SAE  # k == d_sae is allowed


@pytest.mark.parametrize("make, weights, library", [(saelens, "sae_weights.safetensors", "SAELens"),
                                                     (sparsify, "sae.safetensors", "sparsify")])
@pytest.mark.parametrize("as_file", [False, True])
def test_library_weights_without_their_config_are_refused(tmp_path, make, weights, library, as_file):
    folder = make(tmp_path / "sae")
    (folder / "cfg.json").unlink()
    msg = _refused(folder / weights if as_file else folder, f"{library} weights without their cfg.json")
    assert "refusing to guess" in msg


@pytest.mark.parametrize("arch, missing", [("standard", "b_enc"), ("standard", "W_dec"), ("standard", "b_dec"),
                                           ("topk", "b_enc"), ("topk", "W_dec"), ("jumprelu", "threshold")])
def test_saelens_weights_missing_a_tensor_are_refused(tmp_path, arch, missing):
    folder = saelens(tmp_path / "sae", arch=arch, drop=(missing,))
    _refused(folder, f"no tensor {missing}")


@pytest.mark.parametrize("missing", ["encoder.bias", "b_dec"])
def test_sparsify_weights_missing_a_tensor_are_refused(tmp_path, missing):
    _refused(sparsify(tmp_path / "sae", drop=(missing,)), f"no tensor {missing!r}")


def test_a_bare_tensor_file_still_loads_with_its_stated_assumptions(tmp_path):
    file = tmp_path / "mine.safetensors"
    w = _w()
    save_file({n: w[n] for n in ("W_enc", "b_enc", "W_dec", "b_dec")}, str(file))
    assert "no config: assumed relu" in load_sae(file).summary
