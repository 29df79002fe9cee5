"""The sampler's output is pinned: fixed seeded runs must give the same SampleSet bytes as the reference code.

Speed-ups of the update path must not change any kept context, level or statistic; these hashes were recorded
from the sampler before its update was optimised (commit 467e394) and catch any drift, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autointerp.activations.source import ActivationBatch, SparseActivations, TokenWindow
from autointerp.sampling import SamplerConfig, SamplerState
from tests.support.sample_digest import saved_digest


def batches(n_units: int, k: int, n_windows: int, window: int, batch: int, seed: int, signed: bool):
    """TopK-like activations (k of n_units fire per token, growing scale so grids coarsen), some padded windows."""
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_windows, batch):
        idx = np.arange(start, min(start + batch, n_windows)) * 3 + 5  # non-contiguous window indices
        lengths = np.where(idx % 5 == 0, window // 2, window)
        ws = [
            TokenWindow(index=int(i), doc_id=f"d{i // 7}", token_ids=tuple(rng.integers(0, 50, n).tolist()))
            for i, n in zip(idx, lengths, strict=True)
        ]
        units = torch.from_numpy(rng.integers(0, n_units, (len(ws), window, k)))
        val = rng.exponential(1.0, (len(ws), window, k)) * (1 + start / n_windows * 8)
        if signed:
            val *= rng.choice([-1.0, 1.0], val.shape)
        val = torch.from_numpy(val.astype(np.float32)) * (1 + units % 7)
        acts = torch.zeros(len(ws), window, n_units).scatter_(2, units, val)
        mask = torch.arange(window).unsqueeze(0) < torch.from_numpy(lengths).unsqueeze(1)
        acts[~mask] = 0
        out.append((ActivationBatch(idx.astype(np.int64), acts, mask), ws))
    return out


CASES = {
    # name: (config, n_units, k, signed, sha256 of the saved SampleSet)
    "width_sparse": (
        SamplerConfig(top_k=5, per_bin=3, n_random=4, batch_size=8),
        256,
        3,
        False,
        "5d21259cbcdf7f2b8e37e3d5405224dceeae227de163589f4f1c4e5ca2d71f33",
    ),
    "width_dense_abs": (
        SamplerConfig(top_k=4, per_bin=2, n_random=3, signed="abs", threshold=0.2, acts_dtype="float32", batch_size=8),
        24,
        6,
        True,
        "7513f7bb5acc3451317aa46ecc75b6450b1a4fc7706e36c3991eb1d6ac7499ca",
    ),
    "quantile_sparse": (
        SamplerConfig(top_k=3, per_bin=4, n_bins=5, bins="quantile", n_random=5, seed=7, batch_size=8),
        256,
        3,
        False,
        "86e8ef2a5f9187dda1655a98edafdf5f3c1f46276e0da950f3d15734b14dde60",
    ),
    "width_merged": (
        SamplerConfig(top_k=6, per_bin=2, n_random=2, seed=3, batch_size=8),
        128,
        2,
        False,
        "919aaa3ec0fc5aa01ab16a28716f7826ce24fd8df41b739b24f388f544e1fa38",
    ),
}


def as_sparse(batch: ActivationBatch) -> ActivationBatch:
    """The same batch carried as its non-zeros (as a TopK SAE's codes reach the sampler)."""
    return ActivationBatch(batch.window_indices, None, batch.mask,
                           sparse=SparseActivations.from_dense(batch.activations, batch.mask))


def sampleset_hash(name: str, tmp_path, convert=lambda batch: batch) -> str:
    config, n_units, k, signed, _ = CASES[name]
    data = batches(n_units, k, n_windows=200, window=16, batch=config.batch_size, seed=11, signed=signed)
    data = [(convert(batch), ws) for batch, ws in data]
    if name.endswith("merged"):  # two shards, merged
        a, b = SamplerState(config, n_units), SamplerState(config, n_units)
        for i, (batch, ws) in enumerate(data):
            (a if i % 3 else b).update(batch, ws)
        state = a.merge(b)
    else:
        state = SamplerState(config, n_units)
        for batch, ws in data:
            state.update(batch, ws)
    return saved_digest(state, tmp_path / name, range(n_units), basis="sae:golden")


@pytest.mark.parametrize("name", sorted(CASES))
def test_seeded_run_gives_the_reference_bytes(name, tmp_path):
    assert sampleset_hash(name, tmp_path) == CASES[name][4]


@pytest.mark.parametrize("name", sorted(CASES))
def test_sparse_batches_give_the_same_bytes(name, tmp_path):
    """A batch given as its non-zeros (signed values and padded windows included) samples exactly as dense."""
    assert sampleset_hash(name, tmp_path, as_sparse) == CASES[name][4]
