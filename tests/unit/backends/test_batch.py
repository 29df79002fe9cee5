"""Batch mode (OpenAI Batch API, Anthropic Message Batches) against the loopback server."""

from __future__ import annotations

import asyncio
import json

import pytest

from autointerp.backends import build_backend, usage_of
from autointerp.errors import BackendError, ConfigError
from tests.support.api_server import openai_chat
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask

BATCH = {"batch": True, "batch_flush_s": 0.05, "batch_poll_s": 0.01}


def complete_items(spec: str, cache_dir, n: int):
    """``n`` concurrent requests "item 0".."item n-1" through a batch-mode backend; (responses, backend)."""

    async def scenario():
        backend = build_backend(spec, cache_dir=cache_dir, **BATCH)
        responses = await asyncio.gather(*(backend.complete(ask(f"item {i}")) for i in range(n)))
        await backend.aclose()
        return responses, backend

    return run(scenario())


@pytest.mark.parametrize(("spec", "create_path"), [("openai:gpt-4.1-mini", "/v1/batches"),
                                                   ("anthropic:claude-haiku-4-5", "/v1/messages/batches")])
def test_concurrent_requests_go_out_as_one_batch(keys, server, tmp_path, spec, create_path):
    responses, backend = complete_items(spec, tmp_path, 5)
    assert [r.text for r in responses] == [f"echo: item {i}" for i in range(5)]
    creates = [r for r in server.requests if r.method == "POST" and r.path == create_path]
    assert len(creates) == 1
    assert not server.requests_to("/chat/completions") and not [r for r in server.requests if r.path == "/v1/messages"]
    assert usage_of(backend).requests == 5
    assert json.loads((tmp_path / f"batches-{spec.split(':')[0]}.json").read_text()) == {}  # nothing pending


def test_batch_price_is_half(keys, server, tmp_path):
    server.handler = lambda req: openai_chat("x", prompt_tokens=1_000_000, completion_tokens=1_000_000)

    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", cache_dir=tmp_path, **BATCH)
        await backend.complete(ask("q"))
        await backend.aclose()
        return usage_of(backend).cost_usd

    assert run(scenario()) == pytest.approx((0.40 + 1.60) / 2)


def test_batch_size_splits_the_queue(keys, server, tmp_path):
    async def scenario():
        backend = build_backend("anthropic:claude-haiku-4-5", cache_dir=tmp_path, batch_size=2, **BATCH)
        await asyncio.gather(*(backend.complete(ask(f"{i}")) for i in range(5)))
        await backend.aclose()

    run(scenario())
    assert len([r for r in server.requests if r.method == "POST" and r.path == "/v1/messages/batches"]) == 3


def test_polling_resumes_after_a_restart(keys, server, tmp_path):
    server.batch_polls_until_done = 3  # the batch is still running when the first process stops

    async def first_run():
        backend = build_backend("anthropic:claude-haiku-4-5", cache_dir=tmp_path, batch=True, batch_flush_s=0.01,
                                batch_poll_s=30)
        task = asyncio.ensure_future(backend.complete(ask("long job")))
        while not server.requests_to("/v1/messages/batches"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        await backend.aclose()  # stop polling: the caller gets a clear error, the batch id stays on disk
        with pytest.raises(BackendError, match="rerun to resume"):
            await task

    run(first_run())
    state = json.loads((tmp_path / "batches-anthropic.json").read_text())
    assert len(state) == 1

    async def second_run():
        backend = build_backend("anthropic:claude-haiku-4-5", cache_dir=tmp_path, **BATCH)
        response = await backend.complete(ask("long job"))
        await backend.aclose()
        return response

    response = run(second_run())
    assert response.text == "echo: long job"
    creates = [r for r in server.requests if r.method == "POST" and r.path == "/v1/messages/batches"]
    assert len(creates) == 1  # resumed the same batch, never paid twice
    assert json.loads((tmp_path / "batches-anthropic.json").read_text()) == {}


def test_batch_needs_a_capable_backend_and_a_cache_dir(keys, server, tmp_path):
    with pytest.raises(ConfigError, match="has no batch API"):
        build_backend(f"openai-compatible:m@{server.openai_base_url}", batch=True, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="needs cache_dir"):
        build_backend("openai:gpt-4.1-mini", batch=True)


@pytest.mark.parametrize("spec", ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])
def test_a_failed_item_fails_only_its_own_call(keys, server, tmp_path, spec):
    from tests.support.api_server import error, fake_llm

    server.handler = lambda req: error(400, "prompt too long") if b"poison" in req.body else fake_llm(req)

    async def scenario():
        backend = build_backend(spec, cache_dir=tmp_path, **BATCH)
        results = await asyncio.gather(backend.complete(ask("fine")), backend.complete(ask("poison")),
                                       return_exceptions=True)
        await backend.aclose()
        return results

    ok, failed = run(scenario())
    assert ok.text == "echo: fine"
    assert isinstance(failed, BackendError) and "prompt too long" in str(failed)


def _creates(server, spec):
    path = "/v1/batches" if spec.startswith("openai") else "/v1/messages/batches"
    return [r for r in server.requests if r.method == "POST" and r.path == path]


def _batch_items(server, request) -> list[str]:
    """The user texts inside one batch-create request (OpenAI: from the uploaded JSONL file)."""
    if request.path == "/v1/messages/batches":
        return [item["params"]["messages"][-1]["content"] for item in request.json["requests"]]
    data = server._files[request.json["input_file_id"]].decode()
    return [json.loads(line)["body"]["messages"][-1]["content"] for line in data.splitlines() if line.strip()]


SPECS = ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"]


