"""No answered request is paid twice: a run killed with SIGKILL 5 ms after the server's last answer
re-sends none of the answered requests when it is run again (counted at the loopback server).

"5 ms after" is 5 ms of wall time and, on a loaded machine, also until the client process has been
idle (no CPU used) for 2 ms: a client that has not yet been scheduled to read an answer cannot have
stored it, by any design. The client is idle while it waits on a timer, so a write-behind delay
(the old 50 ms flush) still loses its answers here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.api_server import fake_llm
from tests.unit.backends.conftest import FAKE_KEY

ROOT = Path(__file__).resolve().parents[3]
SPEC = "openai:gpt-4.1-mini"
N, KILL_AFTER, KILL_DELAY = 90, 15, 0.005


def _content(request) -> str | None:
    """The asked text; None for a request cut off by the kill (its body never fully arrived)."""
    body = request.json
    return body["messages"][-1]["content"] if isinstance(body, dict) else None


def _driver(server, cache_dir) -> subprocess.Popen:
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": server.openai_base_url,
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.backend_driver", SPEC, str(cache_dir), str(N), "--concurrency", "8"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _threads(pid: int) -> tuple[int, bool]:
    """(CPU ns used so far by every thread of ``pid``, whether every thread is asleep), from Linux /proc."""
    cpu, asleep = 0, True
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu += int((task / "schedstat").read_text().split()[0])
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            continue
        asleep = asleep and state == "S"  # R = running or waiting for a CPU: not idle
    return cpu, asleep


def _wait_idle(pid: int, quiet: float = 0.002, limit: float = 5.0) -> None:
    """Return once every thread of ``pid`` slept and used no CPU for ``quiet`` seconds (or after ``limit``)."""
    end = time.perf_counter() + limit
    before = _threads(pid)
    while time.perf_counter() < end:
        time.sleep(quiet)
        now = _threads(pid)
        if now == before and now[1]:
            return
        before = now


def _run_and_kill(server, cache_dir) -> list[str]:
    """One driver run, SIGKILLed 5 ms after the last of its first KILL_AFTER+ answers; returns what was answered.

    After the KILL_AFTER-th answer the server holds every further reply, waits until 5 ms have passed since
    the last reply actually left, and kills the process: every answered request had exactly that long.
    """
    answered: list[str] = []
    lock = threading.Lock()
    hold, release, killed = threading.Event(), threading.Event(), threading.Event()
    last_answer = [0.0]
    proc = _driver(server, cache_dir)

    def killer() -> None:
        while True:
            with lock:
                wait = last_answer[0] + KILL_DELAY - time.perf_counter()
            if wait <= 0:
                break
            time.sleep(wait)
        _wait_idle(proc.pid)
        with lock:
            os.kill(proc.pid, signal.SIGKILL)
            killed.set()
        release.set()

    def handler(request):
        if hold.is_set():
            release.wait(10)
        return fake_llm(request)

    def on_answer(request, reply) -> None:
        if not request.path.endswith("/chat/completions") or _content(request) is None:
            return
        with lock:
            if killed.is_set():  # a held reply, released after the kill: nobody read it
                return
            answered.append(_content(request))
            last_answer[0] = time.perf_counter()
            if len(answered) == KILL_AFTER:
                hold.set()
                threading.Thread(target=killer, daemon=True).start()

    server.handler, server.on_answer = handler, on_answer
    try:
        assert killed.wait(120), "the driver never reached the kill point"
        proc.wait(30)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.on_answer = None
    assert proc.returncode == -signal.SIGKILL
    with lock:
        return list(answered)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to see the client idle")
def test_sigkill_within_5ms_of_answers_resends_none_of_them(server, tmp_path):
    server.latency = 0.010
    rounds: list[tuple[set[str], int]] = []  # (answered before the kill, requests received by then)
    for _ in range(3):  # three kills, each 5 ms after answers
        answered = _run_and_kill(server, tmp_path)
        assert len(answered) >= KILL_AFTER
        rounds.append((set(answered), len(server.requests_to("/chat/completions"))))

    server.handler = fake_llm
    proc = _driver(server, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert out.strip() == f"done {N}"

    received = [_content(r) for r in server.requests_to("/chat/completions")]
    resent = {c for answered, seen in rounds for c in received[seen:] if c in answered}
    assert not resent, f"{len(resent)} answered requests were sent again: {sorted(resent)[:5]}"
    assert set(received) - {None} == {f"item {i}" for i in range(N)}
