"""Planted ground truth: a synthetic subject whose units fire on known words with known strengths.

* :func:`make_world` - a vocabulary of made-up words, documents of random words, and
  for every unit 3-5 disjoint trigger words with a strength each (0 elsewhere), spaced so that
  each trigger is the strongest word of its own activation level.
* :class:`PlantedSource` - an :class:`~autointerp.activations.source.ActivationSource`
  over that world, so samples go through the real sampler (:func:`planted_samples`). With ``dense_noise`` it is
  a *dense signed-neuron basis*: every non-trigger token gets a small signed value (seeded by window and
  position, like a SiLU*up or GELU neuron that is never exactly 0), the triggers stay as they are.
* :class:`PlantedOracle` - test-only backend handlers that answer from what is in the
  prompt: the explainer names the highlighted words it sees most, the rater says 3
  when the highlighted token is a described word (else 0), the simulator predicts 10
  on described words (else 0), in each simulator method's answer format.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from autointerp.activations.source import ActivationBatch, TokenWindow
from autointerp.backends.base import LLMRequest, LLMResponse
from autointerp.sampling import SamplerConfig, sample
from autointerp.types import UnitSamples
from tests.support.scripted_backend import candidate_response, lines_response, value_logprobs

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class PlantedWorld:
    vocab: tuple[str, ...]  # token strings, each ' word'
    triggers: tuple[dict[int, float], ...]  # per unit: token id -> activation strength
    docs: tuple[tuple[int, ...], ...]

    @property
    def n_units(self) -> int:
        return len(self.triggers)

    def trigger_words(self, unit: int) -> list[str]:
        return sorted(self.vocab[t].strip() for t in self.triggers[unit])

    def description(self, unit: int) -> str:
        """The true description of a unit, in the words the oracle explainer would use."""
        return "the words " + ", ".join(self.trigger_words(unit))

    def windows(self, length: int = 16) -> list[TokenWindow]:
        out = []
        for d, doc in enumerate(self.docs):
            for start in range(0, len(doc), length):
                out.append(TokenWindow(index=len(out), doc_id=f"d{d}", token_ids=doc[start : start + length]))
        return out


def make_world(
    n_units: int = 6, vocab_size: int = 200, n_docs: int = 300, doc_len: int = 64, seed: int = 0
) -> PlantedWorld:
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    while len(words) < vocab_size:
        n_syll = int(rng.integers(2, 4))
        words.add("".join(str(rng.choice(list(_CONSONANTS))) + str(rng.choice(list(_VOWELS))) for _ in range(n_syll)))
    vocab = tuple(" " + w for w in sorted(words))
    order = rng.permutation(vocab_size)
    triggers, used = [], 0
    for _ in range(n_units):
        k = int(rng.integers(3, 6))
        ids = order[used : used + k]
        used += k
        scale = float(rng.uniform(1.0, 5.0))
        # strengths 0.95, 0.75, 0.55, ... of the scale: each trigger tops its own activation-level bin
        triggers.append({int(t): round(scale * (0.95 - 0.2 * i), 4) for i, t in enumerate(ids)})
    docs = tuple(tuple(int(t) for t in rng.integers(0, vocab_size, size=doc_len)) for _ in range(n_docs))
    return PlantedWorld(vocab=vocab, triggers=tuple(triggers), docs=docs)


class PlantedSource:
    """Unit activations = the planted strength of each token's word for each unit (+ signed noise off-trigger)."""

    def __init__(self, world: PlantedWorld, dense_noise: float = 0.0, seed: int = 0):
        self.n_units = world.n_units
        self.table = torch.zeros(len(world.vocab), world.n_units)
        for u, trig in enumerate(world.triggers):
            for t, s in trig.items():
                self.table[t, u] = s
        self.scale = self.table.amax(dim=0)  # per unit
        self.dense_noise, self.seed = dense_noise, seed

    def batches(self, windows: Iterable[TokenWindow], batch_size: int) -> Iterator[ActivationBatch]:
        batch: list[TokenWindow] = []
        for w in windows:
            batch.append(w)
            if len(batch) == batch_size:
                yield self._batch(batch)
                batch = []
        if batch:
            yield self._batch(batch)

    def _noise(self, w: TokenWindow, width: int) -> torch.Tensor:
        """[width, U] signed values in (-dense_noise, dense_noise) * unit scale, a pure function of the window."""
        rng = np.random.default_rng([self.seed, w.index])
        x = rng.uniform(-1.0, 1.0, (width, self.n_units)) * self.dense_noise
        return torch.from_numpy(x).to(torch.float32) * self.scale

    def _batch(self, windows: list[TokenWindow]) -> ActivationBatch:
        width = max(len(w.token_ids) for w in windows)
        ids = torch.zeros(len(windows), width, dtype=torch.long)
        mask = torch.zeros(len(windows), width, dtype=torch.bool)
        for i, w in enumerate(windows):
            ids[i, : len(w.token_ids)] = torch.tensor(w.token_ids)
            mask[i, : len(w.token_ids)] = True
        acts = self.table[ids]
        if self.dense_noise:
            noise = torch.stack([self._noise(w, width) for w in windows])
            acts = torch.where(acts != 0, acts, noise)
        acts = acts * mask.unsqueeze(-1)
        return ActivationBatch(window_indices=np.array([w.index for w in windows]), activations=acts, mask=mask)


