"""CacheBackend: a content-addressed on-disk response cache in SQLite.

Key = sha256(backend spec + model + the request's canonical JSON). Keys are built
from the request only: an API key is never part of a spec, request or cache
entry. A hit sends no request and returns ``cached=True`` with zero usage and
cost. Errors are never cached.

An answer is committed before ``complete`` returns it, about a millisecond after it
arrives, so a process killed at any later moment never pays for it again; the concurrency
slot of the request (``LimitBackend``) is freed only then, so at most ``max_concurrency``
answered requests can be lost to a kill. Answers
arriving together share one commit. Safe for concurrent writers: WAL journal and a
busy timeout; several processes may share one file (while another process holds
the write lock, commits wait on a writer thread, not on the event loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.backends.limit import hold_slots
from autointerp.backends.wrapper import Wrapper
from autointerp.errors import CacheError
from autointerp.types import Usage

DB_NAME = "responses.sqlite"
BUSY_MS = 60_000  # how long the writer thread waits for another process's write lock
QUICK_BUSY_MS = 5  # how long a commit on the event loop may wait for it before handing over to the thread


def cache_key(spec: str, model: str, request: LLMRequest) -> str:
    """sha256 of spec, model and the canonical request JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        {"spec": spec, "model": model, "request": request.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseStore:
    """The SQLite table ``responses(key, spec, response, created)``.

    Reads are point lookups on the primary key, done on the caller's thread with their own connection
    (WAL readers never wait for writers). Writes are group commits: :meth:`put` queues a row (visible to
    reads at once) and returns an awaitable that resolves once the row is committed; every row queued in
    one event-loop iteration shares one transaction. WAL with ``synchronous=NORMAL``: a committed row
    survives the process being killed (``kill -9``); only an OS crash or power loss can drop the last
    commits. Any SQLite/OS failure (disk full, read-only folder) is a one-line :class:`CacheError`.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"response cache folder {self.path.parent}: {exc.strerror or exc}") from None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autointerp-cache")
        self._writer: sqlite3.Connection | None = None
        self._guarded(lambda: self._executor.submit(self._open_writer).result())
        self._reader = self._guarded(lambda: self._connect(check_same_thread=False))
        self._pending: dict[str, tuple[str, str, float]] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._committer: asyncio.Task | None = None  # the writer-thread loop, while the database is busy
        self._scheduled = False  # a loop-thread commit is scheduled

    def _guarded(self, fn):
        """``fn()``; SQLite and OS errors become one-line CacheErrors naming the database file."""
        try:
            return fn()
        except (sqlite3.Error, OSError) as exc:
            raise CacheError(f"response cache {self.path}: {exc}") from None

    def _connect(self, **kwargs) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None, **kwargs)
        conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        return conn

    def _open_writer(self) -> None:
        conn = self._connect(check_same_thread=False)  # used by the loop thread and, when busy, the writer thread
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS responses "
            "(key TEXT PRIMARY KEY, spec TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._writer = conn

    def _write(self, rows: list[tuple[str, str, str, float]], busy_ms: int = BUSY_MS) -> None:
        self._writer.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        with self._writer:  # one transaction
            self._writer.execute("BEGIN IMMEDIATE")
            self._writer.executemany(
                "INSERT OR REPLACE INTO responses (key, spec, response, created) VALUES (?, ?, ?, ?)", rows
            )

    def get(self, key: str) -> str | None:
        if key in self._pending:
            return self._pending[key][1]
        row = self._guarded(
            lambda: self._reader.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        )
        return row[0] if row else None

    def put(self, key: str, spec: str, response: str) -> asyncio.Future[None]:
        """Queue a row; the returned future resolves when it is committed (or fails with a CacheError).

        The commit runs at the end of this event-loop iteration, on the loop's thread (rows queued in the
        same iteration share it): an answer is durable within about a millisecond of arriving, without
        waiting for a thread to win the GIL. If another process holds the write lock, the rows go to the
        writer thread instead, which waits for the lock without blocking the loop.
        """
        self._pending[key] = (spec, response, time.time())
        loop = asyncio.get_running_loop()
        waiter = self._waiters.get(key)
        if waiter is None or waiter.done():
            waiter = self._waiters[key] = loop.create_future()
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved" noise
        if not self._scheduled and (self._committer is None or self._committer.done()):
            self._scheduled = True
            loop.call_soon(self._commit_here)
        return waiter

    def _settle(self, items, error: CacheError | None) -> None:
        for key, value in items:
            if self._pending.get(key) is not value:  # re-put meanwhile: its own round commits it
                continue
            del self._pending[key]
            waiter = self._waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    @staticmethod
    def _rows(items) -> list[tuple[str, str, str, float]]:
        return [(key, spec, response, created) for key, (spec, response, created) in items]

    def _commit_here(self) -> None:
        """One commit of everything queued, on the loop thread; busy database: hand over to the writer thread."""
        self._scheduled = False
        if not self._pending or (self._committer is not None and not self._committer.done()):
            return
        items = list(self._pending.items())
        try:
            self._write(self._rows(items), busy_ms=QUICK_BUSY_MS)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                self._committer = asyncio.ensure_future(self._commit_loop())
                return
            self._settle(items, CacheError(f"response cache {self.path}: {exc}"))
            return
        except Exception as exc:  # noqa: BLE001 - every waiter gets an answer, never a hang
            self._settle(items, CacheError(f"response cache {self.path}: {exc}"))
            return
        self._settle(items, None)

    async def _commit_loop(self) -> None:
        """On the writer thread: commit queued rows round by round until the queue is empty."""
        loop = asyncio.get_running_loop()
        while self._pending:
            items = list(self._pending.items())
            error: CacheError | None = None
            try:
                await loop.run_in_executor(self._executor, self._write, self._rows(items))
            except Exception as exc:  # noqa: BLE001 - every waiter gets an answer, never a hang
                error = CacheError(f"response cache {self.path}: {exc}")
            self._settle(items, error)

    async def flush(self) -> None:
        """Wait until every queued row is committed."""
        while self._committer is not None and not self._committer.done():
            await asyncio.shield(self._committer)

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            self._reader.close()
            self._executor.submit(self._writer.close).result()
            self._executor.shutdown(wait=True)


class CacheBackend(Wrapper):
    """Serves repeated requests from ``cache_dir/responses.sqlite``; counts ``hits`` and ``misses``."""

    def __init__(self, inner: Backend, cache_dir: Path | str, store: ResponseStore | None = None):
        super().__init__(inner)
        self.store = store if store is not None else ResponseStore(Path(cache_dir) / DB_NAME)
        self.hits = 0
        self.misses = 0

    async def complete(self, request: LLMRequest) -> LLMResponse:
        key = cache_key(self.spec, self.model, request)
        stored = self.store.get(key)
        if stored is not None:
            self.hits += 1
            return LLMResponse.model_validate_json(stored).model_copy(
                update={"cached": True, "usage": Usage(), "latency_s": 0.0}
            )
        self.misses += 1
        held: list = []
        token = hold_slots.set(held)  # the concurrency slot of this request is freed once its answer is stored
        try:
            response = await self.inner.complete(request)
            # Durable before it is used: a kill after this line never pays for this answer again.
            await asyncio.shield(self.store.put(key, self.spec, response.model_dump_json()))
            return response
        finally:
            hold_slots.reset(token)
            for release in held:
                release()

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            await self.store.close()
