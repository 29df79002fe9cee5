"""Sampling throughput: the streaming sampler's overhead over the bare forward pass + SAE encode.

smollm2-135m, site layers.3.resid_post, a random 16,384-feature TopK SAE (k=32),
Brown corpus. Prints tokens/s of (a) forward-to-hook + SAE encode (the dense
``[B, T, d_sae]`` codes, padding masked, on the host) and (b) the full sampling
pass as ``autointerp sample``/``run`` do it (the TopK codes reach the sampler as
their non-zeros; sampler update for every unit + finalize), the forward time
to layer 3 vs the full 30-layer forward (early stop), peak RSS, and last
``sampling_overhead_ratio``: the median over repeats of time(b) / time(a), each (b) run right after its (a)
(target <= 1.2). Both run with glibc's trim threshold raised, as the CLI runs
(:mod:`autointerp.activations.allocator`).

    python benchmarks/sampling.py [--tokens 100000] [--d-sae 16384] [--k 32]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from autointerp.activations.allocator import keep_freed_memory
from autointerp.activations.corpus import load_corpus, token_windows
from autointerp.activations.model_source import ModelActivationSource
from autointerp.activations.models import load_subject
from autointerp.activations.sae import make_sae
from autointerp.activations.sites import HookSite, capture
from autointerp.sampling import SamplerConfig, finalize, run_pass


def random_topk_sae(d_in: int, d_sae: int, k: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    W_enc = torch.randn(d_in, d_sae, generator=gen) / d_in**0.5
    return make_sae("topk", W_enc, torch.zeros(d_sae), W_enc.T.contiguous(), torch.zeros(d_in), k=k,
                    source="random TopK SAE")


def forward_times(subject, site: HookSite, windows, batch_size: int, n_batches: int) -> tuple[float, float]:
    """Seconds for n_batches forwards stopped at the site vs the full model."""
    chunks = [windows[i * batch_size:(i + 1) * batch_size] for i in range(n_batches)]
    inputs = []
    for chunk in chunks:
        T = max(len(w.token_ids) for w in chunk)
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        attn = torch.zeros(len(chunk), T, dtype=torch.long)
        for i, w in enumerate(chunk):
            ids[i, : len(w.token_ids)] = torch.tensor(w.token_ids)
            attn[i, : len(w.token_ids)] = 1
        inputs.append((ids, attn))
    early, full = [], []
    with torch.inference_mode():
        for ids, attn in inputs * 2:  # alternate the two so a change of machine load hits both alike
            start = time.perf_counter()
            capture(subject, [site], ids, attn)
            early.append(time.perf_counter() - start)
            start = time.perf_counter()
            subject.base(input_ids=ids, attention_mask=attn, use_cache=False)
            full.append(time.perf_counter() - start)
    return float(np.median(early)), float(np.median(full))


class TimedSource:
    """Wraps an ActivationSource and adds up the wall and CPU time spent producing batches."""

    def __init__(self, source):
        self.source, self.n_units, self.wall, self.cpu = source, source.n_units, 0.0, 0.0

    def batches(self, windows, batch_size):
        it = iter(self.source.batches(windows, batch_size))
        while True:
            wall, cpu = time.perf_counter(), time.process_time()
            batch = next(it, None)
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            if batch is None:
                return
            yield batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000, help="Tokens of the Brown corpus to stream.")
    parser.add_argument("--d-sae", type=int, default=16_384, help="SAE width (units sampled: all of them).")
    parser.add_argument("--k", type=int, default=32, help="TopK k.")
    parser.add_argument("--window", type=int, default=64, help="Tokens per window.")
    parser.add_argument("--batch-size", type=int, default=16, help="Windows per batch.")
    parser.add_argument("--site", default="layers.3.resid_post", help="Hook site.")
    parser.add_argument("--repeats", type=int, default=3,
                        help="Alternating runs of (a) and (b); the headline is the median of their paired ratios.")
    parser.add_argument("--bins", choices=("width", "quantile"), default="width", help="Sampler level bins.")
    args = parser.parse_args()
    allocator = keep_freed_memory()  # as the CLI does; (a) and (b) both run under it

    subject = load_subject("smollm2-135m")
    site = HookSite.parse(args.site)
    sae = random_topk_sae(site.width(subject), args.d_sae, args.k, seed=0)
    docs = load_corpus("brown")
    windows = list(token_windows(docs, subject.tokenizer, args.window, args.tokens))
    n_tokens = sum(len(w.token_ids) for w in windows)
    source = ModelActivationSource(subject, site, sae)  # (a): dense [B, T, d_sae] codes, as the SAE's encode gives
    sampled = ModelActivationSource(subject, site, sae, sparse=True)  # (b): as `autointerp sample`/`run` read them
    config = SamplerConfig(batch_size=args.batch_size, bins=args.bins)
    print(f"model smollm2-135m, site {site}, TopK SAE d_sae={args.d_sae} k={args.k}, {n_tokens} tokens in "
          f"{len(windows)} windows of <= {args.window}, batch {args.batch_size} windows, {args.bins} bins, "
          f"{torch.get_num_threads()} threads, glibc trim threshold raised: {allocator}")

    n_fw = min(4, len(windows) // args.batch_size) or 1
    early, full = forward_times(subject, site, windows, args.batch_size, n_fw)
    print(f"forward to {site}: {early * 1e3:.0f} ms/batch; full {subject.n_layers}-layer forward: "
          f"{full * 1e3:.0f} ms/batch (early stop saves {100 * (1 - early / full):.0f}%)")

    for _ in source.batches(windows[: args.batch_size], args.batch_size):  # warm-up
        pass
    bare_runs, full_runs = [], []
    for rep in range(args.repeats):  # (a) and (b) alternate; the best of each is compared
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in source.batches(windows, args.batch_size):
            pass
        bare_runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        print(f"(a) run {rep + 1}: forward-to-hook + SAE encode {bare_runs[-1][0]:.1f} s "
              f"({bare_runs[-1][1]:.1f} s CPU), {n_tokens / bare_runs[-1][0]:,.0f} tokens/s")

        timed = TimedSource(sampled)
        wall, cpu = time.perf_counter(), time.process_time()
        state = run_pass(timed, windows, config, progress=False)
        streamed = time.perf_counter() - wall
        samples = finalize(state, basis="sae:random", unit_ids=range(args.d_sae))
        full_runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        full_pass, full_cpu = full_runs[-1]
        update_cpu = full_cpu - timed.cpu  # sampler update + finalize
        print(f"(b) run {rep + 1}: full sampling pass {full_pass:.1f} s ({full_cpu:.1f} s CPU; {streamed:.1f} s "
              f"streaming + {full_pass - streamed:.1f} s finalize), {n_tokens / full_pass:,.0f} tokens/s; inside it "
              f"forward+encode {timed.wall:.1f} s, sampler update + finalize {full_pass - timed.wall:.1f} s "
              f"({update_cpu:.1f} s CPU)")
        if rep + 1 < args.repeats:
            del state, samples  # peak RSS then reflects one pass
    bare, bare_cpu = min(bare_runs)
    full_pass, full_cpu = min(full_runs)
    n_batches = -(-len(windows) // args.batch_size)
    print(f"best (a): {n_tokens / bare:,.0f} tokens/s; best (b): {n_tokens / full_pass:,.0f} tokens/s; "
          f"sampler update + finalize of the last (b): {update_cpu / n_batches * 1e3:.0f} ms CPU per "
          f"{args.batch_size}-window batch over {args.d_sae} units")
    print(f"sampler state: {state.nbytes() / 2**20:.0f} MiB fixed-size tensors, "
          f"{len(state.windows)} windows of tokens; "
          f"sample set: {len(samples.entries['unit'])} contexts")
    dead = int((samples.stats["n_active_tokens"] == 0).sum())
    print(f"units: {args.d_sae}, dead {dead}, median active windows "
          f"{int(np.median(samples.stats['n_active_windows'].numpy()))}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    print(f"CPU-time ratio (b)/(a): {full_cpu / bare_cpu:.3f}")
    paired = [b[0] / a[0] for a, b in zip(bare_runs, full_runs, strict=True)]
    print(f"best (b) / best (a): {full_pass / bare:.3f}; paired (b)/(a) per repeat: "
          f"{', '.join(f'{r:.3f}' for r in paired)}")
    # the headline is the median of the paired ratios: (a) and (b) of one repeat run back to back, so a machine
    # whose speed drifts between repeats (shared cores) moves both alike
    print(f"sampling_overhead_ratio: {float(np.median(paired)):.3f}")


if __name__ == "__main__":
    main()
