"""Issue 19, defect 4: a backend that cannot be connected to stops the run at once (exit 3, one line).

Before sampling, a TCP connect to every backend on this machine or the local network (the preflight of ``run``
and ``--check``); at run time, a refused connection on the first request of a backend is not retried and halts
the run, while a refused connection after the server has answered is an ordinary transient failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
import yaml

from autointerp.backends import build_backend
from autointerp.backends.faults import Unreachable
from autointerp.cli import main
from autointerp.errors import BackendError, RunHalted
from autointerp.runs.guard import RunGuard
from autointerp.runs.preflight import local_address
from autointerp.runs.spend import Ledger
from tests.conftest import TINY_WORDS
from tests.support.api_server import ApiServer, Reply, fake_llm
from tests.unit.backends.helpers import ask


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_first_request_to_an_unreachable_server_halts_without_retries(tmp_path, caplog):
    url = f"http://127.0.0.1:{closed_port()}/v1"

    async def scenario():
        backend = build_backend(f"openai-compatible:m@{url}", max_retries=6, retry_wait=30, max_concurrency=4)
        guard = RunGuard(Ledger(tmp_path), max_cost=None)
        stage = guard.wrap("explain", backend)
        try:
            return await asyncio.gather(*(stage.complete(ask(f"q{i}")) for i in range(4)), return_exceptions=True)
        finally:
            await backend.aclose()

    with caplog.at_level(logging.INFO, logger="autointerp.backends.retry"):
        results = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert all(isinstance(r, RunHalted) for r in results), results
    msg = str(results[0])
    assert "cannot connect to openai-compatible:m@" in msg and "server is running" in msg and "\n" not in msg
    assert not [r for r in caplog.records if r.getMessage().startswith("retry")]  # stopped at once, no backoff


def test_a_refused_connection_after_answers_is_retried_not_a_halt(tmp_path):
    async def scenario():
        def closing(request):  # no keep-alive connection survives the server
            reply = fake_llm(request)
            return Reply(status=reply.status, body=reply.body, headers={**reply.headers, "connection": "close"})

        with ApiServer(handler=closing) as server:
            backend = build_backend(f"openai-compatible:m@{server.openai_base_url}", max_retries=1, retry_wait=0.01)
            stage = RunGuard(Ledger(tmp_path), max_cost=None).wrap("explain", backend)
            await stage.complete(ask("first"))
        try:  # the server is gone now
            with pytest.raises(BackendError, match="gave up after 2 attempts") as info:
                await stage.complete(ask("second"))
            assert not isinstance(info.value, (RunHalted, Unreachable))
        finally:
            await backend.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("url, local", [("http://127.0.0.1:8000/v1", True), ("http://localhost/v1", True),
                                        ("http://10.1.2.3:80/v1", True), ("http://[::1]:9/v1", True),
                                        ("https://api.openai.com/v1", False), ("http://8.8.8.8/v1", False),
                                        ("http://my-gpu-box:8000/v1", False)])
def test_local_addresses(url, local):
    assert (local_address(url) is not None) == local


@pytest.fixture
def config(tmp_path, tiny_llama_dir):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": " ".join(TINY_WORDS * 3)}) for _ in range(3)))
    spec = f"openai-compatible:m@http://127.0.0.1:{closed_port()}/v1"
    cfg = {"results_dir": str(tmp_path / "results"), "model": str(tiny_llama_dir), "corpus": str(corpus),
           "max_tokens": 200, "window": 16, "sae": None, "neuron_site": "layers.1.mlp", "neurons": 2,
           "backends": {"explain": spec, "rubric": spec, "simulate": spec}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("flags", [[], ["--check"], ["--dry-run", "--check"]])
def test_run_with_an_unreachable_local_server_stops_before_sampling(tmp_path, capsys, config, flags):
    code = main(["run", "--config", str(config), "--no-progress", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 3, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "field 'backends.explain': cannot connect to http://127.0.0.1:" in err and "server is running" in err
    assert not (tmp_path / "results" / "run" / "units.jsonl").exists()  # nothing sampled


def test_a_plain_dry_run_sends_nothing_and_needs_no_server(tmp_path, capsys, config):
    assert main(["run", "--config", str(config), "--no-progress", "--dry-run"]) == 0, capsys.readouterr().err
