"""Shared fixtures: one loopback API server per session, reset before every test."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api_server import ApiServer, fake_llm

FAKE_KEY = "sk-test-DO-NOT-LEAK-7f3a9c1e"


@pytest.fixture(scope="session")
def _session_server():
    with ApiServer() as server:
        yield server


@pytest.fixture
def server(_session_server):
    """The shared server with an empty log and script, default handler, no latency or cap."""
    s = _session_server
    s.handler, s.latency, s.batch_polls_until_done, s.expire_batches = fake_llm, 0.0, 1, 0
    s.set_capacity(None)
    s.reset()
    yield s
    s.reset()


@pytest.fixture
def keys(monkeypatch, server):
    """Fake keys for both providers, and both SDKs pointed at the loopback server."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    return FAKE_KEY


def run(coro):
    """Run a coroutine on a fresh event loop (no pytest-asyncio needed)."""
    return asyncio.run(coro)
