"""Issue 19, defect 5: a concurrency slot is freed only once its answer is stored in the response cache.

So "requests sent and not yet stored" never exceeds ``max_concurrency``: a ``kill -9`` can lose (and a resume pay
again for) at most ``max_concurrency`` answered requests per backend, the ones in flight at the moment of the kill.
"""

from __future__ import annotations

import asyncio

from autointerp.backends import CacheBackend, LimitBackend
from autointerp.backends.base import Capabilities, LLMResponse
from autointerp.backends.cache import ResponseStore
from tests.unit.backends.helpers import ask


class Raw:
    """A raw backend that answers at once and counts requests sent but not yet stored by the cache above."""

    spec, model, capabilities = "fake:m", "m", Capabilities()

    def __init__(self) -> None:
        self.unstored = 0
        self.peak = 0

    async def complete(self, request):
        self.unstored += 1
        self.peak = max(self.peak, self.unstored)
        await asyncio.sleep(0)
        return LLMResponse(text="ok", model="m")

    async def aclose(self) -> None:
        pass


class SlowStore(ResponseStore):
    """Commits take a while (a busy disk, another process holding the write lock)."""

    def __init__(self, path, raw: Raw):
        super().__init__(path)
        self.raw = raw

    def put(self, key, spec, response):
        async def later():
            await asyncio.sleep(0.02)
            self.raw.unstored -= 1

        return asyncio.ensure_future(later())


def test_sent_and_not_yet_stored_never_exceeds_max_concurrency(tmp_path):
    async def scenario() -> int:
        raw = Raw()
        store = SlowStore(tmp_path / "responses.sqlite", raw)
        backend = CacheBackend(LimitBackend(raw, max_concurrency=3), tmp_path, store=store)
        try:
            await asyncio.gather(*(backend.complete(ask(f"q{i}")) for i in range(30)))
        finally:
            await backend.aclose()
        return raw.peak

    assert asyncio.run(scenario()) <= 3


def test_a_failed_commit_frees_the_slot(tmp_path):
    from autointerp.errors import CacheError

    class FailingStore(ResponseStore):
        def put(self, key, spec, response):
            future = asyncio.get_running_loop().create_future()
            future.set_exception(CacheError("disk full"))
            return future

    async def scenario():
        limit = LimitBackend(Raw(), max_concurrency=2)
        backend = CacheBackend(limit, tmp_path, store=FailingStore(tmp_path / "responses.sqlite"))
        results = await asyncio.gather(*(backend.complete(ask(f"q{i}")) for i in range(5)), return_exceptions=True)
        await backend.aclose()
        return results, limit.slots.in_flight

    results, in_flight = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert all(isinstance(r, CacheError) for r in results) and in_flight == 0
