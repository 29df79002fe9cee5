"""API keys: read when built, never at import, never written anywhere."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from autointerp.backends import build_backend, build_raw_backend
from autointerp.errors import BackendError
from tests.support.api_server import error, rate_limited
from tests.unit.backends.conftest import FAKE_KEY, run
from tests.unit.backends.helpers import ask


@pytest.mark.parametrize(("spec", "variable"), [("openai:gpt-4.1-mini", "OPENAI_API_KEY"),
                                                ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY")])
def test_missing_key_names_the_variable(monkeypatch, spec, variable):
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(BackendError) as info:
        build_backend(spec)
    assert str(info.value) == f"backend {spec!r} needs an API key: set the environment variable {variable}"


def test_custom_key_variable(monkeypatch, server):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    with pytest.raises(BackendError, match="MY_TEAM_KEY"):
        build_backend("openai:gpt-4.1-mini", api_key_env="MY_TEAM_KEY")
    monkeypatch.setenv("MY_TEAM_KEY", "sk-team-secret")

    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", api_key_env="MY_TEAM_KEY")
        await backend.complete(ask("hi"))
        await backend.aclose()

    run(scenario())
    assert server.requests[0].headers["authorization"] == "Bearer sk-team-secret"


def test_key_optional_for_openai_compatible(monkeypatch, server):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    raw = build_raw_backend(f"openai-compatible:m@{server.openai_base_url}")
    run(raw.aclose())


def test_key_is_not_read_at_import(monkeypatch):
    code = "import autointerp.backends, autointerp.backends.openai_chat, autointerp.backends.anthropic_messages"
    env = {"PATH": "/usr/bin:/bin"}  # no keys at all: importing must still work
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_no_key_in_any_file_or_message(keys, server, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    server.script(rate_limited(0.01), error(401, "invalid x-api-key"))

    async def scenario():
        messages = []
        for spec in ("openai:gpt-4.1-mini", "anthropic:claude-sonnet-4-5"):
            backend = build_backend(spec, cache_dir=cache, retry_wait=0.01)
            messages.append(repr(backend))
            try:
                await backend.complete(ask("trigger errors"))
            except BackendError as exc:
                messages.append(str(exc))
            responses = await asyncio.gather(*(backend.complete(ask(f"q{i}", top_logprobs=0)) for i in range(3)))
            messages += [r.model_dump_json() for r in responses]
            await backend.aclose()
        batch = build_backend("anthropic:claude-sonnet-4-5", cache_dir=cache, batch=True, batch_flush_s=0.01,
                              batch_poll_s=0.01)
        messages.append((await batch.complete(ask("batched"))).model_dump_json())
        await batch.aclose()
        return messages

    with caplog.at_level("DEBUG"):
        messages = run(scenario())
    assert any("401" in m for m in messages)  # the error path ran
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite") for p in files) and any(p.name.startswith("batches-") for p in files)
    for path in files:
        assert FAKE_KEY.encode() not in Path(path).read_bytes(), path
    for text in messages + [caplog.text]:
        assert FAKE_KEY not in text