@pytest.mark.parametrize("spec", SPECS)
def test_transient_item_errors_go_into_a_later_batch_in_the_same_invocation(keys, server, tmp_path, spec):
    from tests.support.api_server import error, fake_llm, overloaded

    seen: set[bytes] = set()

    def flaky(req):  # items 1 and 3 fail (overloaded / 500) the first time they are processed
        text = req.body
        if (b"item 1" in text or b"item 3" in text) and text not in seen:
            seen.add(text)
            return overloaded() if b"item 1" in text else error(500, "internal")
        return fake_llm(req)

    server.handler = flaky

    responses, _ = complete_items(spec, tmp_path, 5)
    assert [r.text for r in responses] == [f"echo: item {i}" for i in range(5)]
    creates = _creates(server, spec)
    assert len(creates) == 2
    assert sorted(_batch_items(server, creates[1])) == ["item 1", "item 3"]  # only the failed ones, once more


@pytest.mark.parametrize("spec", SPECS)
def test_expired_batch_items_are_resubmitted(keys, server, tmp_path, spec):
    server.expire_batches = 1  # the first batch expires with half its items unprocessed

    responses, _ = complete_items(spec, tmp_path, 6)
    assert [r.text for r in responses] == [f"echo: item {i}" for i in range(6)]
    creates = _creates(server, spec)
    assert len(creates) == 2 and len(_batch_items(server, creates[1])) == 3


def test_openai_batch_goes_through_the_files_api(keys, server, tmp_path):
    """Upload JSONL, create, poll, download the output AND the error file (failed items live there)."""
    from tests.support.api_server import error, fake_llm

    server.handler = lambda req: error(400, "bad item") if b"poison" in req.body else fake_llm(req)

    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", cache_dir=tmp_path, **BATCH)
        results = await asyncio.gather(backend.complete(ask("fine")), backend.complete(ask("poison")),
                                       return_exceptions=True)
        await backend.aclose()
        return results

    ok, failed = run(scenario())
    assert ok.text == "echo: fine" and isinstance(failed, BackendError) and "bad item" in str(failed)
    uploads = [r for r in server.requests if r.method == "POST" and r.path == "/v1/files"]
    assert len(uploads) == 1 and b'name="purpose"' in uploads[0].body and b'"custom_id"' in uploads[0].body
    create = _creates(server, "openai")[0].json
    assert create["endpoint"] == "/v1/chat/completions" and create["completion_window"] == "24h"
    downloads = [r.path for r in server.requests if r.method == "GET" and r.path.endswith("/content")]
    batch = [r for r in server.requests if r.method == "GET" and r.path.startswith("/v1/batches/")]
    assert batch and len(downloads) == 2  # output file and error file
    assert len(_creates(server, "openai")) == 1  # a request error (400) is not sent again


def test_out_of_attempts_item_fails_with_a_count(keys, server, tmp_path):
    from tests.support.api_server import error, fake_llm

    server.handler = lambda req: error(503, "busy") if b"always" in req.body else fake_llm(req)

    async def scenario():
        backend = build_backend("anthropic:claude-haiku-4-5", cache_dir=tmp_path, max_retries=2, **BATCH)
        results = await asyncio.gather(backend.complete(ask("ok")), backend.complete(ask("always")),
                                       return_exceptions=True)
        await backend.aclose()
        return results

    ok, failed = run(scenario())
    assert ok.text == "echo: ok"
    assert isinstance(failed, BackendError) and str(failed).endswith("(gave up after 3 batches)")
    assert len(_creates(server, "anthropic")) == 3


def test_requests_trickling_in_are_collected_into_one_batch(keys, server, tmp_path):
    """Units reach the stage at slightly different moments (and max_concurrency is small): one batch, not
    one per concurrency slot or per timer tick."""

    async def scenario():
        backend = build_backend("anthropic:claude-haiku-4-5", cache_dir=tmp_path, batch=True, batch_flush_s=0.15,
                                batch_poll_s=0.01, max_concurrency=2)

        async def one(i):
            await asyncio.sleep(0.03 * i)  # 12 requests over 0.33 s, never 0.15 s apart
            return await backend.complete(ask(f"unit {i}"))

        responses = await asyncio.gather(*(one(i) for i in range(12)))
        await backend.aclose()
        return responses

    assert len(run(scenario())) == 12
    creates = _creates(server, "anthropic")
    assert len(creates) == 1 and len(_batch_items(server, creates[0])) == 12


def test_batch_mode_lets_every_unit_reach_the_collector():
    """The pipeline's unit limit: max_concurrency live requests, but batch_size units in batch mode."""
    from autointerp.backends import BackendOptions

    assert BackendOptions(max_concurrency=2).units_in_flight == 2
    assert BackendOptions(max_concurrency=2, batch=True, batch_size=500).units_in_flight == 500


def test_answers_are_in_the_cache_before_a_batch_leaves_the_state_file(keys, server, tmp_path, monkeypatch):
    """A kill right after a batch is forgotten must not lose its paid answers: they are committed first."""
    import sqlite3

    from autointerp.backends.batch import BatchState
    from autointerp.backends.cache import DB_NAME

    rows_at_removal: list[int] = []
    original = BatchState.remove

    def remove(self, batch_id):
        with sqlite3.connect(tmp_path / DB_NAME) as conn:  # what another process would see now
            rows_at_removal.append(conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        original(self, batch_id)

    monkeypatch.setattr(BatchState, "remove", remove)

    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", cache_dir=tmp_path, **BATCH)
        await asyncio.gather(*(backend.complete(ask(f"item {i}")) for i in range(4)))
        await backend.aclose()

    run(scenario())
    assert rows_at_removal == [4]
