"""SAEBench's autointerp protocol as a named preset, so a number can be put beside SAEBench's and Neuronpedia's.

1. Explain: 10 top explain-split contexts (strongest first) + 5 importance-weighted ones (drawn with
   probability proportional to their max activation from the other activating explain contexts), with
   the tokens above ``act_threshold_frac`` x the unit's max marked. One short sentence.
2. Score: 14 held-out documents, shuffled: 2 top, 2 importance-weighted, 10 random. The judge lists
   the numbers it believes active; a document is active if its max activation exceeds the threshold.
   Score = fraction of the 14 classified correctly. Answering "None" scores (number inactive) / 14,
   10/14 with the defaults: that chance floor is reported with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.errors import BackendError, BudgetExceeded
from autointerp.judging import render
from autointerp.judging.prompts import PromptSpec, ask, build_request, load_prompt, provenance
from autointerp.scorers.base import PlannedCall, ScoreInput, Scorer, ScorerConfig, register
from autointerp.scorers.records import Metric, ScoreItem, ScoreResult
from autointerp.types import Context, Usage

SALT = 303


class SaebenchConfig(ScorerConfig):
    """SAEBench autointerp settings (defaults are SAEBench's)."""

    explain_prompt: str = Field(default="saebench-explain", description="Prompt file of the explainer step.")
    prompt: str = Field(default="saebench", description="Prompt file of the scoring step.")
    n_top_explain: int = Field(default=10, ge=1, description="Top contexts shown to the explainer.")
    n_iw_explain: int = Field(default=5, ge=0, description="Importance-weighted contexts shown to the explainer.")
    n_top_score: int = Field(default=2, ge=0, description="Top held-out documents in the scoring set.")
    n_iw_score: int = Field(default=2, ge=0, description="Importance-weighted held-out documents in the scoring set.")
    n_random_score: int = Field(default=10, ge=0, description="Random held-out documents in the scoring set.")
    act_threshold_frac: float = Field(default=0.01, ge=0, lt=1, description="Active: > this fraction of unit max.")
    explain_max_tokens: int = Field(default=60, ge=8, description="Answer limit of the explainer step.")


def _iw(pool: Sequence[Context], k: int, rng: np.random.Generator) -> list[Context]:
    """k contexts drawn without replacement with probability proportional to max activation."""
    weights = np.array([max(c.max_activation, 0.0) for c in pool], dtype=float)
    k = min(k, int((weights > 0).sum()))
    if k <= 0:
        return []
    idx = rng.choice(len(pool), size=k, replace=False, p=weights / weights.sum())
    return [pool[i] for i in sorted(idx.tolist(), key=lambda i: -pool[i].max_activation)]


def explain_contexts(inp: ScoreInput, config: SaebenchConfig, rng: np.random.Generator) -> list[Context]:
    active = [c for c in inp.samples.explain_contexts() if c.tokens and c.max_activation > 0]
    top = sorted((c for c in active if c.kind == "top"), key=lambda c: -c.max_activation)[: config.n_top_explain]
    chosen = {c.context_id for c in top}
    return top + _iw([c for c in active if c.context_id not in chosen], config.n_iw_explain, rng)


def score_contexts(inp: ScoreInput, config: SaebenchConfig, rng: np.random.Generator) -> list[Context]:
    held = [c for c in inp.samples.heldout_contexts() if c.tokens]
    tops = [c for c in held if c.kind == "top" and c.max_activation > 0]
    top = [tops[i] for i in sorted(rng.choice(len(tops), size=min(config.n_top_score, len(tops)), replace=False))]
    chosen = {c.context_id for c in top}
    iw = _iw([c for c in held if c.max_activation > 0 and c.context_id not in chosen], config.n_iw_score, rng)
    rand = [c for c in held if c.kind == "random"]
    rnd = [rand[i] for i in sorted(rng.choice(len(rand), size=min(config.n_random_score, len(rand)), replace=False))]
    out = top + iw + rnd
    return [out[i] for i in rng.permutation(len(out))]


def _marks(c: Context, threshold: float) -> list[int]:
    return [i for i, a in enumerate(c.activations) if a > threshold]


def numbered(contexts: Sequence[Context], threshold: float | None) -> str:
    """SAEBench's listing: '1. text' per document, marks only in the explainer step."""
    return "\n".join(
        f"{k}. {render.highlight(c.tokens, _marks(c, threshold) if threshold is not None else [])}"
        for k, c in enumerate(contexts, 1)
    )


def score_request(
    spec: PromptSpec, explanation: str, contexts: Sequence[Context], example: Sequence[int], config: SaebenchConfig
) -> LLMRequest:
    user = spec.user_template.format(
        explanation=render.safe_text(explanation), contexts=numbered(contexts, None), n_contexts=len(contexts),
        example_answer=", ".join(map(str, example)),
    ).strip()
    return build_request(spec, [], user, max_tokens=4 * len(contexts) + 8, temperature=config.temperature)


@register
class Saebench(Scorer):
    name = "saebench"
    description = "SAEBench autointerp preset: own explanation, judge lists active docs among 14 (accuracy, floor 10/14)"
    reference = "Karvonen et al. 2025, 'SAEBench' (sae_bench/evals/autointerp)"
    stage = "saebench"
    config_field = "saebench"
    needs_explanation = False

    def _draws(self, inp: ScoreInput, config: SaebenchConfig, seed: int):
        """Every seeded choice of the protocol, in a fixed order: explain set, scoring set, example answer."""
        rng = np.random.default_rng([seed, inp.samples.unit.index, SALT])
        spec_e = load_prompt(config.explain_prompt, stage="saebench_explain")
        shown = explain_contexts(inp, config, rng)
        threshold = config.act_threshold_frac * inp.samples.stats.max_activation
        user = spec_e.user_template.format(contexts=numbered(shown, threshold)).strip()
        req_e = build_request(spec_e, [], user, max_tokens=config.explain_max_tokens, temperature=config.temperature)
        contexts = score_contexts(inp, config, rng)
        n_correct = config.n_top_score + config.n_iw_score
        example = sorted(rng.choice(np.arange(1, len(contexts) + 1), size=min(n_correct, len(contexts)),
                                    replace=False).tolist()) if contexts else []
        return spec_e, shown, req_e, contexts, example

    def plan(self, inp: ScoreInput, config: SaebenchConfig, seed: int, capabilities=None) -> list[PlannedCall]:
        _, _, req_e, contexts, example = self._draws(inp, config, seed)
        spec = load_prompt(config.prompt, stage="saebench")
        return [PlannedCall(req_e, 25), PlannedCall(score_request(spec, "x" * 100, contexts, example, config), 12)]

    async def score(self, inp: ScoreInput, backend: Backend | None, config: SaebenchConfig, seed: int) -> ScoreResult:
        assert backend is not None
        spec_e, shown, req_e, contexts, example = self._draws(inp, config, seed)
        spec = load_prompt(config.prompt, stage="saebench")
        prov = provenance(spec, backend, config, seed)
        base = {"unit": inp.samples.unit, "scorer": self.name, "primary": "accuracy"}
        if not shown:
            return ScoreResult(ok=False, error="no activating explain contexts", provenance=prov, **base)
        if not contexts:
            return ScoreResult(ok=False, error="no held-out contexts", provenance=prov, **base)
        threshold = config.act_threshold_frac * inp.samples.stats.max_activation
        e_parser, s_parser = spec_e.build_parser(), spec.build_parser()
        usage, model = Usage(), ""
        try:
            expl = await ask(backend, req_e, lambda r: e_parser.parse(r.text), retries=config.max_retries,
                             retry_template=spec_e.retry_template)
            usage, model = usage + expl.usage, expl.model
            if expl.value is None:
                return ScoreResult(ok=False, error=f"explainer: {expl.error}", provenance=prov, usage=usage, **base)

            def parse(r: LLMResponse) -> tuple[int, ...]:
                return s_parser.parse(r.text, len(contexts))

            answer = await ask(backend, score_request(spec, expl.value, contexts, example, config), parse,
                               retries=config.max_retries, retry_template=spec.retry_template)
        except BudgetExceeded:
            raise
        except BackendError as exc:
            return ScoreResult(ok=False, error=f"backend error: {exc}", provenance=prov, usage=usage, **base)
        usage, model = usage + answer.usage, answer.model or model
        prov = provenance(spec, backend, config, seed, model=model)
        if answer.value is None:
            return ScoreResult(ok=False, error=f"judge: {answer.error}", explanation=expl.value, provenance=prov,
                               usage=usage, **base)
        chosen = set(answer.value)
        items = tuple(
            ScoreItem(item_id=str(k), context_ids=(c.context_id,), kind=c.kind, level=c.level,
                      true_activation=c.max_activation, label=c.max_activation > threshold, predicted=k in chosen,
                      answer="listed" if k in chosen else "not listed")
            for k, c in enumerate(contexts, 1)
        )
        floor = sum(not i.label for i in items) / len(items)
        acc = sum(i.predicted == i.label for i in items) / len(items)
        return ScoreResult(
            ok=True, explanation=expl.value, metrics=(Metric(name="accuracy", value=acc, chance=floor, n=len(items)),),
            items=items, provenance=prov, usage=usage, **base,
        )
