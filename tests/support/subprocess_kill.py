"""Kill an ``autointerp run`` subprocess while a request is in flight (the resume tests' harness)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.api_server import RecordedRequest

REPO = Path(__file__).resolve().parents[2]


def run_killed_midway(server, handler, config: Path, cwd: Path, kill_at: int, timeout: float) -> list[str]:
    """Run ``autointerp run --config config`` in a subprocess against ``server``; once ``kill_at`` requests are
    answered, hold the next reply and SIGKILL the process while that request is in flight. Returns the bodies of
    the answered requests (the server's handler is left as the gate; the caller resets it)."""
    answered: list[str] = []
    gate, release = threading.Event(), threading.Event()

    def gated(request: RecordedRequest):
        reply = handler(request)
        if len(answered) >= kill_at:
            gate.set()
            release.wait(30)  # hold the reply: this request is in flight when the process dies
            return reply
        answered.append(request.body.decode())
        return reply

    server.handler = gated
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "autointerp", "run", "--config", str(config), "--no-progress"],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert gate.wait(timeout), "the subprocess never reached the kill point"
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    return answered
