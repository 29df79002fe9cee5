"""Intruder (explanation-free; Paulo & Belrose 2025, after delphi's intruder scorer).

Each of ``n_trials`` trials shows ``n_activating`` held-out activating contexts of the unit, all from one
activation level (levels taken in turn), with the tokens where it fires marked, plus one intruder: a
context where another unit of the same basis fires and this one is silent (checked by a forward pass),
with that unit's tokens marked; the intruder's position is a seeded draw. The judge names the intruder.
Accuracy against chance 1 / (n_activating + 1): the judge picks one of n_activating + 1 excerpts. With ``negatives: neighbours`` intruders come from the
units nearest in decoder direction (harder); otherwise from randomly chosen other units.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.errors import BackendError, BudgetExceeded
from autointerp.judging import render
from autointerp.judging.prompts import PromptSpec, ask, build_request, load_prompt, provenance
from autointerp.scorers import metrics
from autointerp.scorers.base import (
    PlannedCall,
    ScoreInput,
    Scorer,
    ScorerConfig,
    register,
    stand_in_foreign,
    too_rare,
)
from autointerp.scorers.classifier import ContextSelection, by_level, quantile_groups
from autointerp.scorers.fuzzing import active_positions, delphi_wrong_marks
from autointerp.scorers.records import ForeignContext, ScoreItem, ScoreResult
from autointerp.types import Context, Usage

SALT = 505


class IntruderConfig(ScorerConfig, ContextSelection):
    """Parameters of the intruder scorer (a trial's activating contexts come from one level or quantile; with
    quantiles, strongest first, taken in turn)."""

    prompt: str = Field(default="intruder", description="Prompt file id or path.")
    n_activating: int = Field(default=4, ge=1, description="Activating contexts per trial (plus one intruder).")
    n_trials: int = Field(default=5, ge=1, description="Trials per unit.")
    threshold: float = Field(default=0.3, gt=0, le=1, description="Marked: tokens >= threshold x the context's max.")
    max_tokens: int = Field(default=120, ge=8, description="Answer limit (room for a short reasoning).")
    intruder: Literal["foreign", "random"] = Field(
        default="foreign",
        description="'foreign': another unit's context where this one is silent, that unit's tokens marked; "
        "'random' (delphi's default): one of this unit's non-activating held-out windows with random marks, as many "
        "as the shown contexts' mean number of firing tokens (rounded down), placed as delphi places wrong marks.",
    )
    failed_as_wrong: bool = Field(
        default=False, description="Count a trial without a readable answer as wrong (delphi) instead of leaving it out.")


class Trial:
    def __init__(self, level: int, contexts: list[tuple[Context, tuple[int, ...]]], intruder: ForeignContext, at: int):
        """``intruder.source_unit`` is -1 for one of the unit's own random windows (``intruder: random``)."""
        self.level, self.intruder, self.at = level, intruder, at
        self.shown = list(contexts)
        self.shown.insert(at, (intruder.context, intruder.source_active))

    @property
    def ids(self) -> list[str]:
        return [f"c{k}" for k in range(1, len(self.shown) + 1)]


def trials(inp: ScoreInput, config: IntruderConfig, seed: int) -> list[Trial]:
    rng = np.random.default_rng([seed, inp.samples.unit.index, SALT])
    if config.intruder == "random":
        silent = [c for c in inp.samples.heldout_contexts(("random",)) if c.tokens and c.level < 0]
        foreign = [ForeignContext(context=c, source_unit=-1, similarity=0.0, source_active=()) for c in silent]
    else:
        foreign = list(inp.foreign.contexts) if inp.foreign is not None else []
    if config.selection == "quantiles":  # numbered from the weakest, like levels, so the strongest comes first
        qs = quantile_groups(inp.samples.heldout_contexts(), config.n_quantiles)
        groups = {len(qs) - 1 - q: cs for q, cs in enumerate(qs) if len(cs) >= config.n_activating}
    else:
        groups = {lv: cs for lv, cs in by_level(inp.samples.heldout_contexts()).items() if len(cs) >= config.n_activating}
    if not groups:  # too few per level: draw from all activating contexts together
        pooled = [c for cs in by_level(inp.samples.heldout_contexts()).values() for c in cs]
        groups = {-1: pooled} if len(pooled) >= config.n_activating else {}
    if not groups or not foreign:
        return []
    if inp.negatives == "neighbours" and config.intruder == "foreign":
        order = list(range(len(foreign)))  # nearest source units first
    else:
        order = rng.permutation(len(foreign)).tolist()
    levels = sorted(groups, reverse=True)
    out = []
    for t in range(config.n_trials):
        lv = levels[t % len(levels)]
        cs = groups[lv]
        pick = sorted(rng.choice(len(cs), size=config.n_activating, replace=False).tolist())
        shown = [(cs[i], active_positions(cs[i], config.threshold)) for i in pick]
        intruder = foreign[order[t % len(order)]]
        if config.intruder == "random":
            fired = sum(sum(1 for a in c.activations if a > 0) for c, _ in shown) // len(shown)
            marks = delphi_wrong_marks([0.0] * len(intruder.context.tokens), fired, config.threshold)
            intruder = intruder.model_copy(update={"source_active": marks})
        out.append(Trial(lv, shown, intruder, int(rng.integers(config.n_activating + 1))))
    return out


