"""build_backend: spec parsing, options, and the order of the wrapper stack."""

from __future__ import annotations

import pytest

from autointerp.backends import (
    Backend,
    CacheBackend,
    CostBackend,
    LimitBackend,
    RetryBackend,
    build_backend,
    find_layer,
)
from autointerp.backends.openai_chat import OpenAIBackend, OpenAICompatibleBackend
from autointerp.errors import ConfigError
from tests.unit.backends.conftest import run


def _layers(backend) -> list[type]:
    out = []
    while backend is not None:
        out.append(type(backend))
        backend = getattr(backend, "inner", None)
    return out


def test_stack_order(keys, tmp_path):
    backend = build_backend("openai:gpt-4.1-mini", cache_dir=tmp_path, max_concurrency=3, rpm=100, max_cost=1.0)
    assert _layers(backend) == [CacheBackend, RetryBackend, CostBackend, LimitBackend, OpenAIBackend]
    assert isinstance(backend, Backend)
    assert backend.spec == "openai:gpt-4.1-mini" and backend.model == "gpt-4.1-mini"
    assert backend.capabilities.logprobs and backend.capabilities.json_mode
    assert find_layer(backend, LimitBackend).max_concurrency == 3
    assert find_layer(backend, CostBackend).max_cost == 1.0
    assert repr(backend) == "CacheBackend(RetryBackend(CostBackend(LimitBackend(OpenAIBackend('openai:gpt-4.1-mini')))))"
    run(backend.aclose())


def test_without_cache_dir_there_is_no_cache_layer(keys):
    backend = build_backend("anthropic:claude-sonnet-4-5")
    assert CacheBackend not in _layers(backend) and not backend.capabilities.logprobs
    run(backend.aclose())


def test_openai_compatible_spec(server):
    backend = build_backend(f"openai-compatible:meta-llama/Llama-3.1-8B@{server.openai_base_url}")
    raw = find_layer(backend, OpenAICompatibleBackend)
    assert raw.model == "meta-llama/Llama-3.1-8B" and str(raw.client.base_url).rstrip("/") == server.openai_base_url
    run(backend.aclose())


@pytest.mark.parametrize(("spec", "message"), [
    ("gemini:pro", "unknown backend 'gemini'; expected one of: anthropic, local, openai, openai-compatible"),
    ("openai:", "backend spec 'openai:' names no model; e.g. 'openai:MODEL'"),
    ("openai-compatible:llama", "backend spec 'openai-compatible:llama': expected 'openai-compatible:MODEL@http://HOST:PORT/v1'"),
])
def test_bad_specs(keys, spec, message):
    with pytest.raises(ConfigError) as info:
        build_backend(spec)
    assert str(info.value) == message


def test_bad_options(keys):
    with pytest.raises(ConfigError, match="unknown backend option 'concurrency'"):
        build_backend("openai:gpt-4.1-mini", concurrency=4)
    with pytest.raises(ConfigError, match="backend option 'timeout'"):
        build_backend("openai:gpt-4.1-mini", timeout=-1)
