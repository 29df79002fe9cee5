"""compare-dicts throughput and peak memory: two random SAELens checkpoints of N units at d_in = 576.

Runs the command's own path (load both checkpoints, decoder + encoder sweeps both ways,
write every output file) in a fresh child process, so the peak resident set size printed
is that of the comparison alone. Default: 16384 x 16384 units, chunk 4096.
Last line: ``compare_dicts_units_per_s: X`` (units of A per second, both sweeps included).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _write_checkpoint(folder: Path, n: int, d: int, seed: int) -> None:
    import torch

    from autointerp.activations.sae import make_sae
    from autointerp.activations.sae_formats import save_saelens

    g = torch.Generator().manual_seed(seed)
    w_dec = torch.randn(n, d, generator=g)
    sae = make_sae("topk", w_dec.T.contiguous(), torch.zeros(n), w_dec, torch.zeros(d), k=32)
    save_saelens(sae, folder)


def _child(a: str, b: str, out: str, chunk: int) -> None:
    """The measured part; prints one JSON line."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import torch

    from autointerp.dictionaries.compare import compare_directions
    from autointerp.dictionaries.compare_files import write_comparison
    from autointerp.dictionaries.spec import load_directions

    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    comp = compare_directions(load_directions(a), load_directions(b), chunk=chunk)
    t_sweep = time.perf_counter() - t0
    write_comparison(comp, out, t_sweep)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "sweep_seconds": t_sweep, "n_a": comp.n_a, "n_b": comp.n_b,
                      "threads": torch.get_num_threads(), "rss_start_mb": rss0 / 1024,
                      "rss_after_import_mb": rss_import / 1024, "peak_rss_mb": peak / 1024}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=16384, help="Units in each dictionary.")
    parser.add_argument("--d-in", type=int, default=576)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--child", nargs=3, metavar=("A", "B", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.chunk)
        return
    with tempfile.TemporaryDirectory() as tmp:
        a, b, out = Path(tmp) / "a", Path(tmp) / "b", Path(tmp) / "out"
        _write_checkpoint(a, args.units, args.d_in, 1)
        _write_checkpoint(b, args.units, args.d_in, 2)
        cmd = [sys.executable, __file__, "--chunk", str(args.chunk), "--child", str(a), str(b), str(out)]
        res = json.loads(
            subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )
    weights_mb = 2 * 2 * args.units * args.d_in * 4 / 2**20
    print(f"compare-dicts {res['n_a']} x {res['n_b']} units at d_in={args.d_in}, chunk {args.chunk}, "
          f"{res['threads']} torch threads")  # fmt: skip
    print(f"time: {res['seconds']:.1f} s (sweeps {res['sweep_seconds']:.1f} s, rest is writing files)")
    print(f"peak RSS: {res['peak_rss_mb']:.0f} MB (after imports {res['rss_after_import_mb']:.0f} MB; "
          f"direction matrices {weights_mb:.0f} MB; one block {args.chunk**2 * 4 / 2**20:.0f} MB)")  # fmt: skip
    print(f"compare_dicts_units_per_s: {res['n_a'] / res['seconds']:.1f}")


if __name__ == "__main__":
    main()
