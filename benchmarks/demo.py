"""`autointerp demo` warm, step by step: models, corpus and demo SAE cached, a fresh results folder (so every LLM
answer is computed, none comes from the response cache).

Runs the real command in a child process, reads its ``[step]`` lines (autointerp/runs/steps.py) and prints each step's
wall time, the child's CPU time and the machine's load before and after (the machine may be shared: read the wall
time with the load beside it). Last line: ``demo_wall_s: X``.

Usage: python benchmarks/demo.py [--keep DIR] [extra demo flags...]   (--keep: results folder to keep, else a
temporary one)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"


def main(argv: list[str]) -> int:
    from autointerp.runs.demo import demo_sae
    from autointerp.runs.steps import parse_steps

    keep = None
    if argv[:1] == ["--keep"]:
        keep, argv = argv[1], argv[2:]
        if Path(keep).exists():
            print(f"--keep {keep}: exists; give a fresh folder", file=sys.stderr)
            return 2
    demo_sae(progress=False)  # warm: trained once per machine, not part of the timing
    with tempfile.TemporaryDirectory(prefix="autointerp-demo-bench-") as tmp:
        cmd = [sys.executable, "-m", "autointerp", "demo", "--results-dir", keep or tmp, *argv]
        print(f"command: {' '.join(cmd[1:])}")
        print(f"load_before: {load()}")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        wall = time.perf_counter() - t0
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"load_after: {load()}")
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
            print(f"demo exited with {proc.returncode}", file=sys.stderr)
            return proc.returncode
        for name, seconds, cpu_s in parse_steps(proc.stderr):
            print(f"step {name}: {seconds:.1f} s wall, {cpu_s:.1f} s cpu")
        tail = [ln for ln in proc.stdout.splitlines() if ln.strip()][-12:]
        print("demo output (last lines):\n  " + "\n  ".join(tail))
        print(f"demo_cpu_s: {cpu.ru_utime + cpu.ru_stime:.1f}")
        print(f"demo_exit_code: {proc.returncode}")
    print(f"demo_wall_s: {wall:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
