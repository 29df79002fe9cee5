"""CacheBackend: content-addressed SQLite cache."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from autointerp.backends import LLMRequest, build_backend, cache_key, usage_of
from autointerp.backends.cache import DB_NAME, CacheBackend
from autointerp.errors import BackendError
from tests.support.api_server import error
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask


def test_hit_sends_nothing_and_costs_nothing(keys, server, tmp_path):
    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", cache_dir=tmp_path)
        first = await backend.complete(ask("same question", top_logprobs=2))
        sent = len(server.requests)
        second = await backend.complete(ask("same question", top_logprobs=2))
        after_hit = len(server.requests)
        other = await backend.complete(ask("another question"))
        await backend.aclose()
        return first, second, other, sent, after_hit, backend

    first, second, other, sent, after_hit, backend = run(scenario())
    assert sent == 1 and after_hit == 1 and len(server.requests) == 2
    assert not first.cached and first.usage.cost_usd > 0
    assert second.cached and second.usage.cost_usd == 0 and second.usage.requests == 0
    assert second.text == first.text and second.logprobs == first.logprobs
    assert not other.cached
    assert (backend.hits, backend.misses) == (1, 2)
    assert usage_of(backend).requests == 2  # the hit never reached the cost layer


def test_cache_survives_a_new_process_stack(keys, server, tmp_path):
    async def once():
        backend = build_backend("anthropic:claude-sonnet-4-5", cache_dir=tmp_path)
        response = await backend.complete(ask("persist me"))
        await backend.aclose()
        return response

    assert not run(once()).cached
    assert run(once()).cached
    assert len(server.requests) == 1


def test_key_depends_on_spec_model_and_every_request_field():
    base = ask("q")
    keys = {
        cache_key("openai:gpt-4.1-mini", "gpt-4.1-mini", base),
        cache_key("openai:gpt-4.1", "gpt-4.1", base),
        cache_key("openai:gpt-4.1-mini", "gpt-4.1-mini", ask("q", max_tokens=5)),
        cache_key("openai:gpt-4.1-mini", "gpt-4.1-mini", ask("q", json_mode=True)),
        cache_key("openai:gpt-4.1-mini", "gpt-4.1-mini", LLMRequest(system="s", messages=base.messages)),
    }
    assert len(keys) == 5
    assert cache_key("a:b", "b", base) == cache_key("a:b", "b", ask("q"))  # deterministic
    assert len(cache_key("a:b", "b", base)) == 64


def test_errors_are_not_cached(keys, server, tmp_path):
    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", cache_dir=tmp_path)
        server.script(error(400, "bad"))
        with pytest.raises(BackendError):
            await backend.complete(ask("q"))
        response = await backend.complete(ask("q"))
        await backend.aclose()
        return response

    assert not run(scenario()).cached and len(server.requests) == 2


class _Echo:
    """A tiny raw backend for the multi-process test (no server in the child process)."""

    spec = model = "echo:test"
    from autointerp.backends import Capabilities as _C

    capabilities = _C()

    async def complete(self, request):
        from autointerp.backends import LLMResponse

        return LLMResponse(text=request.messages[-1].content * 50)

    async def aclose(self):
        pass


def _writer(cache_dir: str, worker: int, n: int) -> None:
    import asyncio

    async def go():
        backend = CacheBackend(_Echo(), cache_dir)
        await asyncio.gather(*(backend.complete(ask(f"{worker}-{i % (n // 2)}")) for i in range(n)))
        await asyncio.gather(*(backend.complete(ask(f"shared-{i}")) for i in range(n)))  # same keys in both
        await backend.aclose()

    asyncio.run(go())


def test_two_processes_writing_one_database(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 150)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 2 * 75 + 150


def test_disk_full_is_one_line_cache_error_not_a_traceback(tmp_path):
    """A full disk (SQLITE_FULL, emulated with max_page_count) fails the call with one line naming the file."""
    import asyncio

    from autointerp.errors import CacheError

    async def scenario():
        backend = CacheBackend(_Echo(), tmp_path)
        await backend.complete(ask("fits"))
        pages = backend.store._writer.execute("PRAGMA page_count").fetchone()[0]
        backend.store._writer.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(CacheError) as info:
            await backend.complete(ask("x" * 20_000))
        await asyncio.sleep(0)
        await backend.aclose()
        return str(info.value)

    message = run(scenario())
    assert "full" in message and DB_NAME in message and "\n" not in message
