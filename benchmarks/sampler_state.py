"""The sampler alone (no model): CPU time of SamplerState.update and finalize on synthetic TopK-like activations.

Every token fires k random units of U with exponential values, so the figures isolate the sampler from the
forward pass and stay comparable across machines and commits. Prints, per bins mode, CPU ms per batch for the
update, CPU seconds for finalize and the state's fixed-size memory.

    python benchmarks/sampler_state.py [--units 16384] [--k 32] [--windows 474] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from autointerp.activations.source import ActivationBatch, TokenWindow
from autointerp.sampling import SamplerConfig, SamplerState, finalize


def synthetic_batches(n_units: int, k: int, n_windows: int, window: int, batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    windows = [TokenWindow(index=i, doc_id="d", token_ids=tuple(range(window))) for i in range(n_windows)]
    out = []
    for start in range(0, n_windows, batch):
        ws = windows[start: start + batch]
        idx = torch.from_numpy(rng.integers(0, n_units, (len(ws), window, k)))
        val = torch.from_numpy(rng.exponential(1.0, (len(ws), window, k)).astype(np.float32)) * (1 + idx % 7)
        acts = torch.zeros(len(ws), window, n_units).scatter_(2, idx, val)
        mask = torch.ones(len(ws), window, dtype=torch.bool)
        out.append((ActivationBatch(np.array([w.index for w in ws]), acts, mask), ws))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=16_384)
    parser.add_argument("--k", type=int, default=32, help="Units firing per token.")
    parser.add_argument("--windows", type=int, default=474)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="Best of this many runs per mode.")
    args = parser.parse_args()
    data = synthetic_batches(args.units, args.k, args.windows, args.window, args.batch_size)
    print(f"{args.units} units, k={args.k}, {args.windows} windows of {args.window}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")
    for bins in ("width", "quantile"):
        best_u = best_f = float("inf")
        for _ in range(args.repeats):
            state = SamplerState(SamplerConfig(batch_size=args.batch_size, bins=bins), args.units)
            cpu = time.process_time()
            for batch, ws in data:
                state.update(batch, ws)
            best_u = min(best_u, time.process_time() - cpu)
            cpu = time.process_time()
            finalize(state, basis="sae:synthetic", unit_ids=range(args.units))
            best_f = min(best_f, time.process_time() - cpu)
        print(f"bins={bins}: update {best_u / len(data) * 1e3:.0f} ms CPU per batch, finalize {best_f:.2f} s CPU, "
              f"state {state.nbytes() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
