"""BatchBackend: requests queued and sent through the provider's batch API (half price, for runs that can wait).

``complete()`` queues the request and waits. The queue is flushed as one batch
when ``batch_size`` requests are waiting or once no request arrived for
``flush_s`` seconds. Transient item errors go into a later batch (see
:class:`BatchBackend`). Each batch is polled with doubling intervals until it ends, then
its results resolve the waiting calls. Batch ids and their requests' custom ids
are kept in ``<state_dir>/batches-<provider>.json``: after a restart, pending
batches are polled again and a re-issued request (same custom id = same spec,
model and request) waits for its earlier batch instead of being paid twice.
The state file is meant for one process at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Protocol

from autointerp.backends.base import Capabilities, LLMRequest, LLMResponse
from autointerp.backends.cache import ResponseStore, cache_key
from autointerp.backends.faults import TransientBackendError
from autointerp.backends.retry import RetryPolicy
from autointerp.errors import BackendError

log = logging.getLogger(__name__)


class BatchProvider(Protocol):
    """What a raw backend offers for batch mode (OpenAIBackend, AnthropicBackend)."""

    provider: str
    spec: str
    model: str
    capabilities: Capabilities

    async def submit_batch(self, items: list[tuple[str, LLMRequest]]) -> str: ...

    async def batch_done(self, batch_id: str) -> bool: ...

    async def batch_results(self, batch_id: str) -> dict[str, LLMResponse | BackendError]: ...

    async def aclose(self) -> None: ...


class BatchState:
    """Pending batches on disk: ``{batch_id: [custom_id, ...]}``, written atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.pending: dict[str, list[str]] = json.loads(path.read_text()) if path.exists() else {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.pending, indent=1))
        os.replace(tmp, self.path)

    def add(self, batch_id: str, custom_ids: list[str]) -> None:
        self.pending[batch_id] = custom_ids
        self._save()

    def remove(self, batch_id: str) -> None:
        self.pending.pop(batch_id, None)
        self._save()


