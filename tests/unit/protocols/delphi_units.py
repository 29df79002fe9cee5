"""Our records built from the delphi fixture's inputs: every window of the stream as a held-out context."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from autointerp.types import Context, UnitId, UnitSamples, UnitStats
from tests.unit.protocols.delphi_inputs import EXAMPLE_CTX_LEN, N_WINDOWS, latent_activations

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "peers" / "delphi" / "delphi.json"


@lru_cache(maxsize=1)
def fixture() -> dict:
    return json.loads(FIXTURE.read_text())


@lru_cache(maxsize=1)
def activations() -> dict[str, np.ndarray]:
    return latent_activations()


def window_acts(name: str, w: int) -> tuple[float, ...]:
    return tuple(float(a) for a in activations()[name][w * EXAMPLE_CTX_LEN : (w + 1) * EXAMPLE_CTX_LEN])


def context(name: str, w: int) -> Context:
    acts = window_acts(name, w)
    active = max(acts) > 0
    return Context(context_id=f"{'w' if active else 'r'}{w}", window_index=w,
                   tokens=tuple(f" w{i}" for i in range(w * EXAMPLE_CTX_LEN, (w + 1) * EXAMPLE_CTX_LEN)),
                   activations=acts, kind="quantile" if active else "random", level=0 if active else -1)


def unit_samples(name: str) -> UnitSamples:
    """Every window held out: the activating ones as level contexts, the silent ones as random windows."""
    acts = activations()[name]
    n_active_windows = int((acts.reshape(N_WINDOWS, EXAMPLE_CTX_LEN) > 0).any(axis=1).sum())
    stats = UnitStats(n_tokens=acts.size, n_windows=N_WINDOWS, n_active_tokens=int((acts > 0).sum()),
                      n_active_windows=n_active_windows,
                      firing_frequency=float((acts > 0).mean()), max_activation=float(acts.max()),
                      mean_activation=float(acts.mean()), mean_active_activation=float(acts[acts > 0].mean()),
                      histogram_edges=(0.0,), histogram_counts=())
    return UnitSamples(unit=UnitId(basis="sae:fixture", index=int(name[1:])), stats=stats, bin_edges=(0.0, 1.0),
                       explain=(), heldout=tuple(context(name, w) for w in range(N_WINDOWS)))
