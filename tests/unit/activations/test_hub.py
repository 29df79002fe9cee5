"""Models and SAEs by Hub name, from a local cache in huggingface_hub's own layout with HF_HUB_OFFLINE=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from autointerp.activations import hub
from autointerp.activations.models import load_subject
from autointerp.activations.sae_formats import load_sae
from autointerp.errors import InputError
from tests.support.hub_cache import write_folder, write_repo

REPO = "tiny-org/tiny-llama"
SAE_REPO = "tiny-org/tiny-saes"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An offline huggingface_hub cache (patched in-process; the CLI test sets the real environment variables)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture
def tiny_sae_folder(tmp_path):
    """A standard (ReLU) SAE in SAELens's layout: cfg.json + sae_weights.safetensors."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    folder = tmp_path / "sae_src"
    folder.mkdir()
    tensors = {
        "W_enc": torch.randn(32, 20, generator=g),
        "b_enc": torch.randn(20, generator=g),
        "W_dec": torch.randn(20, 32, generator=g),
        "b_dec": torch.randn(32, generator=g),
    }
    save_file(tensors, str(folder / "sae_weights.safetensors"))
    cfg = {"architecture": "standard", "d_in": 32, "d_sae": 20, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "hook_name": "blocks.1.hook_resid_post",
           "model_name": "tiny"}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture
def registry(tmp_path, monkeypatch):
    data = {
        "tiny-res": {
            "repo_id": SAE_REPO,
            "model": "tiny-llama",
            "saes": [{"id": "blocks.1.hook_resid_post", "path": "layer_1"}],
        },
        "tiny-converted": {
            "repo_id": SAE_REPO,
            "model": "tiny-llama",
            "conversion_func": "llama_scope",
            "saes": [{"id": "layer_1/width_16k", "path": "layer_1/width_16k"}],
        },
    }
    path = tmp_path / "pretrained_saes.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv(hub.SAELENS_REGISTRY_ENV, str(path))
    return path


def test_model_by_hub_id_from_offline_cache(hub_cache, tiny_llama_dir, tiny_llama):
    write_folder(hub_cache, REPO, tiny_llama_dir)
    subject = load_subject(REPO)
    assert subject.arch == "llama" and subject.n_layers == tiny_llama.n_layers
    torch.testing.assert_close(subject.unembed, tiny_llama.unembed)


def test_hub_model_without_safetensors_is_refused(hub_cache, tiny_llama_dir):
    write_repo(hub_cache, REPO, {"config.json": tiny_llama_dir / "config.json", "pytorch_model.bin": b"pickle"})
    with pytest.raises(InputError, match="no safetensors weights.*never unpickles"):
        load_subject(REPO)


def test_unreachable_hub_id_says_how_to_predownload(hub_cache):
    with pytest.raises(InputError) as err:
        load_subject("nobody/not-cached")
    msg = str(err.value)
    assert "HF_HUB_OFFLINE is set" in msg and "hf download nobody/not-cached --include '*.json'" in msg
    assert "--include '*.safetensors'" in msg and "\n" not in msg  # only the files read, never a whole repository


def test_saelens_release_resolves_through_the_registry(hub_cache, tiny_sae_folder, registry):
    write_folder(hub_cache, SAE_REPO, tiny_sae_folder, prefix="layer_1/")
    found = hub.resolve_sae("saelens:tiny-res/blocks.1.hook_resid_post")
    assert found.repo_id == SAE_REPO and found.model == "tiny-llama" and found.path.name == "layer_1"
    got, want = load_sae("saelens:tiny-res/blocks.1.hook_resid_post"), load_sae(tiny_sae_folder)
    x = torch.randn(5, 32)
    torch.testing.assert_close(got.encode(x), want.encode(x))
    assert got.encode(x).count_nonzero() > 0


