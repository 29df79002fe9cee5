"""CacheBackend: a content-addressed on-disk response cache in SQLite.

Key = sha256(backend spec + model + the request's canonical JSON). Keys are built
from the request only: an API key is never part of a spec, request or cache
entry. A hit sends no request and returns ``cached=True`` with zero usage and
cost. Errors are never cached.

Safe for concurrent writers: WAL journal, a busy timeout, and one connection
owned by a single worker thread per CacheBackend (so the event loop never
blocks on disk); several processes may share one database file.
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
    """The SQLite table ``responses(key, spec, response, created)``; every call runs on one worker thread."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autointerp-cache")
        self._conn: sqlite3.Connection | None = None
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS responses "
            "(key TEXT PRIMARY KEY, spec TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._conn = conn

    def _get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _put(self, key: str, spec: str, response: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO responses (key, spec, response, created) VALUES (?, ?, ?, ?)",
            (key, spec, response, time.time()),
        )

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def get(self, key: str) -> str | None:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._get, key)

    async def put(self, key: str, spec: str, response: str) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._put, key, spec, response)

    def __len__(self) -> int:
        return self._executor.submit(lambda: self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]).result()

    def close(self) -> None:
        self._executor.submit(self._close).result()
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
        stored = await self.store.get(key)
        if stored is not None:
            self.hits += 1
            return LLMResponse.model_validate_json(stored).model_copy(
                update={"cached": True, "usage": Usage(), "latency_s": 0.0}
            )
        self.misses += 1
        response = await self.inner.complete(request)
        await self.store.put(key, self.spec, response.model_dump_json())
        return response

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.store.close()
