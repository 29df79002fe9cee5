"""Detection and fuzzing share everything but the choice of what to show: this is that shared part."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from pydantic import Field

from autointerp.backends.base import Backend
from autointerp.judging.prompts import load_prompt, provenance
from autointerp.scorers import metrics
from autointerp.scorers.base import PlannedCall, ScoreInput, Scorer, ScorerConfig, stand_in_foreign
from autointerp.scorers.judging import Shown, chunk_request, chunks, judge_all
from autointerp.scorers.records import ScoreResult
from autointerp.types import Context


class ClassifierConfig(ScorerConfig):
    """Parameters shared by detection and fuzzing."""

    per_level: int = Field(default=2, ge=0, description="Held-out activating contexts drawn per activation level.")
    contexts_per_prompt: int = Field(default=5, ge=1, description="Excerpts judged in one request (delphi: 5).")


def by_level(contexts: Sequence[Context]) -> dict[int, list[Context]]:
    """Held-out contexts above the sampler's threshold (level >= 0, the same rule for every unit), by level."""
    groups: dict[int, list[Context]] = defaultdict(list)
    for c in contexts:
        if c.tokens and c.level >= 0 and c.max_activation > 0:
            groups[c.level].append(c)
    return groups


def draw_per_level(samples_heldout: Sequence[Context], k: int, rng: np.random.Generator) -> list[Context]:
    """Up to k activating contexts from every activation level (seeded, levels in order)."""
    out: list[Context] = []
    for _, cs in sorted(by_level(samples_heldout).items()):
        out += [cs[i] for i in sorted(rng.choice(len(cs), size=min(k, len(cs)), replace=False))]
    return out


class ClassifierScorer(Scorer):
    """A judge says yes/no per excerpt; metrics: balanced accuracy, F1, AUROC (logprobs), recall per level."""

    prompt_id: str
    salt: int

    def select(self, inp: ScoreInput, config: ClassifierConfig, rng: np.random.Generator) -> list[Shown]:
        raise NotImplementedError

    def _shown(self, inp: ScoreInput, config: ClassifierConfig, seed: int) -> list[Shown]:
        rng = np.random.default_rng([seed, inp.samples.unit.index, self.salt])
        shown = self.select(inp, config, rng)
        return [shown[i] for i in rng.permutation(len(shown))]

    def plan(self, inp: ScoreInput, config: ClassifierConfig, seed: int, capabilities=None) -> list[PlannedCall]:
        spec = load_prompt(self.prompt_id, stage=self.stage)
        text = inp.explanation_text or "x" * 60
        if inp.foreign is None and self.wants_foreign(inp.negatives):  # dry run: no pool yet
            inp = replace(inp, foreign=stand_in_foreign(inp.samples))
        logprobs = bool(capabilities and capabilities.logprobs)
        return [
            PlannedCall(chunk_request(spec, text, ch, logprobs=logprobs, temperature=config.temperature), 4 * len(ch))
            for ch in chunks(self._shown(inp, config, seed), config.contexts_per_prompt)
        ]

    async def score(self, inp: ScoreInput, backend: Backend | None, config: ClassifierConfig, seed: int) -> ScoreResult:
        assert backend is not None
        spec = load_prompt(self.prompt_id, stage=self.stage)
        prov = provenance(spec, backend, config, seed)
        base = {"unit": inp.samples.unit, "scorer": self.name, "primary": "balanced_accuracy"}
        text = inp.explanation_text
        if text is None:
            return ScoreResult(ok=False, error="no explanation to score", provenance=prov, **base)
        shown = self._shown(inp, config, seed)
        if not any(s.label for s in shown) or all(s.label for s in shown):
            return ScoreResult(ok=False, error="needs held-out items of both classes", explanation=text,
                               provenance=prov, **base)
        out = await judge_all(backend, spec, text, shown, per_prompt=config.contexts_per_prompt,
                              max_retries=config.max_retries, temperature=config.temperature)
        items = tuple(out.items)
        error = None
        if out.backend_error:
            error = f"backend error: {out.backend_error}"
        elif not any(i.ok for i in items):
            error = f"no item could be judged: {items[0].error}"
        return ScoreResult(
            ok=error is None, error=error, explanation=text, metrics=metrics.classifier_metrics(items), items=items,
            provenance=provenance(spec, backend, config, seed, model=out.model), usage=out.usage, **base,
        )