class BatchBackend:
    """A Backend whose requests go through ``provider``'s batch API.

    Collection: a batch is sent when ``batch_size`` requests wait, or when no new request arrived for
    ``flush_s`` seconds (at most ``10 * flush_s`` after the first), so a stage's pending work - every unit
    queues its request within moments of the others - leaves as one batch, not one per concurrency slot.
    Item errors: a transient one (429/5xx/overloaded, an expired batch's unprocessed items, an item the
    batch returned nothing for) is queued again for a later batch, up to ``policy.max_retries`` times,
    within the same invocation; a request error (400) fails only its own call.
    """

    def __init__(self, provider: BatchProvider, *, state_dir: Path | str, batch_size: int = 2000,
                 flush_s: float = 2.0, poll_s: float = 10.0, max_poll_s: float = 300.0,
                 policy: RetryPolicy | None = None, store: ResponseStore | None = None):
        if not provider.capabilities.batch:
            raise BackendError(f"backend {provider.spec!r} has no batch API")
        self.inner = provider
        self.batch_size = batch_size
        self.flush_s = flush_s
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s
        self.policy = policy or RetryPolicy()
        self.store = store  # the response cache: answers are written there before a batch is forgotten
        self.state = BatchState(Path(state_dir) / f"batches-{provider.provider}.json")
        self.batches_submitted = 0
        self._queue: list[tuple[str, LLMRequest]] = []
        self._futures: dict[str, asyncio.Future[LLMResponse]] = {}
        self._requests: dict[str, LLMRequest] = {}  # custom id -> request, to send it again after an item error
        self._attempts: dict[str, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._first_queued: float | None = None
        self._tasks: set[asyncio.Task] = set()
        self._resumed = False

    spec = property(lambda self: self.inner.spec)
    model = property(lambda self: self.inner.model)
    capabilities = property(lambda self: self.inner.capabilities)

    def __repr__(self) -> str:
        return f"BatchBackend({self.inner!r})"

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self._resume()
        custom_id = cache_key(self.spec, self.model, request)
        self._requests.setdefault(custom_id, request)
        future = self._futures.get(custom_id)
        if future is None:  # not queued, not in a running or recovered batch
            future = self._new_future(custom_id)
            self._enqueue(custom_id, request)
        return await asyncio.shield(future)

    def _enqueue(self, custom_id: str, request: LLMRequest) -> None:
        loop = asyncio.get_running_loop()
        self._queue.append((custom_id, request))
        if len(self._queue) >= self.batch_size:
            self._flush()
            return
        now = loop.time()
        if self._first_queued is None:
            self._first_queued = now
        if self._timer is not None:
            self._timer.cancel()
        deadline = min(now + self.flush_s, self._first_queued + 10 * self.flush_s)  # quiet window, capped
        self._timer = loop.call_at(deadline, self._flush)

    def _new_future(self, custom_id: str) -> asyncio.Future[LLMResponse]:
        future = self._futures[custom_id] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved" noise
        return future

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _resume(self) -> None:
        """Once per process: poll batches a previous run left pending."""
        if self._resumed:
            return
        self._resumed = True
        for batch_id, custom_ids in self.state.pending.items():
            log.info("resuming batch %s (%d requests)", batch_id, len(custom_ids))
            for cid in custom_ids:
                if cid not in self._futures:
                    self._new_future(cid)
            self._spawn(self._collect(batch_id, custom_ids))

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._first_queued = None
        while self._queue:
            items, self._queue = self._queue[: self.batch_size], self._queue[self.batch_size:]
            self._spawn(self._submit(items))

    async def _submit(self, items: list[tuple[str, LLMRequest]]) -> None:
        ids = [cid for cid, _ in items]
        for cid in ids:
            self._attempts[cid] = self._attempts.get(cid, 0) + 1
        try:
            batch_id = await self.policy(lambda: self.inner.submit_batch(items))
        except Exception as exc:  # noqa: BLE001 - any failure fails the waiting calls, never a hang
            self._fail(ids, exc)
            return
        self.batches_submitted += 1
        self.state.add(batch_id, ids)
        await self._collect(batch_id, ids)

    async def _collect(self, batch_id: str, ids: list[str]) -> None:
        try:
            wait = self.poll_s
            while not await self.policy(lambda: self.inner.batch_done(batch_id)):
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.max_poll_s)
            results = await self.policy(lambda: self.inner.batch_results(batch_id))
        except Exception as exc:  # noqa: BLE001 - any failure fails the waiting calls, never a hang
            self._fail(ids, exc)
            if isinstance(exc, BackendError) and "ended with status" in str(exc):
                self.state.remove(batch_id)
            return
        answers = {cid: r for cid, r in results.items() if cid in ids and isinstance(r, LLMResponse)}
        if self.store is not None and answers:
            try:  # paid answers are durable before the batch leaves the state file
                await asyncio.gather(*(self.store.put(cid, self.spec, r.model_dump_json())
                                       for cid, r in answers.items()))
            except Exception as exc:  # noqa: BLE001 - the batch stays pending: a rerun fetches it again, unpaid
                self._fail(ids, exc)
                return
        for cid in ids:
            result = results.get(cid) or TransientBackendError(
                f"batch {batch_id} returned no result for request {cid[:12]}")
            if isinstance(result, TransientBackendError):
                self._retry(cid, result)
            elif isinstance(result, BaseException):
                self._fail([cid], result)
            else:
                future = self._futures.get(cid) or self._new_future(cid)  # a later identical request reuses it
                if not future.done():
                    future.set_result(result)
        self.state.remove(batch_id)

    def _retry(self, cid: str, error: TransientBackendError) -> None:
        """Queue ``cid`` for a later batch if the retry policy allows, else fail its call."""
        request = self._requests.get(cid)
        attempts = self._attempts.get(cid, 1)
        if request is None or attempts > self.policy.max_retries:
            suffix = f" (gave up after {attempts} batches)" if request is not None else ""
            self._fail([cid], BackendError(f"{error}{suffix}"))
            return
        log.info("batch item %s: %s; queued for the next batch (attempt %d)", cid[:12], error, attempts + 1)
        self._enqueue(cid, request)

    def _fail(self, ids: list[str], exc: BaseException) -> None:
        if isinstance(exc, TransientBackendError):  # not retried (any more): a plain error, so no layer retries it
            err: BaseException = BackendError(str(exc))
        elif isinstance(exc, BackendError):
            err = exc
        else:
            err = BackendError(f"batch failed: {type(exc).__name__}: {exc}")
        for cid in ids:
            future = self._futures.pop(cid, None)
            if future is not None and not future.done():
                future.set_exception(err)

    async def aclose(self) -> None:
        """Stops polling (pending batch ids stay in the state file for the next run) and closes the client."""
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        closed = BackendError("batch backend closed before the batch ended; rerun to resume polling it")
        for future in self._futures.values():
            if not future.done():
                future.set_exception(closed)
        await self.inner.aclose()
