"""Top logit tokens of every unit for the report's unit cards, written once by the pipeline.

The direction a unit writes (its decoder row; for MLP neurons, the down projection's column) is read
through the unembedding (:func:`autointerp.runs.bases.logit_tokens`); the report cannot recompute it without
the subject model, so the pipeline saves it in ``<run>/logit_tokens.json`` after sampling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

LOGIT_TOKENS_FILE = "logit_tokens.json"
N_LOGIT_TOKENS = 10


def write_logit_tokens(run_dir: Path, subject, bases: Iterable, keys: Iterable[str], n: int = N_LOGIT_TOKENS) -> int:
    """Save promoted/suppressed tokens of each unit key (``basis#index``) whose basis has a residual write
    direction and whose model has an unembedding; returns how many units got them."""
    from autointerp.runs.bases import logit_tokens  # torch and the model code only when the pipeline calls this

    by_name = {rb.name: rb for rb in bases}
    out: dict[str, dict[str, list[str]]] = {}
    for key in keys:
        basis, _, index = key.rpartition("#")
        rb = by_name.get(basis)
        tokens = logit_tokens(subject, rb, int(index), n) if rb is not None else None
        if tokens is not None:
            out[key] = {"promoted": list(tokens.promoted), "suppressed": list(tokens.suppressed)}
    path = Path(run_dir) / LOGIT_TOKENS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return len(out)
