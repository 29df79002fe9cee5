"""RetryBackend: one retry policy for every backend (tenacity, exponential backoff with jitter).

Retries TransientBackendError (408/409/429/5xx/529, timeouts, dropped connections,
garbled bodies). When the server said how long to wait (``retry-after-ms`` /
``retry-after``) the wait is that plus a random jitter of up to half of it (for
``retry-after: 0``, up to ``min(initial_wait, 1 s) / 2``), so requests rejected
together do not all come back in the same instant and collide again; otherwise exponential backoff with
jitter. Any other BackendError (400/401/403/404/422, budget) is raised at once, and so is a failure to connect
before the server has ever answered (:class:`~autointerp.backends.faults.Unreachable`: a wrong URL or a server
that is not running is not worth a minute of backoff; once it has answered, a refused connection is retried).
Jitter is timing only (never a result) and deliberately unseeded: processes
sharing a server must not retry in step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
    wait_random,
)

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.backends.faults import TransientBackendError, Unreachable
from autointerp.backends.wrapper import Wrapper
from autointerp.errors import BackendError
from autointerp.types import Usage

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryPolicy:
    """How often and how long to retry; callable on an async function."""

    def __init__(self, max_retries: int = 6, initial_wait: float = 1.0, max_wait: float = 60.0):
        self.max_retries = max_retries
        self.initial_wait = initial_wait
        self.max_wait = max_wait
        self._backoff = wait_exponential_jitter(initial=initial_wait, max=max_wait, jitter=initial_wait)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientBackendError) and exc.retry_after is not None:
            asked = min(exc.retry_after, self.max_wait)
            spread = asked / 2 if asked > 0 else min(self.initial_wait, 1.0) / 2  # "retry now": still spread out
            return asked + wait_random(0, spread)(state)
        return self._backoff(state)

    @staticmethod
    def _log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("retry %d after %.2fs: %s", state.attempt_number, wait, exc)

    async def __call__(self, fn: Callable[[], Awaitable[T]]) -> T:
        attempts = self.max_retries + 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientBackendError),
            before_sleep=self._log,
            reraise=True,
        )
        async def attempt() -> T:  # a real coroutine function, so tenacity awaits it
            return await fn()

        try:
            return await retrying(attempt)
        except TransientBackendError as exc:  # out of attempts: a plain BackendError so no outer layer retries it
            raise BackendError(f"{exc} (gave up after {attempts} attempts)") from None


class RetryBackend(Wrapper):
    """Retries transient failures of ``inner`` under a :class:`RetryPolicy`."""

    def __init__(self, inner: Backend, policy: RetryPolicy | None = None):
        super().__init__(inner)
        self.policy = policy or RetryPolicy()
        self.reached = False  # the server has answered at least once (with anything)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Retry; answers paid for and then discarded (unreadable) are added to the returned usage, or to the
        final error's ``paid``, so the run's ledger and the unit's usage count every paid attempt."""
        paid = Usage()

        async def once() -> LLMResponse:
            nonlocal paid
            try:
                response = await self.inner.complete(request)
                self.reached = True
                return response
            except BackendError as exc:
                if getattr(exc, "unreachable", False) and not self.reached:
                    raise Unreachable(str(exc)) from None
                if getattr(exc, "status", None) is not None:
                    self.reached = True
                if getattr(exc, "paid", None) is not None:
                    paid = paid + exc.paid
                raise

        try:
            response = await self.policy(once)
        except BackendError as exc:
            exc.paid = paid if paid.requests or paid.cost_usd else None
            raise
        if not (paid.requests or paid.cost_usd) or response.cached:
            return response
        return response.model_copy(update={"usage": response.usage + paid})
