"""`models list` shows cached SAEs with paths; `inspect` checks paths before the model loads; a model folder
whose weights would unpickle an arbitrary object is refused in one line."""

from __future__ import annotations

import os

import pytest
import torch

from autointerp.cli import main


def test_models_list_shows_cached_saes_with_paths(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path))
    sae = tmp_path / "saes" / "smollm2-135m-layers.6.resid_post-topk24"
    sae.mkdir(parents=True)
    (sae / ".complete").write_text("1")
    (tmp_path / "saes" / "half-built").mkdir()  # no marker: not listed
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m-layers.6.resid_post-topk24" in out and str(sae) in out
    assert "half-built" not in out


@pytest.fixture
def evil_model(tmp_path):
    """A LLaMA config with a pickled 'weights' file that would run a shell command if unpickled."""
    from transformers import LlamaConfig

    folder = tmp_path / "evil"
    cfg = LlamaConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    cfg.architectures = ["LlamaForCausalLM"]
    cfg.save_pretrained(folder)
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model.embed_tokens.weight": Evil()}, folder / "pytorch_model.bin")
    return folder, marker


def test_inspect_checks_paths_before_loading_the_model(tmp_path, capsys, evil_model):
    folder, _ = evil_model
    code = main(["inspect", "--model", str(folder), "--site", "layers.1.mlp", "--sae", str(tmp_path / "nope")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.splitlines() == [err] and "--sae" in err and "not found" in err, err
    code = main(["inspect", "--model", str(folder), "--site", "layers.1.mlp", "--corpus", str(tmp_path / "no.txt")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--corpus" in err and "not found" in err, err


def test_malicious_model_folder_is_one_line(capsys, evil_model):
    folder, marker = evil_model
    code = main(["inspect", "--model", str(folder), "--site", "layers.1.mlp"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "refused to load its pickled weights" in err
    assert not marker.exists()