def test_hf_repo_path_resolves(hub_cache, tiny_sae_folder):
    write_folder(hub_cache, SAE_REPO, tiny_sae_folder, prefix="some/dir/")
    found = hub.resolve_sae(f"hf:{SAE_REPO}/some/dir")
    assert (found.path / "cfg.json").is_file()
    assert load_sae(f"hf:{SAE_REPO}/some/dir").d_sae == 20
    with pytest.raises(InputError, match="'other' is not in Hub repository"):
        hub.resolve_sae(f"hf:{SAE_REPO}/other")


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("saelens:tiny-rez/blocks.1.hook_resid_post", "unknown SAELens release 'tiny-rez'; did you mean tiny-res"),
        ("saelens:tiny-res/blocks.2.hook_resid_post", "has no SAE 'blocks.2.hook_resid_post'"),
        ("saelens:tiny-converted/layer_1/width_16k", "stored in the 'llama_scope' layout"),
        ("saelens:tiny-res", "expected saelens:RELEASE/SAE_ID"),
        ("hf:justone", "expected hf:OWNER/REPO"),
    ],
)
def test_bad_sae_specs_are_one_line(hub_cache, registry, spec, fragment):
    with pytest.raises(InputError, match=fragment) as err:
        hub.resolve_sae(spec)
    assert "\n" not in str(err.value)


def test_cli_honours_hf_home_and_offline(tmp_path, tiny_llama_dir):
    """The real environment variables, read by huggingface_hub itself in a fresh process; HF_TOKEN never echoed."""
    hf_home = tmp_path / "hf_home"
    write_folder(hf_home / "hub", REPO, tiny_llama_dir)
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_SECRET_TOKEN_123"}
    env.pop("HF_HUB_CACHE", None)
    ok = subprocess.run(
        [sys.executable, "-m", "autointerp", "inspect", "--model", REPO, "--site", "layers.1.mlp"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "autointerp", "inspect", "--model", "nobody/absent", "--site", "layers.1.mlp"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert missing.returncode != 0 and "hf download nobody/absent" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert "hf_SECRET_TOKEN_123" not in ok.stdout + ok.stderr + missing.stdout + missing.stderr


@pytest.mark.slow
def test_real_saelens_registry_from_the_pinned_wheel(monkeypatch):
    """The registry as SAELens ships it (fetched once from PyPI, like the packaged models)."""
    monkeypatch.delenv(hub.SAELENS_REGISTRY_ENV, raising=False)
    registry = hub.saelens_registry()
    entry = registry["gpt2-small-res-jb"]
    assert entry["repo_id"] == "jbloom/GPT2-Small-SAEs-Reformatted" and entry["model"] == "gpt2-small"
    assert any(s["id"] == "blocks.8.hook_resid_pre" for s in entry["saes"])


def test_gemma_scope_params_npz_converted_and_encoded_as_jumprelu(hub_cache, tmp_path, monkeypatch):
    """SAELens's gemma_2 layout: params.npz; encode = relu(pre) * (pre > threshold), pre = x W_enc + b_enc."""
    import numpy as np

    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path / "ai_cache"))
    g = np.random.default_rng(0)
    params = {"W_enc": g.normal(size=(32, 24)).astype(np.float32), "W_dec": g.normal(size=(24, 32)).astype(np.float32),
              "b_enc": g.normal(size=24).astype(np.float32), "b_dec": g.normal(size=32).astype(np.float32),
              "threshold": np.abs(g.normal(size=24)).astype(np.float32)}
    npz = tmp_path / "params.npz"
    np.savez(npz, **params)
    repo = "google/gemma-scope-2b-pt-res"
    write_repo(hub_cache, repo, {"layer_1/width_16k/average_l0_5/params.npz": npz})
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump({"gemma-scope-tiny": {
        "repo_id": repo, "model": "gemma-2-2b", "conversion_func": "gemma_2",
        "saes": [{"id": "layer_1/width_16k/canonical", "path": "layer_1/width_16k/average_l0_5"}]}}))
    monkeypatch.setenv(hub.SAELENS_REGISTRY_ENV, str(path))
    sae = load_sae("saelens:gemma-scope-tiny/layer_1/width_16k/canonical")
    x = torch.randn(7, 32, generator=torch.Generator().manual_seed(2))
    pre = x @ torch.tensor(params["W_enc"]) + torch.tensor(params["b_enc"])
    want = torch.relu(pre) * (pre > torch.tensor(params["threshold"]))
    torch.testing.assert_close(sae.encode(x), want)
    torch.testing.assert_close(sae.decode(want), want @ torch.tensor(params["W_dec"]) + torch.tensor(params["b_dec"]))
    assert sae.hook_name == "blocks.1.hook_resid_post"
    assert 0 < int((want > 0).sum()) < want.numel()
