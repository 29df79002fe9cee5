"""Activation throughput on smollm2-135m over the Brown corpus, and the gain of the early stop.

Prints tokens/s for features (a random TopK SAE at layers.6.resid_post) + neurons (layers.6.mlp) from one
forward pass that stops at block 6, versus a full 30-block forward pass. Last line: ``name: value``.
"""

from __future__ import annotations

import argparse
import time

import torch

from autointerp.activations.corpus import load_corpus, token_windows
from autointerp.activations.model_source import Basis, MultiSource, special_tokens
from autointerp.activations.models import load_subject
from autointerp.activations.sae import IdentityDict, make_sae
from autointerp.activations.sites import HookSite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    subject = load_subject("smollm2-135m")
    windows = list(token_windows(load_corpus("brown"), subject.tokenizer, args.window, args.tokens))
    n_tokens = sum(len(w.token_ids) for w in windows)
    g = torch.Generator().manual_seed(0)
    sae = make_sae("topk", torch.randn(576, 4608, generator=g) / 24, torch.zeros(4608), None, torch.zeros(576), k=32)
    multi = MultiSource(subject, [Basis(HookSite(6, "resid_post"), sae), Basis(HookSite(6, "mlp"), IdentityDict(1536))])

    t0 = time.perf_counter()
    for _ in multi.batches(windows, args.batch_size):
        pass
    early = n_tokens / (time.perf_counter() - t0)

    pre, post = special_tokens(subject.tokenizer)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(windows), args.batch_size):
            chunk = windows[i : i + args.batch_size]
            T = max(len(w.token_ids) for w in chunk)
            ids = torch.tensor([[*pre, *w.token_ids, *post] + [0] * (T - len(w.token_ids)) for w in chunk])
            subject.base(input_ids=ids, use_cache=False)
    full = n_tokens / (time.perf_counter() - t0)

    print(
        f"tokens: {n_tokens} in {len(windows)} windows of <= {args.window}, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"features+neurons at layer 6 (early stop): {early:,.0f} tokens/s")
    print(f"full 30-block forward (no SAE):           {full:,.0f} tokens/s")
    print(f"early-stop speed-up: {early / full:.1f}x")
    print(f"activations_tokens_per_s_smollm2_layer6: {early:.0f}")


if __name__ == "__main__":
    main()