# The threshold puts the dense basis's off-trigger noise below threshold and every trigger above it.
DENSE_NOISE = 0.04  # below half a 0-10 step of the max, so noise renders as level 0
BOTH_BASES_CONFIG = SamplerConfig(top_k=10, n_bins=5, per_bin=3, n_random=8, seed=0, threshold=0.1)


def planted_samples(
    world: PlantedWorld, config: SamplerConfig | None = None, window: int = 16, dense: bool = False
) -> list[UnitSamples]:
    """UnitSamples of every planted unit, through the real streaming sampler; ``dense``: the signed-neuron basis."""
    config = config or SamplerConfig(top_k=10, n_bins=5, per_bin=3, n_random=8, seed=0)
    source = PlantedSource(world, dense_noise=DENSE_NOISE if dense else 0.0)
    basis = "neurons:planted" if dense else "sae:planted"
    sset = sample(source, world.windows(window), config, basis=basis, unit_ids=list(range(world.n_units)),
                  progress=False)
    return [sset.unit_samples(u, list(world.vocab)) for u in range(world.n_units)]


# --- oracle backends (tests only) ------------------------------------------------------------------------------------

_BLOCK = re.compile(r'<context id="(c\d+)">\n(.*?)\n</context>', re.DOTALL)


def _live_question(request: LLMRequest) -> str:
    return request.messages[2 * (request.cache_prefix_messages // 2)].content


def _described_words(request: LLMRequest) -> set[str]:
    m = re.search(r"^Description: (.*)$", _live_question(request), re.MULTILINE)
    assert m, "oracle: no description in the prompt"
    return set(re.findall(r"[a-z]+", m.group(1))) - {"the", "words"}


class PlantedOracle:
    """Answers each stage from the prompt alone, as a perfect reader of the planted rule would."""

    @staticmethod
    def explainer(request: LLMRequest) -> str:
        counts = Counter(
            word for run in re.findall(r"<<(.*?)>>", _live_question(request)) for word in run.split()
        )
        named = sorted(w for w, _ in counts.most_common(5))
        return "I looked at the highlighted words.\nExplanation: the words " + ", ".join(named)

    @staticmethod
    def rater(request: LLMRequest) -> str:
        words = _described_words(request)
        lines = []
        for cid, body in _BLOCK.findall(_live_question(request)):
            hl = re.search(r"<<(.*?)>>", body).group(1).strip()
            lines.append(f"{cid}: {3 if hl in words else 0}")
        return "\n".join(lines)

    @staticmethod
    def simulate_prompt_logprobs(request: LLMRequest) -> LLMResponse:
        words = _described_words(request)
        tokens = [seg.rsplit("\n", 1)[-1][:-1] for seg in request.prefill]
        return candidate_response(value_logprobs(9 if t.strip() in words else 0, spread=0.6) for t in tokens)

    @staticmethod
    def simulate_generated(request: LLMRequest) -> LLMResponse:
        words = _described_words(request)
        tokens = _live_question(request).split("one per line):\n", 1)[1].split("\n")
        return lines_response([(t, value_logprobs(9 if t.strip() in words else 0, spread=0.6)) for t in tokens])

    @staticmethod
    def simulate_json(request: LLMRequest) -> str:
        words = _described_words(request)
        out = {}
        for cid, body in _BLOCK.findall(_live_question(request)):
            tokens = json.loads(body.split(" tokens: ", 1)[1])
            out[cid] = [10 if t.strip() in words else 0 for t in tokens]
        return json.dumps(out)
