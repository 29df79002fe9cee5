"""RetryBackend: transient faults are retried, request errors are not, retry-after is honoured."""

from __future__ import annotations

import time

import pytest

from autointerp.backends.faults import TransientBackendError, parse_retry_after
from autointerp.errors import BackendError
from tests.support.api_server import (
    anthropic_message,
    dropped,
    error,
    malformed,
    openai_chat,
    overloaded,
    rate_limited,
    server_error,
    slow,
)
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask, complete_all

FAST = {"retry_wait": 0.01, "retry_max_wait": 0.05, "timeout": 0.5}

TRANSIENT = {
    "429-retry-after": rate_limited(0.01),
    "429-retry-after-ms": rate_limited(retry_after_ms=10),
    "529-overloaded": overloaded(),
    "500": server_error(500),
    "503": server_error(503),
    "408": error(408, "request timeout"),
    "409": error(409, "conflict"),
    "slower-than-timeout": slow(openai_chat("late"), 1.0),
    "dropped-connection": dropped(),
    "malformed-body": malformed(),
}


@pytest.mark.parametrize("fault", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_faults_are_retried_and_succeed(keys, server, fault):
    server.script(fault, fault)
    (response,), _ = run(complete_all("openai:gpt-4.1-mini", [ask("hello")], **FAST))
    assert response.text == "echo: hello"
    assert len(server.requests_to("/chat/completions")) == 3


def test_anthropic_overload_is_retried(keys, server):
    server.script(overloaded(), rate_limited(0.01))
    (response,), _ = run(complete_all("anthropic:claude-sonnet-4-5", [ask("hi")], **FAST))
    assert response.text == "echo: hi" and len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_request_errors_are_not_retried(keys, server, status):
    server.script(error(status, "model 'gpt-9' does not exist"))
    with pytest.raises(BackendError) as info:
        run(complete_all("openai:gpt-4.1-mini", [ask("x")], **FAST))
    message = str(info.value)
    assert not isinstance(info.value, TransientBackendError)
    assert message == f"openai API error {status}: model 'gpt-9' does not exist"
    assert keys not in message and "\n" not in message
    assert len(server.requests) == 1


def test_gives_up_after_max_retries_with_one_line_error(keys, server):
    server.script(*[server_error(502)] * 5)
    with pytest.raises(BackendError, match=r"openai API error 502: .* \(gave up after 3 attempts\)$"):
        run(complete_all("openai:gpt-4.1-mini", [ask("x")], max_retries=2, **FAST))
    assert len(server.requests) == 3


def test_retry_after_header_sets_the_wait(keys, server):
    # backoff alone would wait >= 30 s; the server's retry-after (0.3 s) wins and is waited in full
    server.script(rate_limited(0.3))
    start = time.perf_counter()
    run(complete_all("anthropic:claude-sonnet-4-5", [ask("x")], retry_wait=30, retry_max_wait=60))
    assert 0.3 <= time.perf_counter() - start < 10


def test_parse_retry_after():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({}) is None


def test_sdk_retries_are_disabled(keys, server):
    """The SDK's own retry loop would hide faults from the wrapper: exactly one HTTP request per attempt."""
    from autointerp.backends import build_raw_backend

    server.script(server_error(500))
    backend = build_raw_backend("anthropic:claude-sonnet-4-5")

    async def once():
        try:
            await backend.complete(ask("x"))
        finally:
            await backend.aclose()

    with pytest.raises(TransientBackendError):
        run(once())
    assert len(server.requests) == 1
    server.handler = lambda req: anthropic_message("fine")


def test_retry_after_wait_has_jitter_and_never_undercuts_the_server():
    from types import SimpleNamespace

    from autointerp.backends.retry import RetryPolicy

    policy = RetryPolicy(initial_wait=0.5, max_wait=60)

    def wait_for(retry_after):
        exc = TransientBackendError("429", status=429, retry_after=retry_after)
        state = SimpleNamespace(outcome=SimpleNamespace(exception=lambda: exc), attempt_number=1)
        return [policy._wait(state) for _ in range(200)]

    waits = wait_for(2.0)
    assert all(2.0 <= w <= 3.0 for w in waits)
    assert max(waits) - min(waits) > 0.5  # spread out, not all back at the same instant
    assert all(0 <= w <= 0.25 for w in wait_for(0.0)) and len(set(wait_for(0.0))) > 100
