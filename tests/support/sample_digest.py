"""One fingerprint of a sampler state's result, for tests that require two results to be byte for byte equal."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from autointerp.sampling.finalize import finalize


def saved_digest(state, folder: Path, unit_ids: Sequence[int], basis: str = "sae:t") -> str:
    """Finalize ``state``, save the sample set in ``folder`` and return the sha256 of its files (names and bytes)."""
    saved = finalize(state, basis=basis, unit_ids=unit_ids).save(folder)
    digest = hashlib.sha256()
    for f in sorted(saved.iterdir()):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()
