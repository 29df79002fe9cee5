"""Sharded sampling on CPU: one process x 2 threads vs torchrun 2 processes x 1 thread, same corpus.

smollm2-135m, neurons at layers.3.mlp (1536 units), Brown corpus, ``--tokens`` tokens. Both runs are the real
``autointerp sample`` command (model load included in neither figure: tokens/s is read from the sampling pass
each process reports). Prints both tokens/s, rank 0's merge time, whether the merged sample set is identical to
the single process's (contexts, counts and levels exactly; float statistics to 1e-9), and last
``sharding_efficiency: X`` = 2-process tokens/s / 1-process tokens/s (near 1.0 on 2 cores: distribution costs
nothing; the machine must otherwise be idle for the figure to mean anything).

    python benchmarks/sharding.py [--tokens 20000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autointerp.sampling.sampleset import saved_differences


def sample_cmd(out: Path, tokens: int) -> list[str]:
    return ["-m", "autointerp", "sample", "--model", "smollm2-135m", "--site", "layers.3.mlp", "--neurons",
            "--corpus", "brown", "--max-tokens", str(tokens), "--window", "64", "--out", str(out), "--no-progress"]


def run(argv: list[str], threads: int) -> tuple[float, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"benchmark command failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def sampled_seconds(output: str) -> float:
    m = re.search(r"in ([\d.]+) s; dead", output)
    if not m:
        sys.exit(f"no sampling time in the output:\n{output[-2000:]}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, two = Path(tmp) / "one", Path(tmp) / "two"
        _, out1 = run(sample_cmd(one, args.tokens), threads=2)
        wall2, out2 = run(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           *sample_cmd(two, args.tokens)], threads=1)
        t1, t2 = sampled_seconds(out1), sampled_seconds(out2)
        merge = re.search(r"merged 2 ranks in ([\d.]+) s", out2)
        same = not saved_differences(one, two)
    tps1, tps2 = args.tokens / t1, args.tokens / t2
    print(f"tokens: {args.tokens:,} of brown; smollm2-135m layers.3.mlp neurons (1536 units); {os.cpu_count()} CPUs")
    print(f"1 process x 2 threads:   {tps1:,.0f} tok/s (sampling pass {t1:.1f} s)")
    print(f"2 processes x 1 thread:  {tps2:,.0f} tok/s (sampling pass {t2:.1f} s, rank 0's shard; whole job "
          f"{wall2:.1f} s wall with model loads)")
    print(f"merge on rank 0: {float(merge.group(1)) if merge else float('nan'):.2f} s")
    print(f"shard_merge_identical: {'true' if same else 'false'}")
    print(f"sharding_efficiency: {tps2 / tps1:.3f}")


if __name__ == "__main__":
    main()
