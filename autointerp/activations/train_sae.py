"""A small TopK sparse-autoencoder trainer (Gao et al. 2024 style) for the offline demo.

Not a research trainer: it exists so a fresh machine with no Hub access has a
real SAE for a real model to evaluate. It trains on activations already in
memory (a few hundred thousand tokens at most), on CPU, in a few minutes, and
reports its reconstruction quality (fraction of variance unexplained) and the
fraction of latents that never fired, so nobody mistakes it for a good SAE.

Recipe: decoder rows initialised to random unit vectors and the encoder to its
transpose; ``b_dec`` initialised to the data mean and subtracted from the input;
TopK activation; MSE loss plus an AuxK loss that lets dead latents reconstruct the
residual error; decoder rows renormalised to unit norm after every Adam step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm


@dataclass(frozen=True)
class TopKSAEWeights:
    """Weights in SAELens orientation: ``f = topk(relu((x - b_dec) @ W_enc + b_enc))``, ``x_hat = f @ W_dec + b_dec``."""

    W_enc: torch.Tensor  # [d_in, d_sae]
    b_enc: torch.Tensor  # [d_sae]
    W_dec: torch.Tensor  # [d_sae, d_in]
    b_dec: torch.Tensor  # [d_in]
    k: int


@dataclass(frozen=True)
class TrainReport:
    steps: int
    tokens: int
    fvu: float  # fraction of variance unexplained on the training activations
    dead_fraction: float  # latents that never fired over the last full pass
    final_loss: float


@contextmanager
def fixed_threads(n: int) -> Iterator[None]:
    """Run the block on exactly ``n`` torch threads (restored after): float sums are reduced in an order that depends
    on the thread count, so the same seed gives the same bytes only at the same count (and torch version)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def weights_digest(weights: TopKSAEWeights) -> str:
    """SHA-256 over the four tensors' bytes (float32, C order): equal digests, equal SAEs."""
    h = hashlib.sha256()
    for t in (weights.W_enc, weights.b_enc, weights.W_dec, weights.b_dec):
        h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def _topk(pre: torch.Tensor, k: int) -> torch.Tensor:
    vals, idx = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter_(-1, idx, torch.relu(vals))


def encode(weights: TopKSAEWeights, x: torch.Tensor) -> torch.Tensor:
    return _topk((x - weights.b_dec) @ weights.W_enc + weights.b_enc, weights.k)


def train_topk_sae(
    acts: torch.Tensor,
    d_sae: int,
    k: int = 32,
    *,
    epochs: int = 4,
    batch_size: int = 1024,
    lr: float = 1e-3,
    aux_k: int | None = None,
    aux_coef: float = 1 / 32,
    seed: int = 0,
    progress: bool = True,
) -> tuple[TopKSAEWeights, TrainReport]:
    """Train a TopK SAE on ``acts`` ``[n_tokens, d_in]`` (float32, CPU)."""
    if acts.ndim != 2 or acts.shape[0] < batch_size:
        raise ValueError(f"need activations [n >= {batch_size}, d_in], got {tuple(acts.shape)}")
    n, d_in = acts.shape
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    acts = acts.float()
    scale = acts.sub(acts.mean(0)).pow(2).sum(-1).mean().sqrt()  # train on unit-scale data, fold back at the end
    x_all = acts / scale

    W_dec = torch.randn(d_sae, d_in, generator=gen)
    W_dec /= W_dec.norm(dim=-1, keepdim=True)
    W_dec = torch.nn.Parameter(W_dec)
    W_enc = torch.nn.Parameter(W_dec.detach().T.clone())
    b_enc = torch.nn.Parameter(torch.zeros(d_sae))
    b_dec = torch.nn.Parameter(x_all.mean(0).clone())
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr, betas=(0.9, 0.999))
    aux_k = aux_k or min(2 * k, d_sae // 2)

    steps_per_epoch = n // batch_size
    total = steps_per_epoch * epochs
    last_fired = torch.zeros(d_sae, dtype=torch.long)  # step at which each latent last fired
    dead_after = max(steps_per_epoch, 1)
    loss_val = float("nan")
    bar = tqdm(total=total, desc="train SAE", unit="step", disable=not progress)
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for b in range(steps_per_epoch):
            x = x_all[perm[b * batch_size : (b + 1) * batch_size]]
            pre = torch.relu((x - b_dec) @ W_enc + b_enc)
            vals, idx = pre.topk(k, dim=-1)
            f = torch.zeros_like(pre).scatter(-1, idx, vals)
            x_hat = f @ W_dec + b_dec
            err = x - x_hat
            loss = err.pow(2).sum(-1).mean()
            fired = torch.zeros(d_sae, dtype=torch.bool)
            fired[idx[vals > 0].unique()] = True
            last_fired[fired] = step
            dead = (step - last_fired) >= dead_after
            if dead.any() and step >= dead_after:  # AuxK: dead latents explain the residual
                dead_pre = pre.masked_fill(~dead, 0.0)
                kk = min(aux_k, int(dead.sum()))
                avals, aidx = dead_pre.topk(kk, dim=-1)
                aux_hat = torch.zeros_like(pre).scatter(-1, aidx, avals) @ W_dec
                aux = (err.detach() - aux_hat).pow(2).sum(-1).mean() / err.detach().pow(2).sum(-1).mean().clamp_min(
                    1e-8
                )
                loss = loss + aux_coef * aux
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():  # remove the gradient component parallel to each unit-norm decoder row
                W_dec.grad -= (W_dec.grad * W_dec).sum(-1, keepdim=True) * W_dec
            opt.step()
            with torch.no_grad():
                W_dec /= W_dec.norm(dim=-1, keepdim=True)
            loss_val = float(loss.detach())
            step += 1
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_val:.4f}", dead=f"{float(dead.float().mean()):.2f}")
    bar.close()

    with torch.no_grad():
        weights = TopKSAEWeights(
            W_enc=W_enc.detach().clone() / scale,  # (x/scale - b) W = (x - b*scale) W/scale
            b_enc=b_enc.detach().clone(),
            W_dec=W_dec.detach().clone() * scale,
            b_dec=b_dec.detach().clone() * scale,
            k=k,
        )
        fired_any = torch.zeros(d_sae, dtype=torch.bool)
        sq_err = 0.0
        for b in range(0, n, 4096):
            x = acts[b : b + 4096]
            f = encode(weights, x)
            fired_any |= (f > 0).any(0)
            sq_err += float((x - (f @ weights.W_dec + weights.b_dec)).pow(2).sum())
        total_var = float(acts.sub(acts.mean(0)).pow(2).sum())
    report = TrainReport(
        steps=step,
        tokens=n,
        fvu=sq_err / max(total_var, 1e-12),
        dead_fraction=float((~fired_any).float().mean()),
        final_loss=loss_val,
    )
    return weights, report
