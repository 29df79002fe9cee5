"""Packaged-model registry, the cache, and load_subject on local folders."""

from __future__ import annotations

import pytest
import torch

from autointerp.activations.cache import COMPLETE_MARKER, cache_root, cached_artifact
from autointerp.activations.models import PACKAGED_MODELS, load_subject
from autointerp.errors import ConfigError, InputError


def test_registry_names():
    assert PACKAGED_MODELS.names() == ["minilm-l6", "smollm2-135m"]


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("AUTOINTERP_CACHE")
    assert str(cache_root()).endswith(".cache/autointerp")


def test_cached_artifact_is_idempotent(tmp_path):
    calls = []

    def build(dest):
        calls.append(dest)
        (dest / "data.txt").write_text("x")

    messages = []
    a = cached_artifact("models", "m", build, tmp_path, messages.append)
    b = cached_artifact("models", "m", build, tmp_path, messages.append)
    assert a == b == tmp_path / "models" / "m" and len(calls) == 1
    assert (a / "data.txt").read_text() == "x" and (a / COMPLETE_MARKER).exists()
    assert calls[0] != a and any("fetching 'm'" in m for m in messages)


def test_cached_artifact_failure_leaves_nothing(tmp_path):
    def build(dest):
        (dest / "half.bin").write_bytes(b"0")
        raise InputError("network down")

    with pytest.raises(InputError, match="network down"):
        cached_artifact("models", "m", build, tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


def test_load_tiny_models(tiny_llama, tiny_bert):
    assert (tiny_llama.arch, tiny_llama.n_layers, tiny_llama.d_model, tiny_llama.d_mlp) == ("llama", 4, 32, 48)
    assert tiny_llama.is_decoder and tiny_llama.unembed.shape == (32, tiny_llama.model.config.vocab_size)
    assert (tiny_bert.arch, tiny_bert.n_layers, tiny_bert.d_model, tiny_bert.d_mlp) == ("bert", 3, 32, 64)
    assert not tiny_bert.is_decoder and tiny_bert.unembed is None
    assert not tiny_llama.model.training and not any(p.requires_grad for p in tiny_llama.model.parameters())


def test_load_with_dtype(tiny_llama_dir):
    subject = load_subject(tiny_llama_dir, dtype=torch.bfloat16)
    assert next(subject.model.parameters()).dtype == torch.bfloat16


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="neither a packaged model .* an existing folder, nor a Hugging Face Hub id"):
        load_subject(tmp_path / "missing")
    with pytest.raises(InputError, match="has no config.json"):
        load_subject(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read config.json"):
        load_subject(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "t5"}')
    with pytest.raises(ConfigError, match="unknown model architecture 't5'"):
        load_subject(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}')
    with pytest.raises(InputError, match="cannot load weights/tokenizer"):
        load_subject(tmp_path)


def test_cached_artifact_rebuilds_on_new_version(tmp_path):
    def build(text):
        return lambda dest: (dest / "data.txt").write_text(text)

    cached_artifact("corpora", "c", build("old"), tmp_path, version="1")
    assert (cached_artifact("corpora", "c", build("unused"), tmp_path, version="1") / "data.txt").read_text() == "old"
    assert (cached_artifact("corpora", "c", build("new"), tmp_path, version="2") / "data.txt").read_text() == "new"
