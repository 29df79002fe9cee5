"""CacheBackend: a content-addressed on-disk response cache in SQLite.

Key = sha256(backend spec + model + the request's canonical JSON). Keys are built
from the request only: an API key is never part of a spec, request or cache
entry. A hit sends no request and returns ``cached=True`` with zero usage and
cost. Errors are never cached.

Safe for concurrent writers: WAL journal, a busy timeout, one writer thread
per CacheBackend committing queued responses in batches (the event loop never
waits for a commit); several processes may share one database file.
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
from autointerp.backends.wrapper import Wrapper
from autointerp.types import Usage

DB_NAME = "responses.sqlite"


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
    (WAL readers never wait for writers). Writes are write-behind: queued in memory (visible to reads at
    once) and committed in one transaction per flush by a single writer thread, so a burst of misses
    costs one thread hop and one commit, not one per response. ``flush()``/``close()`` write everything.
    """

    def __init__(self, path: Path, flush_delay: float = 0.05):
        self.path = Path(path)
        self.flush_delay = flush_delay  # seconds a write may wait in memory (read-visible) before its commit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autointerp-cache")
        self._writer: sqlite3.Connection | None = None
        self._executor.submit(self._open_writer).result()
        self._reader = self._connect(check_same_thread=False)
        self._pending: dict[str, tuple[str, str, float]] = {}
        self._flushing: asyncio.Future | None = None

    def _connect(self, **kwargs) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, **kwargs)
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    def _open_writer(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS responses "
            "(key TEXT PRIMARY KEY, spec TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._writer = conn

    def _write(self, rows: list[tuple[str, str, str, float]]) -> None:
        with self._writer:  # one transaction
            self._writer.execute("BEGIN IMMEDIATE")
            self._writer.executemany(
                "INSERT OR REPLACE INTO responses (key, spec, response, created) VALUES (?, ?, ?, ?)", rows
            )

    def get(self, key: str) -> str | None:
        if key in self._pending:
            return self._pending[key][1]
        row = self._reader.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, spec: str, response: str) -> None:
        """Queue a write; it is committed by the next flush (scheduled now if none is running)."""
        self._pending[key] = (spec, response, time.time())
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(self.flush_delay)  # let more responses queue up: one commit for many
            await self.flush()
        finally:
            self._flushing = None

    async def flush(self) -> None:
        """Commit every queued write."""
        while self._pending:
            items = list(self._pending.items())
            rows = [(key, spec, response, created) for key, (spec, response, created) in items]
            await asyncio.get_running_loop().run_in_executor(self._executor, self._write, rows)
            for key, value in items:  # a newer put of the same key, queued meanwhile, stays queued
                if self._pending.get(key) is value:
                    del self._pending[key]

    async def close(self) -> None:
        if self._flushing is not None:
            await self._flushing
        await self.flush()
        self._reader.close()
        self._executor.submit(self._writer.close).result()
        self._executor.shutdown(wait=True)


class CacheBackend(Wrapper):
    """Serves repeated requests from ``cache_dir/responses.sqlite``; counts ``hits`` and ``misses``."""

    def __init__(self, inner: Backend, cache_dir: Path | str):
        super().__init__(inner)
        self.store = ResponseStore(Path(cache_dir) / DB_NAME)
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
        response = await self.inner.complete(request)
        self.store.put(key, self.spec, response.model_dump_json())
        return response

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            await self.store.close()
