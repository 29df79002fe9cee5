"""Detection and fuzzing share everything but the choice of what to show: this is that shared part."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from autointerp.backends.base import Backend
from autointerp.judging.prompts import PromptSpec, load_prompt, provenance
from autointerp.scorers import metrics
from autointerp.scorers.base import PlannedCall, ScoreInput, Scorer, ScorerConfig, stand_in_foreign, too_rare
from autointerp.scorers.judging import Shown, chunk_request, chunks, judge_all
from autointerp.scorers.records import ScoreResult
from autointerp.types import Context

Selection = Literal["levels", "quantiles"]


class ContextSelection(BaseModel):
    """How a scorer picks its activating test contexts, and which units it scores (detection, fuzzing, intruder and
    embedding alike)."""

    selection: Selection = Field(
        default="levels",
        description="'levels': from every activation level of the sampler; 'quantiles' (delphi): the held-out "
        "activating contexts ranked by max activation, cut into n_quantiles groups of equal count (the weakest "
        "remainder left out), drawn from each group.",
    )
    n_quantiles: int = Field(default=10, ge=1, description="Equal-count groups of selection: quantiles.")
    min_active_windows: int = Field(
        default=0, ge=0, description="Units active in fewer windows of the corpus are not scored (delphi: 200).")


class ClassifierConfig(ScorerConfig, ContextSelection):
    """Parameters shared by detection and fuzzing."""

    prompt: str | None = Field(
        default=None, description="Prompt file id or path (None: the scorer's own, rubrics/<scorer>.yaml).")
    per_level: int = Field(default=2, ge=0, description="Held-out activating contexts drawn per activation level "
                           "(or per quantile, with selection: quantiles).")  # fmt: skip
    contexts_per_prompt: int = Field(default=5, ge=1, description="Excerpts judged in one request (delphi: 5).")
    negatives_replace: bool = Field(
        default=False, description="Draw the non-activating windows with replacement (delphi: a window may repeat).")


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


def quantile_groups(contexts: Sequence[Context], n_quantiles: int) -> list[list[Context]]:
    """delphi's test quantiles: activating contexts (one per window) by max activation, strongest first, cut into
    n_quantiles groups of len // n_quantiles (the weakest len % n_quantiles are in none).

    Ranked are the sampler's top and level contexts (its uniform random windows are a separate draw and left
    out). With ``bins: quantile`` the level contexts are a uniform sample of the active windows that are not
    top-k, so a small ``sampler.top_k`` (the delphi preset: 1) keeps the ranking close to the corpus's."""
    seen: set[int] = set()
    active = []
    for c in contexts:
        if c.kind != "random" and c.tokens and c.max_activation > 0 and c.level >= 0 and c.window_index not in seen:
            seen.add(c.window_index)
            active.append(c)
    ranked = sorted(active, key=lambda c: (-c.max_activation, c.window_index))
    size = len(ranked) // n_quantiles
    return [ranked[i * size : (i + 1) * size] for i in range(n_quantiles)]


def draw_quantiles(contexts: Sequence[Context], n_quantiles: int, k: int, rng: np.random.Generator) -> list[Context]:
    """Up to k contexts from each of delphi's equal-count quantiles (seeded, strongest quantile first)."""
    out: list[Context] = []
    for group in quantile_groups(contexts, n_quantiles):
        out += [group[i] for i in sorted(rng.choice(len(group), size=min(k, len(group)), replace=False))]
    return out


def draw_test(contexts: Sequence[Context], selection: Selection, n_quantiles: int, k: int,
              rng: np.random.Generator) -> list[Context]:
    """The activating test contexts: k per sampler level, or k per equal-count quantile (delphi)."""
    if selection == "quantiles":
        return draw_quantiles(contexts, n_quantiles, k, rng)
    return draw_per_level(contexts, k, rng)


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

    def prompt(self, config: ClassifierConfig) -> PromptSpec:
        return load_prompt(config.prompt or self.prompt_id, stage=self.stage)

    def plan(self, inp: ScoreInput, config: ClassifierConfig, seed: int, capabilities=None) -> list[PlannedCall]:
        spec = self.prompt(config)
        if too_rare(inp, config.min_active_windows):
            return []
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
        spec = self.prompt(config)
        prov = provenance(spec, backend, config, seed)
        base = {"unit": inp.samples.unit, "scorer": self.name, "primary": "balanced_accuracy"}
        text = inp.explanation_text
        if text is None:
            return ScoreResult(ok=False, error="no explanation to score", provenance=prov, **base)
        rare = too_rare(inp, config.min_active_windows)
        if rare:
            return ScoreResult(ok=False, error=rare, explanation=text, provenance=prov, **base)
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
