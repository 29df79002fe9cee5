"""The demo's TopK SAE trainer learns a planted sparse dictionary and its weights encode as trained."""

from __future__ import annotations

import torch

from autointerp.activations.sae import make_sae
from autointerp.activations.train_sae import encode, train_topk_sae


def test_recovers_planted_sparse_structure():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(64, 32, generator=g)
    true /= true.norm(dim=-1, keepdim=True)
    idx = torch.randint(0, 64, (8192, 2), generator=g)
    coef = torch.rand(8192, 2, generator=g) * 3 + 0.5
    x = (coef[..., None] * true[idx]).sum(1) + 2.0  # an offset b_dec must absorb
    weights, report = train_topk_sae(x, d_sae=128, k=2, epochs=20, batch_size=256, seed=0, progress=False)
    assert report.fvu < 0.1  # measured 0.036; a random dictionary of this size explains almost nothing (fvu ~ 1)
    # the learned decoder contains close matches of most planted directions
    cos = (true @ (weights.W_dec / weights.W_dec.norm(dim=-1, keepdim=True)).T).max(dim=1).values
    assert (cos > 0.9).float().mean() > 0.9  # measured: all 64
    # the saved SAE (as the demo builds it) encodes exactly like the trainer's own encoder
    sae = make_sae("topk", weights.W_enc, weights.b_enc, weights.W_dec, weights.b_dec, k=2)
    torch.testing.assert_close(sae.encode(x[:100]), encode(weights, x[:100]))


def test_seed_reproduces():
    x = torch.randn(2048, 16, generator=torch.Generator().manual_seed(1))
    a, _ = train_topk_sae(x, 32, 4, epochs=1, batch_size=256, seed=3, progress=False)
    b, _ = train_topk_sae(x, 32, 4, epochs=1, batch_size=256, seed=3, progress=False)
    torch.testing.assert_close(a.W_dec, b.W_dec)
