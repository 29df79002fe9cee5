"""Issue 19, defect 5: after ``kill -9`` a resume pays again only for requests in flight at the kill: at most
``llm.max_concurrency`` per kill (docs/running.md, "Resuming").

A subprocess run against the loopback server (20 ms per answer, so every slot is busy) is killed with SIGKILL three
times at different points and resumed; every request body the server received is counted: bodies received twice are
the answers lost to a kill.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from autointerp.runs.store import RunStore
from tests.conftest import TINY_WORDS
from tests.support.api_server import ApiServer
from tests.support.judge_answers import handler

REPO = Path(__file__).resolve().parents[2]
MAX_CONCURRENCY = 4
N_NEURONS = 12


def _config(tmp_path: Path, tiny_llama_dir: Path, url: str) -> Path:
    corpus = tmp_path / "docs.jsonl"
    rng = random.Random(0)  # no two windows alike, so no two requests of a clean run are alike
    rows = [{"text": " ".join(rng.choice(TINY_WORDS) for _ in range(80))} for _ in range(8)]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    spec = f"openai-compatible:fake-model@{url}"
    cfg = {
        "results_dir": str(tmp_path / "results"), "model": str(tiny_llama_dir), "corpus": str(corpus),
        "max_tokens": 400, "window": 16, "sae": None, "neuron_site": "layers.1.mlp", "neurons": N_NEURONS,
        "explain": {"n_top": 3, "n_quantile": 2, "n_logit_tokens": 0},
        "rubric": {"per_level": 1, "n_random": 1, "contexts_per_prompt": 2},
        "simulate": {"method": "json-list", "n_top": 2, "n_random": 1, "contexts_per_prompt": 1},
        "backends": {"explain": spec, "rubric": spec, "simulate": spec},
        "llm": {"max_concurrency": MAX_CONCURRENCY, "max_retries": 0, "cache_dir": str(tmp_path / "cache")},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _start(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "autointerp", "run", "--config", str(config), "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_kill_costs_at_most_max_concurrency_requests(tmp_path, tiny_llama_dir):
    with ApiServer(handler=handler, latency=0.02) as server:
        config = _config(tmp_path, tiny_llama_dir, server.openai_base_url)
        starts = []  # index of each invocation's first request
        for more in (6, 15, 15):  # kill once this many more requests have reached the server
            starts.append(len(server.requests))
            proc = _start(config)
            deadline = time.time() + 300
            while len(server.requests) < starts[-1] + more and proc.poll() is None:
                assert time.time() < deadline, "the run never sent its requests"
                time.sleep(0.005)
            assert proc.poll() is None, "the run ended before the kill"
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
        starts.append(len(server.requests))
        proc = _start(config)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-800:]
        bodies = [r.body for r in server.requests]
        in_flight_peak = server.max_in_flight
    assert all(len(RunStore(tmp_path / "results" / "run").done(s)) == N_NEURONS for s in ("explain", "rubric"))
    # per kill: requests of the next invocation whose body an earlier invocation had already sent (two alike
    # requests of one invocation are not re-sends: a unit may show the same window twice)
    again = []
    for k in range(1, len(starts)):
        earlier = set(bodies[: starts[k]])
        end = starts[k + 1] if k + 1 < len(starts) else len(bodies)
        again.append(sum(b in earlier for b in bodies[starts[k]:end]))
    print(f"{len(bodies)} requests, {len(again)} kills: sent again after each kill {again} (bound {MAX_CONCURRENCY})")
    assert in_flight_peak <= MAX_CONCURRENCY
    assert max(again) <= MAX_CONCURRENCY
