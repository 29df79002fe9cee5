"""The demo SAE is trained deterministically: the same bytes for the same torch version and thread count.

A tiny fixed input pins the trainer's output bytes (fast); the real demo SAE's recorded digest is pinned too, so a
fresh machine that trains it gets the SAE whose figures the README quotes (docs/demo.md: what is checked)."""

from __future__ import annotations

import json

import pytest
import torch

from autointerp.activations.train_sae import fixed_threads, train_topk_sae, weights_digest

PINNED_TORCH = "2.13.0"
TINY_SHA256 = "92d687260c585cc01952a93d76b807c65c08a31dae37428686ff9f320f262b91"
DEMO_SHA256 = "88140defd8ada4250dcf5b49762c75a1d221aa2881b519f997cade9112bde6b9"


def _tiny() -> str:
    gen = torch.Generator().manual_seed(1234)
    acts = torch.randn(2048, 16, generator=gen) @ torch.randn(16, 16, generator=gen)
    with fixed_threads(2):
        weights, report = train_topk_sae(acts, 64, 4, epochs=2, batch_size=256, seed=0, progress=False)
    assert report.steps == 16
    return weights_digest(weights)


def test_the_trainer_gives_the_same_bytes_twice_and_the_pinned_ones():
    first, second = _tiny(), _tiny()
    assert first == second
    if torch.__version__.split("+")[0] != PINNED_TORCH:
        pytest.skip(f"digest pinned for torch {PINNED_TORCH}, this is {torch.__version__}")
    assert first == TINY_SHA256


def test_a_different_seed_gives_a_different_sae():
    gen = torch.Generator().manual_seed(1234)
    acts = torch.randn(2048, 16, generator=gen) @ torch.randn(16, 16, generator=gen)
    with fixed_threads(2):
        weights, _ = train_topk_sae(acts, 64, 4, epochs=2, batch_size=256, seed=1, progress=False)
    assert weights_digest(weights) != _tiny()


@pytest.mark.slow
def test_the_demo_sae_is_the_pinned_one(smollm2):
    """The real demo SAE (trained once per machine on 2 threads; about a minute when not cached yet)."""
    from autointerp.runs.demo import DEMO_SAE_THREADS, demo_sae

    info = json.loads((demo_sae(progress=False) / "cfg.json").read_text())["autointerp_training"]
    assert info["threads"] == DEMO_SAE_THREADS == 2
    if info["torch"].split("+")[0] != PINNED_TORCH:
        pytest.skip(f"digest pinned for torch {PINNED_TORCH}, the demo SAE was trained with {info['torch']}")
    assert info["sha256"] == DEMO_SHA256
