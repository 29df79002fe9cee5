"""How the groups of a comparison were sampled, and whether that differs: stated under every comparison figure.

Within a run: the held-out context mix per unit kind (median count per unit of each context kind).
Between runs: the config keys that decide what was sampled and shown to the judges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.report.load import RunData

CONTEXT_KINDS = ("top", "quantile", "random")
SAMPLING_KEYS = ("model", "corpus", "text_field", "max_tokens", "window", "seed", "sampler", "explain", "rubric",
                 "simulate", "scorers", "negatives")  # fmt: skip


def heldout_mix(run: RunData, kind: str) -> dict[str, float]:
    """Median per unit of the held-out contexts of each context kind, over the units of ``kind``."""
    counts = [[sum(c.kind == ck for c in us.heldout) for ck in CONTEXT_KINDS]
              for us in run.units.values() if us.unit.kind == kind]  # fmt: skip
    if not counts:
        return {}
    med = np.median(np.asarray(counts, dtype=float), axis=0)
    return {ck: float(m) for ck, m in zip(CONTEXT_KINDS, med)}


def _mix_text(mix: Mapping[str, float]) -> str:
    return "/".join(f"{v:g}" for v in mix.values()) + " " + "/".join(mix)


def within_run_note(run: RunData, kinds: Iterable[str]) -> str:
    """'sampling: same held-out mix per unit for features and neurons (4/8/4 top/quantile/random)' or a
    'sampling differs: ...' sentence naming both mixes."""
    mixes = {k: heldout_mix(run, k) for k in kinds}
    mixes = {k: m for k, m in mixes.items() if m}
    if len(mixes) < 2:
        return ""
    texts = {k: _mix_text(m) for k, m in mixes.items()}
    if len(set(texts.values())) == 1:
        return f"sampling: same held-out mix per unit for {' and '.join(k + 's' for k in mixes)} " \
               f"(median {next(iter(texts.values()))})"
    parts = ", ".join(f"{k}s {t}" for k, t in texts.items())
    return f"sampling differs between groups: held-out contexts per unit (median) {parts}"


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, value in a, value in b) for every sampling- or judging-relevant config key that differs."""
    fa = _flat({k: v for k, v in a.items() if k in SAMPLING_KEYS})
    fb = _flat({k: v for k, v in b.items() if k in SAMPLING_KEYS})
    return [(k, fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)]


def between_runs_note(run_a: RunData, run_b: RunData, max_items: int = 4) -> str:
    """'sampling: same config (corpus, tokens, sampler, judges' context counts)' or 'sampling differs: ...'."""
    if not run_a.config or not run_b.config:
        return "sampling: unknown (a run has no config.yaml)"
    diffs = config_differences(run_a.config, run_b.config)
    if not diffs:
        return "sampling: same corpus, sampler and judge context counts in A and B"
    shown = "; ".join(f"{k} {va!r} vs {vb!r}" for k, va, vb in diffs[:max_items])
    more = f"; +{len(diffs) - max_items} more" if len(diffs) > max_items else ""
    return f"sampling differs between A and B: {shown}{more}"


BASIS_KEYS = {"feature": ("model", "sae", "sae_site"), "neuron": ("model", "neuron_site")}


def same_units(run_a: RunData, run_b: RunData, kind: str) -> bool:
    """Whether equal unit ids of ``kind`` in the two runs name the same units: the same subject model and the
    same SAE checkpoint (resolved path) and site, or the same neuron site. Unit ids alone cannot tell: the
    basis name is only the SAE's folder name. Unknown (no config.yaml): trust the ids."""
    if not run_a.config or not run_b.config:
        return True

    def norm(run: RunData, key: str) -> object:
        value = run.config.get(key)
        if key == "sae" and isinstance(value, str) and Path(value).exists():
            return str(Path(value).resolve())
        return value

    return all(norm(run_a, k) == norm(run_b, k) for k in BASIS_KEYS.get(kind, ("model",)))
