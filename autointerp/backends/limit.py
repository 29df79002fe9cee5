"""LimitBackend: an adaptive concurrency cap (AIMD) plus requests/min and tokens/min token buckets.

Concurrency adapts like TCP's congestion window (AIMD): the cap starts at ``max_concurrency``, is cut to
70% when the server answers "too many" (429 rate limit, 529 overloaded) - at most once per round of
requests, so a burst of rejections sent together counts once - and grows back by one slot per round of
successes. (A cut to 70% rather than 50%, as in TCP CUBIC, keeps goodput against a capped server near
its capacity: 0.82-0.84 of ideal vs 0.75 with halving, ``benchmarks/backends.py``.)
Against a server that admits fewer requests than the client would send, the client settles just above
the server's capacity instead of hammering it with requests that are rejected and retried in lockstep.

A slot is held until the answer is *stored*: the response cache above sets :data:`hold_slots`, and the slot of an
answered request is freed only after the cache has committed the answer. So requests sent and not yet stored never
exceed ``max_concurrency``, which bounds what a ``kill -9`` can make a resume pay for twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import math
import time
from collections.abc import Awaitable, Callable

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.backends.faults import TransientBackendError
from autointerp.backends.wrapper import Wrapper

CONGESTION_STATUS = frozenset({429, 529})  # the server says: fewer requests at once

# Set by the layer that stores answers (the response cache): slot releases of answered requests are appended here
# and called by that layer once the answer is stored, instead of at once.
hold_slots: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "autointerp_hold_slots", default=None
)


class TokenBucket:
    """Refills ``per_minute`` units per minute up to one minute's worth; ``take`` waits for enough (FIFO).

    ``clock`` and ``sleep`` are the monotonic clock and the async sleep it uses (a test gives virtual ones)."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.clock, self.sleep = clock, sleep
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, amount: float = 1.0) -> None:
        amount = min(float(amount), self.capacity)  # a request larger than the bucket waits for a full bucket
        async with self._lock:
            self._refill()
            while self.level < amount:
                await self.sleep((amount - self.level) / self.rate)
                self._refill()
            self.level -= amount


class AdaptiveLimit:
    """At most ``limit`` holders at once (FIFO), where ``limit`` moves between 1 and ``maximum`` (AIMD).

    :meth:`acquire` returns a ticket (the time of the last cut it has seen); :meth:`release` with
    ``congested=True`` multiplies the limit by ``decrease`` unless it already was cut after that ticket
    was issued; ``ok=True`` adds ``1 / limit`` (one slot per round of successes).
    """

    def __init__(self, maximum: int, decrease: float = 0.7):
        self.maximum = maximum
        self.decrease = decrease  # the limit is multiplied by this at a cut
        self.limit = float(maximum)
        self.in_flight = 0
        self.cuts = 0  # how often the limit was halved (for tests and logs)
        self._epoch = 0  # increments at every cut
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def slots(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self) -> int:
        if self.in_flight >= self.slots or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed a slot and cancelled at once: pass it on
                    self.in_flight -= 1
                    self._wake()
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        else:
            self.in_flight += 1
        return self._epoch

    def release(self, ticket: int, *, congested: bool = False, ok: bool = False) -> None:
        self.in_flight -= 1
        if congested:
            if ticket == self._epoch:  # one cut per round: later rejections of the same round are not news
                self.limit = max(1.0, self.limit * self.decrease)
                self._epoch += 1
                self.cuts += 1
        elif ok and self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.slots:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1  # the slot is handed over, not raced for
                waiter.set_result(None)


def estimate_tokens(request: LLMRequest) -> int:
    """Tokens a request may use: prompt characters / 4 (rounded up) + max_tokens."""
    chars = len(request.system) + sum(len(m.content) for m in request.messages) + sum(map(len, request.prefill))
    return math.ceil(chars / 4) + request.max_tokens


class LimitBackend(Wrapper):
    """At most ``max_concurrency`` requests in flight (fewer while the server pushes back), optional rpm / tpm.

    Sits below the retry layer, so it sees every attempt's outcome and a request waiting to be retried
    holds no slot.

    ``gate`` (optional) runs when a request gets its slot, just before it is sent; raising refuses it.
    The budget uses it so that requests still queued here when ``max_cost`` is reached are not sent.
    """

    def __init__(self, inner: Backend, *, max_concurrency: int = 16, rpm: float | None = None,
                 tpm: float | None = None, gate: Callable[[], None] | None = None):
        super().__init__(inner)
        self.gate = gate
        self.max_concurrency = max_concurrency
        self.slots = AdaptiveLimit(max_concurrency)
        self._requests = TokenBucket(rpm) if rpm else None
        self._tokens = TokenBucket(tpm) if tpm else None

    async def complete(self, request: LLMRequest) -> LLMResponse:
        ticket = await self.slots.acquire()
        congested = ok = False
        try:
            if self._requests is not None:
                await self._requests.take(1)
            if self._tokens is not None:
                await self._tokens.take(estimate_tokens(request))
            if self.gate is not None:
                self.gate()
            response = await self.inner.complete(request)
            ok = True
            return response
        except TransientBackendError as exc:
            congested = exc.status in CONGESTION_STATUS
            raise
        finally:
            held = hold_slots.get() if ok else None
            if held is not None:  # answered: the slot is freed once the answer is stored
                held.append(lambda: self.slots.release(ticket, ok=True))
            else:
                self.slots.release(ticket, congested=congested, ok=ok)
