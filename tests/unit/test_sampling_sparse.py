"""Sparse batches (a TopK SAE's codes as their non-zeros) read exactly as the dense batch they stand for.

The sampler's own equivalence, bit for bit on the golden cases, is in test_sampling_golden.py; here: the pieces
(window maxima, per-token gather, float16 limit) and the model source's sparse batches against its dense ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autointerp.activations.model_source import ModelActivationSource
from autointerp.activations.sae import make_sae
from autointerp.activations.source import ActivationBatch, SparseActivations, TokenWindow
from autointerp.sampling import SamplerConfig, SamplerState, run_pass
from autointerp.sampling.batchview import BatchView, _TokenGather, sparse_window_maxima, window_maxima
from tests.support.sample_digest import saved_digest


def signed_batch(seed: int, B: int = 6, T: int = 7, U: int = 40, density: float = 0.2):
    """Signed values, padded rows, and pairs that are non-zero (negative) on every real token of their window."""
    gen = torch.Generator().manual_seed(seed)
    acts = torch.randn(B, T, U, generator=gen)
    acts[torch.rand(B, T, U, generator=gen) > density] = 0
    acts[0, :, 3] = -torch.rand(T, generator=gen) - 0.1  # all negative: the max is negative, not 0
    acts[1, :, 5] = torch.rand(T, generator=gen) + 0.1
    lengths = torch.tensor([T, T - 2, T, 1, T - 3, 0])[:B]
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    acts[~mask] = 0
    acts[1, :, 9] = 0
    acts[1, : T - 2, 9] = -1.0  # negative on every real token of a padded window
    return acts, mask


@pytest.mark.parametrize("seed", range(5))
def test_window_maxima_from_non_zeros_equal_the_dense_ones(seed):
    acts, mask = signed_batch(seed)
    sp = SparseActivations.from_dense(acts, mask)
    got = sparse_window_maxima(sp, mask.sum(dim=1))
    want = window_maxima(acts, mask)
    assert torch.equal(got, want)
    assert got[0, 3] < 0 and got[1, 9] == -1.0 and torch.isinf(got[5]).all()  # the cases that need care


def test_gather_from_non_zeros_equals_dense_reads():
    acts, mask = signed_batch(11, density=0.03)
    nz = SparseActivations.from_dense(acts, mask)
    nonzeros = (nz.rows, nz.positions, nz.units, nz.values)
    rows = torch.tensor([0, 1, 1, 3, 2, 4, 0])
    units = torch.tensor([3, 5, 9, 0, 39, 17, 0])
    for gather in (_TokenGather(None, nonzeros, tuple(acts.shape)), _TokenGather(acts, nonzeros, tuple(acts.shape))):
        assert gather.sparse
        assert torch.equal(gather(rows, units), acts[rows, :, units])


def test_huge_values_are_stored_finite_in_float16_by_both_paths():
    acts = torch.zeros(2, 4, 3)
    acts[0, 1, 2], acts[1, 0, 0] = 1e6, -1e6
    mask = torch.ones(2, 4, dtype=torch.bool)
    dense = ActivationBatch(np.array([0, 1]), acts, mask)
    sparse = ActivationBatch(np.array([0, 1]), None, mask, sparse=SparseActivations.from_dense(acts, mask))
    for batch in (dense, sparse):
        view = BatchView.of(batch, 3, limit=65504.0)
        got = view.gather(torch.tensor([0, 1]), torch.tensor([2, 0]))
        assert got[0, 1] == 65504.0 and got[1, 0] == -65504.0
        assert view.wmax[0, 2] == 1e6  # statistics see the true value
        state = SamplerState(SamplerConfig(top_k=2, batch_size=2), 3)
        state.update(batch)
        stored = torch.cat([res.acts[res.entries()].flatten() for res in state.topk]).float()
        assert stored.numel() and torch.isfinite(stored).all() and stored.abs().max() == 65504.0


def test_a_batch_is_dense_or_sparse_never_both():
    acts, mask = signed_batch(0)
    with pytest.raises(ValueError):
        ActivationBatch(np.arange(6), acts, mask, sparse=SparseActivations.from_dense(acts, mask))
    with pytest.raises(ValueError):
        ActivationBatch(np.arange(6), None, mask)


# ------------------------------------------------------------------ the model source


TEXT = ("the cat sat on the mat and the dog ran to the park while the bird sang in the tree "
        "then the rain came down on the town and everyone went home to sleep ")


@pytest.fixture(scope="module")
def windows(tiny_llama):
    ids = tiny_llama.tokenizer(TEXT * 12, add_special_tokens=False)["input_ids"]
    out, i, n = [], 0, 0
    while i < len(ids):
        size = 9 + (n % 4)  # ragged windows, so batches are padded
        out.append(TokenWindow(index=n, doc_id="d", token_ids=tuple(ids[i:i + size])))
        i, n = i + size, n + 1
    return out


def topk_sae(kind: str, d_in: int, d_sae: int = 48, k: int = 5):
    gen = torch.Generator().manual_seed(3)
    W = torch.randn(d_in, d_sae, generator=gen)
    return make_sae(kind, W, torch.randn(d_sae, generator=gen) * 0.1, W.T.contiguous(), torch.zeros(d_in), k=k)


@pytest.mark.parametrize("kind", ["topk", "signed_topk"])
@pytest.mark.parametrize("units", [None, (40, 2, 17, 5, 33)])
def test_model_source_sparse_batches_equal_its_dense_ones(tiny_llama, windows, kind, units):
    site = "layers.2.resid_post"
    sae = topk_sae(kind, tiny_llama.model.config.hidden_size)
    dense = ModelActivationSource(tiny_llama, site, sae, units=units)
    sparse = ModelActivationSource(tiny_llama, site, sae, units=units, sparse=True)
    n = 0
    for a, b in zip(dense.batches(windows, 5), sparse.batches(windows, 5), strict=True):
        assert b.sparse is not None and b.activations is None  # the dense [B, T, d_sae] was never built
        assert torch.equal(a.dense(), b.dense()) and torch.equal(a.mask, b.mask)
        assert np.array_equal(a.window_indices, b.window_indices)
        n += int(b.sparse.values.numel())
    assert n > 0


def _sampleset_digest(source, windows, tmp_path, name) -> str:
    state = run_pass(source, windows, SamplerConfig(top_k=3, per_bin=2, n_random=3, batch_size=4), progress=False)
    return saved_digest(state, tmp_path / name, range(source.n_units))


def test_sampling_a_topk_sae_sparse_gives_the_dense_bytes(tiny_llama, windows, tmp_path):
    sae = topk_sae("topk", tiny_llama.model.config.hidden_size)
    site = "layers.2.resid_post"
    dense = _sampleset_digest(ModelActivationSource(tiny_llama, site, sae), windows, tmp_path, "dense")
    sparse = _sampleset_digest(ModelActivationSource(tiny_llama, site, sae, sparse=True), windows, tmp_path, "sparse")
    assert dense == sparse


def test_non_topk_dictionaries_stay_dense_on_cpu(tiny_llama, windows):
    from autointerp.activations.sae import IdentityDict

    source = ModelActivationSource(tiny_llama, "layers.1.mlp", IdentityDict(tiny_llama.model.config.intermediate_size),
                                   units=[0, 4, 9], sparse=True)
    batch = next(iter(source.batches(windows, 4)))
    assert batch.sparse is None and batch.activations.shape[2] == 3


def test_off_cpu_sparse_outputs_cross_as_non_zeros_and_dense_ones_as_they_are(tiny_llama, windows):
    """The transfer rule used off the CPU (exercised here on the CPU through the same code): a ReLU SAE's output
    crosses as its non-zeros, neurons (dense) as [B, T, U]; both equal the plain dense batch."""
    from autointerp.activations.sae import IdentityDict

    d = tiny_llama.model.config.hidden_size
    gen = torch.Generator().manual_seed(5)
    W = torch.randn(d, 64, generator=gen)
    relu = make_sae("relu", W, torch.full((64,), -2.5), W.T.contiguous(), torch.zeros(d))
    for dictionary, crosses_sparse in ((relu, True), (IdentityDict(d), False)):
        plain = ModelActivationSource(tiny_llama, "layers.2.resid_post", dictionary)
        moved = ModelActivationSource(tiny_llama, "layers.2.resid_post", dictionary, sparse=True)
        assert not moved._multi.sparse_transfer  # on the CPU the rule is off ...
        moved._multi.sparse_transfer = True  # ... as it is on for cuda devices
        for a, b in zip(plain.batches(windows, 5), moved.batches(windows, 5), strict=True):
            assert (b.sparse is not None) == crosses_sparse
            assert torch.equal(a.dense(), b.dense())


def test_random_windows_stay_shared_by_every_unit_through_merges_and_updates():
    """The random reservoir is written as whole columns (one choice for all units): its rows must stay identical
    whether a state is updated, merged, or merged and then updated again."""
    from tests.unit.test_sampling_golden import batches

    config = SamplerConfig(top_k=3, per_bin=2, n_random=4, n_random_explain=3, batch_size=8)
    data = batches(64, 3, n_windows=120, window=12, batch=8, seed=2, signed=False)
    a, b = SamplerState(config, 64), SamplerState(config, 64)
    for i, (batch, ws) in enumerate(data[:10]):
        (a if i % 2 else b).update(batch, ws)
    a.merge(b)
    for batch, ws in data[10:]:
        a.update(batch, ws)
    one = SamplerState(config, 64)
    for batch, ws in data:
        one.update(batch, ws)
    for split in (0, 1):
        res = a.random[split]
        assert (res.prio == res.prio[0]).all() and (res.window == res.window[0]).all()
        assert sorted(res.window[0].tolist()) == sorted(one.random[split].window[0].tolist())


def test_folding_several_source_batches_at_once_changes_nothing(tiny_llama, windows, tmp_path):
    """run_pass joins source batches (ActivationBatch.cat) before each sampler update; the sample set is byte for
    byte the one of updating batch by batch, for sparse and dense batches."""
    sae = topk_sae("topk", tiny_llama.model.config.hidden_size)
    config = SamplerConfig(top_k=3, per_bin=2, n_random=3, batch_size=3)
    for sparse in (True, False):
        source = ModelActivationSource(tiny_llama, "layers.2.resid_post", sae, sparse=sparse)
        by_index = {w.index: w for w in windows}
        one = SamplerState(config, source.n_units)
        for batch in source.batches(windows, 3):
            one.update(batch, [by_index[int(i)] for i in batch.window_indices])
        folded = run_pass(source, windows, config, progress=False)
        units = range(source.n_units)
        assert (saved_digest(one, tmp_path / f"one{sparse}", units)
                == saved_digest(folded, tmp_path / f"folded{sparse}", units))
