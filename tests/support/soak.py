"""The soak harness (issue 19): many units x every LLM scorer against the loopback server with injected faults and
garbage, both APIs and both batch modes, killed with SIGKILL at random moments and resumed until it ends.

:func:`soak` runs one configuration and returns its :class:`SoakResult` (what the server answered and what the run
folder recorded); the tests assert on it. Sampling happens once per unit count (:func:`sampled_base`); every
configuration starts from a copy of that run folder, so only the judging is repeated.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autointerp.cli import main
from autointerp.runs.spend import spend_by_stage
from autointerp.runs.store import RunStore
from tests.support.api_server import (
    ApiServer,
    RecordedRequest,
    Reply,
    dropped,
    error,
    malformed,
    overloaded,
    rate_limited,
    server_error,
)
from tests.support.judge_answers import answer, openai_body
from tests.support.minilm_run import minilm_config, tiny_topk_sae

REPO = Path(__file__).resolve().parents[2]
GARBAGE = "%%% ☃☃☃ ~~~ ¿¿"  # no letters, digits or structure: no answer parser may accept it
STAGES = ("explain", "rubric", "simulate", "detection", "fuzzing", "embedding", "intruder", "saebench")
SPECS = {"openai": "openai:gpt-4.1-mini", "anthropic": "anthropic:claude-haiku-4-5"}
# "mixed": both APIs in one run (explainer and simulator on OpenAI, the rubric judge and every scorer on Anthropic)
BACKENDS = {api: {"explain": spec, "rubric": spec, "simulate": spec} for api, spec in SPECS.items()}
BACKENDS["mixed"] = {"explain": SPECS["openai"], "rubric": SPECS["anthropic"], "simulate": SPECS["openai"]}


class FaultyJudge:
    """Answers every scorer's prompt; a seeded ``fault_rate`` of requests get a fault, ``garbage_rate`` a 200 whose
    text no parser accepts. Counts the well-formed 200 answers the server delivered (what a provider bills)."""

    def __init__(self, seed: int, fault_rate: float = 0.2, garbage_rate: float = 0.05, batch: bool = False):
        self.rng = random.Random(seed)
        self.fault_rate, self.garbage_rate, self.batch = fault_rate, garbage_rate, batch
        self.lock = threading.Lock()
        self.answered = 0  # well-formed 200 answers delivered (live: once sent; batch: once in a batch's results)
        self.faults = 0
        self.garbage = 0

    def _fault(self) -> Reply:
        if self.batch:  # inside a batch an item can only succeed or fail with a status
            return self.rng.choice([rate_limited(0), overloaded(), server_error(500), server_error(503)])
        return self.rng.choice([rate_limited(0), overloaded(), server_error(500), dropped(), malformed(),
                                error(502, "bad gateway")])

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.json or {}
        anthropic = request.path.endswith("/messages")
        if "messages" not in body:
            return error(404, f"no route for {request.method} {request.path}")
        with self.lock:
            roll = self.rng.random()
            if roll < self.fault_rate:
                self.faults += 1
                return self._fault()
            text = GARBAGE if roll < self.fault_rate + self.garbage_rate else answer(openai_body(body, anthropic))
            self.garbage += text == GARBAGE
        from tests.support.api_server import _words, anthropic_message, openai_chat

        model = body.get("model", "fake")
        if anthropic:
            reply = anthropic_message(text, model=model, input_tokens=_words(body))
        else:
            reply = openai_chat(text, model=model, prompt_tokens=_words(body))
        if not request.headers:  # an item of a batch: billed when the batch ends (all items at creation here)
            with self.lock:
                self.answered += 1
        return reply

    def on_answer(self, request: RecordedRequest, reply: Reply) -> None:
        """Live requests: a well-formed 200 answer counts once it left the server."""
        if request.path.endswith(("/chat/completions", "/messages")) and reply.status == 200 \
                and isinstance(reply.body, dict) and not reply.drop:
            with self.lock:
                self.answered += 1


@dataclass
class SoakResult:
    name: str
    units: int
    exit_codes: list[int] = field(default_factory=list)
    kills: int = 0
    seconds: float = 0.0
    server_answered: int = 0
    server_requests: int = 0
    faults: int = 0
    garbage: int = 0
    ledger_requests: int = 0
    ledger_cost: float = 0.0
    records: dict[str, int] = field(default_factory=dict)  # stage -> units with a record
    ok: dict[str, int] = field(default_factory=dict)
    duplicated_ok: int = 0  # (stage, unit) pairs with more than one ok record for the final params
    garbage_stored: int = 0  # ok records containing the garbage text
    max_concurrency: int = 0
    batch_size: int = 0

    def line(self) -> str:
        return (f"{self.name}: {self.units} units, {self.kills} kills, exits {self.exit_codes}, {self.seconds:.0f} s; "
                f"server answered {self.server_answered} of {self.server_requests} requests ({self.faults} faults, "
                f"{self.garbage} garbage); ledger {self.ledger_requests} requests ${self.ledger_cost:.4f}; "
                f"ok per stage {self.ok}; duplicated {self.duplicated_ok}; garbage stored {self.garbage_stored}")


def sampled_base(root: Path, units: int) -> tuple[Path, Path]:
    """Sample once (a dry run): ``units`` split between SAE features and MLP neurons of minilm-l6. Returns the
    run folder holding the samples and the SAE folder."""
    base = root / "results" / f"base_{units}"
    sae = root / "sae"
    if not sae.exists():
        tiny_topk_sae(sae, d_sae=max(48, units))
    if not (base / "units.jsonl").exists():
        cfg = _config(root, f"base_{units}", sae, "openai", units, batch=False)
        env = {"OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "sk-soak")}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            assert main(["run", "--config", str(cfg), "--dry-run", "--no-progress"]) == 0
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return base, sae


def _config(root: Path, name: str, sae: Path, api: str, units: int, batch: bool) -> Path:
    llm = {"max_concurrency": 32, "max_retries": 5, "retry_wait": 0.001, "retry_max_wait": 0.01,
           "cache_dir": str(root / f"cache_{name}"), "timeout": 10}
    if batch:
        llm |= {"batch": True, "batch_size": 256, "batch_flush_s": 0.05, "batch_poll_s": 0.02}
    return minilm_config(
        root, name, sae, SPECS["openai"], features=units // 2, neurons=units - units // 2, llm=llm,
        backends=BACKENDS[api],
        max_tokens=max(2000, 12 * units), window=12,
        sampler={"top_k": 4, "per_bin": 1, "n_random": 6, "batch_size": 16},
        explain={"n_top": 3, "n_quantile": 2, "n_logit_tokens": 0},
        rubric={"per_level": 1, "n_random": 1, "contexts_per_prompt": 4},
        simulate={"method": "json-list", "n_top": 1, "n_random": 1, "contexts_per_prompt": 2},
        detection={"per_level": 1, "n_negatives": 2}, fuzzing={"per_level": 1},
        intruder={"n_activating": 2, "n_trials": 1},
    )


def soak(root: Path, api: str, batch: bool, units: int, kills: int, seed: int = 0) -> SoakResult:
    """One configuration: copy the sampled base, run, SIGKILL at ``kills`` random moments, resume to the end."""
    base, sae = sampled_base(root, units)
    name = f"{api}_{'batch' if batch else 'live'}_{units}"
    run_dir = root / "results" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(root / f"cache_{name}", ignore_errors=True)
    shutil.copytree(base, run_dir)
    for meta in ("config.yaml", "run.json"):
        (run_dir / meta).unlink(missing_ok=True)
    config = _config(root, name, sae, api, units, batch)
    judge = FaultyJudge(seed, batch=batch)
    rng = random.Random(seed + 1)
    result = SoakResult(name=name, units=units, max_concurrency=32 * (2 if api == "mixed" else 1),
                        batch_size=256 * (2 if api == "mixed" else 1) if batch else 0)  # per backend stack
    t0 = time.perf_counter()
    with ApiServer(handler=judge, record_bodies=False) as server:
        server.on_answer = judge.on_answer
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-soak", "ANTHROPIC_API_KEY": "sk-ant-soak",
               "OPENAI_BASE_URL": server.openai_base_url, "ANTHROPIC_BASE_URL": server.base_url}
        argv = [sys.executable, "-m", "autointerp", "run", "--config", str(config), "--no-progress", "--no-report"]
        expected = 15 * units  # about the HTTP requests one live configuration sends (for spreading the kills)
        for attempt in range(kills + 20):
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if result.kills < kills:
                start = len(server.requests)  # batch mode sends few HTTP requests: upload, create, polls, results
                left = max(10, expected - start) // (kills - result.kills + 1)  # spread the kills over what is left
                at = start + (rng.randint(2, 8) if batch else rng.randint(5, max(6, left)))
                while proc.poll() is None and len(server.requests) < at:
                    time.sleep(0.002)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    result.kills += 1
            _, err = proc.communicate(timeout=1800)
            result.exit_codes.append(proc.returncode)
            if proc.returncode in (0, 5):
                break
            if proc.returncode != -signal.SIGKILL:
                raise AssertionError(f"{name}: exit {proc.returncode}: {err.decode()[-1500:]}")
        result.server_requests = len(server.requests)
    result.seconds = time.perf_counter() - t0
    result.server_answered, result.faults, result.garbage = judge.answered, judge.faults, judge.garbage
    spend = spend_by_stage(run_dir)
    result.ledger_requests = sum(u.requests for u in spend.values())
    result.ledger_cost = sum(u.cost_usd for u in spend.values())
    _inspect(run_dir, result)
    return result


def _inspect(run_dir: Path, result: SoakResult) -> None:
    store = RunStore(run_dir)
    meta = json.loads((run_dir / "run.json").read_text())
    wanted, params = set(meta["units"]), meta["stage_params"]
    for stage in STAGES:
        lines = [ln for ln in store.lines(stage) if ln.get("params") == params[stage] and ln.get("unit") in wanted]
        result.records[stage] = len({ln["unit"] for ln in lines})
        oks = [ln["unit"] for ln in lines if ln.get("ok")]
        result.ok[stage] = len(set(oks))
        result.duplicated_ok += len(oks) - len(set(oks))
        result.garbage_stored += sum(1 for ln in lines if ln.get("ok") and GARBAGE in json.dumps(ln["record"],
                                                                                              ensure_ascii=False))
