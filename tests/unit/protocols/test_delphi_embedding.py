"""The embedding scorer under delphi's settings: its example counts (delphi's ``EmbeddingScorer._prepare``: the test
examples and the non-activating ones, whole windows) and the instruction prefix on the explanation."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from autointerp.scorers import embedding
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.embedding import Embedding, EmbeddingConfig
from autointerp.types import Explanation, Provenance
from tests.unit.protocols.delphi_units import fixture, unit_samples

PREFIX = "Instruct: find related passages\nQuery:"


class _Fake:
    def __init__(self):
        self.texts: list[str] = []

    def encode(self, texts, batch_size=32):
        self.texts += texts
        return np.array([[1.0, (len(t) % 7) / 7] for t in texts])


@pytest.mark.parametrize("name", ["L0", "L1", "L2"])
def test_counts_and_prefix_are_delphis(name, monkeypatch):
    fake = _Fake()
    monkeypatch.setattr(embedding, "embedder", lambda model: fake)
    samples = unit_samples(name)
    prov = Provenance(backend="", model="", prompt_id="", prompt_version="", prompt_hash="")
    inp = ScoreInput(samples=samples, explanation=Explanation(unit=samples.unit, ok=True, text="odd tokens",
                                                              provenance=prov))
    config = EmbeddingConfig(selection="quantiles", per_level=5, n_negatives=50, negatives_replace=True,
                             query_prefix=PREFIX)
    rec = asyncio.run(Embedding().score(inp, None, config, seed=0))
    peer = fixture()["shown"][name]["embedding"]
    assert rec.ok and peer["whole_windows"]
    assert sum(i.label for i in rec.items) == peer["activating"]
    assert sum(not i.label for i in rec.items) == peer["non_activating"]
    assert fake.texts[0] == PREFIX + "odd tokens"  # the prefix, then the explanation, as delphi joins them
    assert all(len(re.findall(r"w\d+", t)) == 32 for t in fake.texts[1:])  # whole 32-token windows
