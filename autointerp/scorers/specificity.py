"""The 0-3 specificity scorer (the Scaling Monosemanticity rubric) over held-out contexts.

Held-out contexts are drawn from every activation level (``per_level`` each,
seeded) plus ``n_random`` random windows, shuffled, and asked
``contexts_per_prompt`` at a time with ids ``c1..cN``. The highlighted token is
the unit's max-activating token; in a window below the threshold (level -1) it is
a seeded random token (see ``rubrics/specificity.yaml``, notes). Missing or invalid scores
are re-asked for those ids only, then recorded as failed judgements.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from autointerp.backends.base import Backend, LLMRequest, Message
from autointerp.errors import BackendError, BudgetExceeded, ConfigError
from autointerp.judging import render
from autointerp.judging.parsers import IdScores
from autointerp.judging.prompts import PromptSpec, build_request, load_prompt, provenance
from autointerp.scorers.base import StageScorer, register
from autointerp.scorers.records import Metric, ScoreSummary
from autointerp.types import Context, Explanation, Record, RubricJudgement, RubricResult, UnitSamples, Usage


class RubricConfig(BaseModel):
    """Parameters of the specificity stage (all part of its config hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    prompt: str = Field(default="specificity", description="Prompt file id (in rubrics/) or path to a .yaml file.")
    per_level: int = Field(default=2, ge=0, description="Held-out activating contexts drawn per activation level.")
    n_random: int = Field(default=4, ge=0, description="Held-out random windows drawn (uniform, any activation).")
    contexts_per_prompt: int = Field(default=5, ge=1, description="Contexts rated in one request.")
    max_retries: int = Field(default=2, ge=0, description="Re-asks for missing/invalid scores (those ids only).")
    max_tokens: int = Field(default=200, ge=16, description="Answer length limit (tokens).")
    temperature: float = Field(default=0.0, ge=0.0)


@dataclass(frozen=True)
class RatedItem:
    """A held-out context with the token position shown highlighted."""

    context: Context
    highlight: int


def select_items(samples: UnitSamples, config: RubricConfig, rng: np.random.Generator) -> list[RatedItem]:
    """Seeded draw by kind, the same for every unit: ``per_level`` of the activating (top/quantile) contexts of
    each level, plus ``n_random`` of the random windows (uniform, whatever their level); seeded shuffled order.

    The highlight is the max-activation token of an activating window (level >= 0), a seeded random token of a
    window below the threshold (level -1).
    """
    groups: dict[int, list[Context]] = defaultdict(list)
    randoms: list[Context] = []
    for c in samples.heldout_contexts():
        if c.tokens:
            (randoms if c.kind == "random" else groups[c.level]).append(c)
    chosen: list[Context] = []
    for cs, k in [*((cs, config.per_level) for _, cs in sorted(groups.items())), (randoms, config.n_random)]:
        chosen += [cs[i] for i in sorted(rng.choice(len(cs), size=min(k, len(cs)), replace=False))]
    items = [RatedItem(c, c.argmax if c.level >= 0 else int(rng.integers(len(c.tokens)))) for c in chosen]
    return [items[i] for i in rng.permutation(len(items))]


def render_user(spec: PromptSpec, explanation: str, items: Sequence[tuple[str, Sequence[str], int]]) -> str:
    blocks = [render.context_block(cid, render.highlight(tokens, [hl])) for cid, tokens, hl in items]
    return spec.user_template.format(
        explanation=render.safe_text(explanation), contexts="\n\n".join(blocks), n_contexts=len(blocks)
    ).strip()


def _example_turns(spec: PromptSpec) -> list[tuple[str, str]]:
    turns = []
    for ex in spec.examples:
        items = [(f"c{k}", c.tokens, c.highlight or 0) for k, c in enumerate(ex.contexts, 1)]
        turns.append((render_user(spec, ex.explanation or "", items), (ex.assistant or "").strip()))
    return turns


def _judgement(item: RatedItem, score: int | None = None, error: str | None = None) -> RubricJudgement:
    c = item.context
    return RubricJudgement(
        context_id=c.context_id,
        window_index=c.window_index,
        kind=c.kind,
        true_activation=c.max_activation,
        level=c.level,
        score=score,
        ok=error is None,
        error=error,
    )


@dataclass
class _ChunkOutcome:
    judgements: list[RubricJudgement]
    usage: Usage
    model: str
    backend_error: str | None = None


async def _rate_chunk(
    backend: Backend, spec: PromptSpec, parser: IdScores, explanation: str, items: list[RatedItem],
    config: RubricConfig, examples: list[tuple[str, str]],
) -> _ChunkOutcome:
    by_id = {f"c{k}": item for k, item in enumerate(items, 1)}
    request: LLMRequest = build_request(
        spec,
        examples,
        render_user(spec, explanation, [(cid, it.context.tokens, it.highlight) for cid, it in by_id.items()]),
        max_tokens=config.max_tokens,
        temperature=config.temperature,
    )
    scores: dict[str, int] = {}
    problems: dict[str, str] = {cid: "not asked" for cid in by_id}
    usage, model = Usage(), ""
    try:
        for _ in range(config.max_retries + 1):
            response = await backend.complete(request)
            usage, model = usage + response.usage, response.model or model
            parsed = parser.parse(response.text, list(problems))
            scores.update(parsed.values)
            problems = dict(parsed.problems)
            if not problems:
                break
            error = "; ".join(f"{cid}: {why}" for cid, why in problems.items())
            follow_up = (
                Message(role="assistant", content=response.text or "(empty)"),
                Message(role="user", content=spec.retry_template.format(error=error).strip()),
            )
            request = request.model_copy(update={"messages": request.messages + follow_up})
    except BudgetExceeded:
        raise
    except BackendError as exc:
        failed = [_judgement(it, error=f"backend error: {exc}") for cid, it in by_id.items() if cid not in scores]
        done = [_judgement(by_id[cid], score=s) for cid, s in scores.items()]
        return _ChunkOutcome(done + failed, usage, model, backend_error=str(exc))
    judgements = [
        _judgement(it, score=scores[cid])
        if cid in scores
        else _judgement(it, error=f"no valid score after {config.max_retries + 1} attempt(s): {problems[cid]}")
        for cid, it in by_id.items()
    ]
    return _ChunkOutcome(judgements, usage, model)


async def score_specificity(
    samples: UnitSamples, explanation: Explanation, backend: Backend, config: RubricConfig, seed: int = 0
) -> RubricResult:
    """Rate held-out contexts 0-3 against the explanation. Only BudgetExceeded raises."""
    spec = load_prompt(config.prompt, stage="specificity")
    prov = provenance(spec, backend, config, seed)
    if not explanation.ok or not explanation.text:
        return RubricResult(unit=samples.unit, ok=False, error="no explanation to score", provenance=prov)
    items = select_items(samples, config, np.random.default_rng([seed, samples.unit.index]))
    if not items:
        return RubricResult(
            unit=samples.unit, ok=False, error="no held-out contexts", explanation=explanation.text, provenance=prov
        )
    parser = spec.build_parser()
    if not isinstance(parser, IdScores):  # prompt validation already ties id_scores to this stage
        raise ConfigError(f"prompt {spec.id!r} uses parser {spec.parser.name!r}; the specificity stage needs id_scores")
    examples = _example_turns(spec)
    size = config.contexts_per_prompt
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    outcomes = await asyncio.gather(
        *(_rate_chunk(backend, spec, parser, explanation.text, ch, config, examples) for ch in chunks)
    )
    judgements = tuple(j for o in outcomes for j in o.judgements)
    usage = sum((o.usage for o in outcomes), Usage())
    model = next((o.model for o in outcomes if o.model), "")
    backend_errors = [o.backend_error for o in outcomes if o.backend_error]
    error = None
    if backend_errors:
        error = f"backend error: {backend_errors[0]}"
    elif not any(j.ok for j in judgements):
        error = f"no context could be rated: {judgements[0].error}"
    return RubricResult(
        unit=samples.unit,
        ok=error is None,
        error=error,
        explanation=explanation.text,
        judgements=judgements,
        provenance=provenance(spec, backend, config, seed, model=model),
        usage=usage,
    )


@register
class Specificity(StageScorer):
    name = "specificity"
    description = "0-3 rubric of how precisely the explanation picks out highlighted held-out tokens, every level"
    reference = "Templeton et al. 2024, 'Scaling Monosemanticity' (specificity rubric)"
    stage = "rubric"
    config_field = "rubric"

    stage_fn = score_specificity

    def summarise(self, record: Record) -> ScoreSummary:
        """Headline ``mean_specificity`` (activating contexts only); ``mean_score_random`` and ``mean_score_all``
        under their own names. A 0-3 rating has no chance level: compare with ``mean_score_random``."""
        assert isinstance(record, RubricResult)
        n_act, n_rand = len(record.scores_of(random=False)), len(record.scores_of(random=True))
        metrics = (
            Metric(name="mean_specificity", value=record.mean_specificity, n=n_act),
            Metric(name="mean_score_random", value=record.mean_score_random, n=n_rand),
            Metric(name="mean_score_all", value=record.mean_score_all, n=n_act + n_rand),
        )
        return self.summary(record, "mean_specificity", metrics)
