"""docs/sae-checkpoints.md's per-format config-key tables are the readers' own tables: every key appears there."""

from __future__ import annotations

from pathlib import Path

import pytest

from autointerp.activations.sae_dictionary_learning import BUFFER_KEYS, TRAINER_KEYS
from autointerp.activations.sae_saelens import SAELENS_KEYS
from autointerp.activations.sae_sparsify import SPARSIFY_KEYS

DOC = (Path(__file__).parents[3] / "docs" / "sae-checkpoints.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("policy", [SAELENS_KEYS, SPARSIFY_KEYS, TRAINER_KEYS, BUFFER_KEYS], ids=lambda p: p.library)
def test_every_key_is_documented(policy):
    missing = [k for k in (*policy.implemented, *policy.ignored) if f"`{k}`" not in DOC]
    assert not missing, f"docs/sae-checkpoints.md lacks {policy.library} keys {missing}"


def test_no_key_is_both_implemented_and_ignored():
    for policy in (SAELENS_KEYS, SPARSIFY_KEYS, TRAINER_KEYS, BUFFER_KEYS):
        assert not set(policy.implemented) & set(policy.ignored)
