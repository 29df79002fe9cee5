"""LimitBackend: concurrency cap and token buckets."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from autointerp.backends.limit import TokenBucket, estimate_tokens
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask, complete_all


def test_concurrency_limit_is_never_exceeded(keys, server):
    server.latency = 0.03
    responses, _ = run(complete_all("openai:gpt-4.1-mini", [ask(f"q{i}") for i in range(40)], max_concurrency=4))
    assert [r.text for r in responses] == [f"echo: q{i}" for i in range(40)]
    assert server.max_in_flight == 4  # reached, never exceeded


class VirtualClock:
    """A clock that moves only when the bucket sleeps: waits are checked exactly, never timed."""

    def __init__(self) -> None:
        self.now = 0.0
        self.wakes: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.wakes.append(self.now)
        await asyncio.sleep(0)


def test_token_bucket_waits_when_empty():
    clock = VirtualClock()
    bucket = TokenBucket(per_minute=6000, clock=clock, sleep=clock.sleep)  # 100 per second, holds 6000

    async def scenario():
        await bucket.take(6000)  # the full bucket: no wait
        assert clock.wakes == []
        await bucket.take(30)  # 30 units at 100/s: 0.3 s of refill

    run(scenario())
    assert clock.now == pytest.approx(0.3)
    assert bucket.level == pytest.approx(0.0)


def test_requests_per_minute_spaces_requests(keys, server):
    clock = VirtualClock()

    async def scenario():
        from autointerp.backends import LimitBackend, build_backend, find_layer

        backend = build_backend("openai:gpt-4.1-mini", rpm=1200)  # 20/s after a burst of 1200
        bucket = find_layer(backend, LimitBackend)._requests
        bucket.clock, bucket.sleep = clock, clock.sleep
        bucket.level, bucket._stamp = 0.0, clock.now  # start empty: every request waits for its own refill
        await asyncio.gather(*(backend.complete(ask(f"{i}")) for i in range(5)))
        await backend.aclose()

    run(scenario())
    # one request per 1/20 s, in turn: each waits for its own refill after the one before it
    assert clock.wakes == pytest.approx([0.05, 0.10, 0.15, 0.20, 0.25])
    assert len(server.requests) == 5


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


def test_adaptive_limit_cuts_once_per_round_and_grows_back():
    from autointerp.backends.limit import AdaptiveLimit

    async def scenario():
        limit = AdaptiveLimit(16, decrease=0.5)
        tickets = [await limit.acquire() for _ in range(16)]
        for t in tickets[:8]:  # a burst of rejections sent together: one cut
            limit.release(t, congested=True)
        after_burst = limit.limit
        for t in tickets[8:]:
            limit.release(t)  # neither success nor congestion (e.g. a 400): no change
        t = await limit.acquire()  # issued after the cut: its rejection is news
        limit.release(t, congested=True)
        after_second = limit.limit
        grown = []
        for _ in range(40):
            t = await limit.acquire()
            limit.release(t, ok=True)
            grown.append(limit.limit)
        return after_burst, after_second, grown, limit

    after_burst, after_second, grown, limit = run(scenario())
    assert after_burst == 8 and after_second == 4 and limit.cuts == 2
    assert grown[-1] > 4 + 5  # additive increase: about one slot per round of successes
    assert all(b >= a for a, b in itertools.pairwise(grown)) and max(grown) <= 16
    assert limit.in_flight == 0


def test_adaptive_limit_is_fifo_and_never_exceeds_its_slots():
    from autointerp.backends.limit import AdaptiveLimit

    async def scenario():
        limit = AdaptiveLimit(3)
        order, peak = [], 0

        async def one(i):
            nonlocal peak
            t = await limit.acquire()
            peak = max(peak, limit.in_flight)
            order.append(i)
            await asyncio.sleep(0.001)
            limit.release(t, ok=True)

        await asyncio.gather(*(one(i) for i in range(12)))
        return order, peak

    order, peak = run(scenario())
    assert order == list(range(12)) and peak == 3


def test_capped_server_run_completes_with_no_request_given_up(keys, server):
    """A server admitting 2 at a time (429 + retry-after for the rest) and a client allowed 16: every request
    completes under the default retry policy and the client backs off to near the cap. (Before AIMD and
    retry-after jitter: 2-4 of 80 gave up after 7 attempts, and 136-160 rejections.)"""
    from autointerp.backends import LimitBackend, find_layer

    server.latency = 0.02
    server.set_capacity(2, overload="reject")
    n = 80
    responses, backend = run(complete_all("openai:gpt-4.1-mini", [ask(f"q{i}") for i in range(n)],
                                          max_concurrency=16))
    assert [r.text for r in responses] == [f"echo: q{i}" for i in range(n)]
    rejected = len(server.requests) - n
    limit = find_layer(backend, LimitBackend).slots
    assert limit.cuts >= 2 and limit.limit < 16
    assert rejected < n, f"{rejected} of {len(server.requests)} requests were rejected"
