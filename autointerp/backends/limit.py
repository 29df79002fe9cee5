"""LimitBackend: a concurrency cap plus requests/min and tokens/min token buckets."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.backends.wrapper import Wrapper


class TokenBucket:
    """Refills ``per_minute`` units per minute up to one minute's worth; ``take`` waits for enough (FIFO)."""

    def __init__(self, per_minute: float):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, amount: float = 1.0) -> None:
        amount = min(float(amount), self.capacity)  # a request larger than the bucket waits for a full bucket
        async with self._lock:
            self._refill()
            while self.level < amount:
                await asyncio.sleep((amount - self.level) / self.rate)
                self._refill()
            self.level -= amount


def estimate_tokens(request: LLMRequest) -> int:
    """Tokens a request may use: prompt characters / 4 (rounded up) + max_tokens."""
    chars = len(request.system) + sum(len(m.content) for m in request.messages) + sum(map(len, request.prefill))
    return math.ceil(chars / 4) + request.max_tokens


class LimitBackend(Wrapper):
    """At most ``max_concurrency`` requests in flight, and optional rpm / tpm limits.

    ``gate`` (optional) runs when a request gets its slot, just before it is sent; raising refuses it.
    The budget uses it so that requests still queued here when ``max_cost`` is reached are not sent.
    """

    def __init__(self, inner: Backend, *, max_concurrency: int = 16, rpm: float | None = None,
                 tpm: float | None = None, gate: Callable[[], None] | None = None):
        super().__init__(inner)
        self.gate = gate
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._requests = TokenBucket(rpm) if rpm else None
        self._tokens = TokenBucket(tpm) if tpm else None

    async def complete(self, request: LLMRequest) -> LLMResponse:
        async with self._slots:
            if self._requests is not None:
                await self._requests.take(1)
            if self._tokens is not None:
                await self._tokens.take(estimate_tokens(request))
            if self.gate is not None:
                self.gate()
            return await self.inner.complete(request)