def render_user(spec: PromptSpec, shown: Sequence[tuple[Sequence[str], Sequence[int]]]) -> str:
    blocks = [render.context_block(f"c{k}", render.highlight(t, m)) for k, (t, m) in enumerate(shown, 1)]
    return spec.user_template.format(contexts="\n\n".join(blocks), n_contexts=len(blocks)).strip()


def example_turns(spec: PromptSpec) -> list[tuple[str, str]]:
    return [
        (render_user(spec, [(c.tokens, [i for i, a in enumerate(c.activations or ()) if a > 0]) for c in ex.contexts]),
         (ex.assistant or "").strip())
        for ex in spec.examples
    ]


def trial_request(spec: PromptSpec, trial: Trial, config: IntruderConfig) -> LLMRequest:
    user = render_user(spec, [(c.tokens, marks) for c, marks in trial.shown])
    return build_request(spec, example_turns(spec), user, max_tokens=config.max_tokens, temperature=config.temperature)


@register
class Intruder(Scorer):
    name = "intruder"
    description = "explanation-free: judge finds the one other unit's context among k of this one's (chance 1/(k+1))"
    reference = "Paulo & Belrose 2025, 'Evaluating SAE interpretability without explanations'"
    stage = "intruder"
    config_field = "intruder"
    needs_explanation = False
    uses_foreign = True
    chance_rules: ClassVar[dict[str, str]] = {"accuracy": "1 / (n_activating + 1): one of the shown excerpts, intruder included"}

    def plan(self, inp: ScoreInput, config: IntruderConfig, seed: int, capabilities=None) -> list[PlannedCall]:
        spec = load_prompt(config.prompt, stage="intruder")
        if too_rare(inp, config.min_active_windows):
            return []
        if inp.foreign is None:  # a dry run has no pool yet: stand-ins shaped like the unit's own contexts
            inp = replace(inp, foreign=stand_in_foreign(inp.samples))
        return [PlannedCall(trial_request(spec, t, config), 30) for t in trials(inp, config, seed)]

    async def _one(self, backend: Backend, spec: PromptSpec, k: int, trial: Trial, config: IntruderConfig):
        parser = spec.build_parser()

        def parse(r: LLMResponse) -> str:
            return parser.parse(r.text, trial.ids)  # type: ignore[attr-defined]

        answer = await ask(backend, trial_request(spec, trial, config), parse, retries=config.max_retries,
                           retry_template=spec.retry_template)
        right = f"c{trial.at + 1}"
        acts = [c.max_activation for c, _ in trial.shown if c is not trial.intruder.context]
        item = ScoreItem(
            item_id=f"t{k}", context_ids=tuple(c.context_id for c, _ in trial.shown), kind="quantile" if
            trial.level >= 0 else "top", level=trial.level, true_activation=float(np.mean(acts)),
            source=f"unit:{trial.intruder.source_unit}" if trial.intruder.source_unit >= 0 else "random", label=True,
            predicted=None if answer.value is None else answer.value == right, answer=answer.value,
            ok=answer.value is not None, error=answer.error,
        )
        return item, answer.usage, answer.model

    async def score(self, inp: ScoreInput, backend: Backend | None, config: IntruderConfig, seed: int) -> ScoreResult:
        assert backend is not None
        spec = load_prompt(config.prompt, stage="intruder")
        prov = provenance(spec, backend, config, seed)
        base = {"unit": inp.samples.unit, "scorer": self.name, "primary": "accuracy"}
        rare = too_rare(inp, config.min_active_windows)
        if rare:
            return ScoreResult(ok=False, error=rare, provenance=prov, **base)
        ts = trials(inp, config, seed)
        if not ts:
            silent = [c for c in inp.samples.heldout_contexts(("random",)) if c.tokens and c.level < 0]
            if config.intruder == "random" and not silent:
                why = "the unit is active in every held-out random window"
            elif config.intruder == "foreign" and (inp.foreign is None or not inp.foreign.contexts):
                why = "no other unit's context is silent for this unit"
            else:
                why = f"fewer than {config.n_activating} activating held-out contexts"
            return ScoreResult(ok=False, error=f"no intruder trial possible: {why}", provenance=prov, **base)
        try:
            done = await asyncio.gather(*(self._one(backend, spec, k, t, config) for k, t in enumerate(ts, 1)))
        except BudgetExceeded:
            raise
        except BackendError as exc:
            return ScoreResult(ok=False, error=f"backend error: {exc}", provenance=prov, **base)
        items = tuple(i for i, _, _ in done)
        usage = sum((u for _, u, _ in done), Usage())
        model = next((m for _, _, m in done if m), "")
        m = metrics.intruder_accuracy(items, n_shown=config.n_activating + 1,  # the excerpts and the intruder
                                      failed_as_wrong=config.failed_as_wrong)
        error = None if any(i.ok for i in items) else f"no trial answered: {items[0].error}"
        return ScoreResult(ok=error is None, error=error, metrics=(m,), items=items,
                           provenance=provenance(spec, backend, config, seed, model=model), usage=usage, **base)
