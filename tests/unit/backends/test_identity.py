"""Secrets and identifiers: no OpenAI account identity to third-party servers; no URL password in anything
the backends write or raise."""

from __future__ import annotations

import pytest

from autointerp.backends import build_backend
from autointerp.errors import AutointerpError, BackendError
from tests.support.api_server import error
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask, complete_all

IDENTITY = {"OPENAI_ORG_ID": "org-SECRET-ORG-1234", "OPENAI_PROJECT_ID": "proj_SECRET-PROJECT-5678"}
PASSWORD = "hunter2-DO-NOT-LEAK"


@pytest.fixture
def identity(monkeypatch):
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)


def _sent_identity(server) -> set[str]:
    return {name for r in server.requests for name in r.headers
            if name.startswith("openai-") or any(v in r.headers[name] for v in IDENTITY.values())}


def test_openai_compatible_server_gets_no_account_identity(keys, server, identity):
    run(complete_all(f"openai-compatible:m@{server.openai_base_url}", [ask("x")]))
    assert len(server.requests) == 1
    assert _sent_identity(server) == set()
    assert keys not in str(server.requests[0].headers)  # nor the OpenAI key


def test_openai_itself_still_gets_its_identity_headers(keys, server, identity):
    run(complete_all("openai:gpt-4.1-mini", [ask("x")]))
    headers = server.requests[0].headers
    assert headers["openai-organization"] == IDENTITY["OPENAI_ORG_ID"]
    assert headers["openai-project"] == IDENTITY["OPENAI_PROJECT_ID"]


def _url_with_password(server) -> str:
    return server.openai_base_url.replace("http://", f"http://user:{PASSWORD}@")


def test_url_password_is_redacted_in_spec_cache_and_errors(keys, server, tmp_path):
    spec = f"openai-compatible:m@{_url_with_password(server)}"

    async def scenario():
        backend = build_backend(spec, cache_dir=tmp_path, retry_wait=0.01)
        shown = (backend.spec, repr(backend))
        await backend.complete(ask("x"))
        server.script(error(404, "no such model"))
        with pytest.raises(BackendError) as info:
            await backend.complete(ask("y"))
        await backend.aclose()
        return shown, str(info.value)

    (spec_shown, repr_shown), message = run(scenario())
    assert len(server.requests) == 2  # the password-bearing URL still reaches the server
    assert PASSWORD not in spec_shown and "user:***@" in spec_shown and PASSWORD not in repr_shown
    assert "no such model" in message and PASSWORD not in message
    for path in tmp_path.rglob("*"):
        assert PASSWORD.encode() not in path.read_bytes(), f"{path.name} holds the URL password"


def test_unreachable_url_and_bad_spec_errors_carry_no_password(keys):
    async def scenario():
        backend = build_backend(f"openai-compatible:m@http://user:{PASSWORD}@127.0.0.1:9/v1", retry_wait=0.01,
                                max_retries=1, timeout=1)
        try:
            with pytest.raises(BackendError) as info:
                await backend.complete(ask("x"))
        finally:
            await backend.aclose()
        return str(info.value)

    assert PASSWORD not in run(scenario())
    with pytest.raises(AutointerpError) as info:
        build_backend(f"openai-compatible:http://user:{PASSWORD}@host/v1")
    assert PASSWORD not in str(info.value) and "user:***@" in str(info.value)
