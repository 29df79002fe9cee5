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


@pytest.mark.parametrize(("spec", "create_path"), [("openai:gpt-4.1-mini", "/v1/batches"),
                                                   ("anthropic:claude-haiku-4-5", "/v1/messages/batches")])
def test_concurrent_requests_go_out_as_one_batch(keys, server, tmp_path, spec, create_path):
    async def scenario():
        backend = build_backend(spec, cache_dir=tmp_path, **BATCH)
        responses = await asyncio.gather(*(backend.complete(ask(f"item {i}")) for i in range(5)))
        await backend.aclose()
        return responses, backend

    responses, backend = run(scenario())
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
