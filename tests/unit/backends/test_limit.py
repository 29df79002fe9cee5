"""LimitBackend: concurrency cap and token buckets."""

from __future__ import annotations

import asyncio
import time

from autointerp.backends.limit import TokenBucket, estimate_tokens
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask, complete_all


def test_concurrency_limit_is_never_exceeded(keys, server):
    server.latency = 0.03
    responses, _ = run(complete_all("openai:gpt-4.1-mini", [ask(f"q{i}") for i in range(40)], max_concurrency=4))
    assert [r.text for r in responses] == [f"echo: q{i}" for i in range(40)]
    assert server.max_in_flight == 4  # reached, never exceeded


def test_token_bucket_waits_when_empty():
    async def scenario():
        bucket = TokenBucket(per_minute=6000)  # 100 per second, holds 6000
        start = time.perf_counter()
        await bucket.take(6000)  # the full bucket: immediate
        burst = time.perf_counter() - start
        await bucket.take(30)  # needs ~0.3 s of refill
        return burst, time.perf_counter() - start

    burst, total = run(scenario())
    assert burst < 0.1 and total >= 0.29


def test_requests_per_minute_spaces_requests(keys, server):
    async def scenario():
        from autointerp.backends import LimitBackend, build_backend, find_layer

        backend = build_backend("openai:gpt-4.1-mini", rpm=1200)  # 20/s after a burst of 1200
        bucket = find_layer(backend, LimitBackend)._requests
        bucket.level = 0.0  # start empty: every request waits for its own refill
        start = time.perf_counter()
        await asyncio.gather(*(backend.complete(ask(f"{i}")) for i in range(5)))
        await backend.aclose()
        return time.perf_counter() - start

    assert run(scenario()) >= 0.2  # 5 requests at 20/s


def test_token_estimate():
    assert estimate_tokens(ask("x" * 40, max_tokens=10)) == 20


def test_server_side_cap_rejects_and_client_retries(keys, server):
    """Loopback server with a cap of 2 that rejects extras (429): the retry layer absorbs it."""
    server.latency = 0.02
    server.set_capacity(2, overload="reject")
    responses, _ = run(complete_all("openai:gpt-4.1-mini", [ask(f"q{i}") for i in range(8)], max_concurrency=8,
                                    retry_wait=0.01, retry_max_wait=0.05, max_retries=50))
    assert [r.text for r in responses] == [f"echo: q{i}" for i in range(8)]
    assert len(server.requests) > 8  # some were rejected and retried
