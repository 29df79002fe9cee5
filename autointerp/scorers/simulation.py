"""The simulator: predict every token's activation (0-10) of held-out contexts from the explanation alone.

Score = Pearson r between predicted and true activations pooled over all tokens
of the unit's simulated contexts (OpenAI's all-at-once score), plus one r per
context. The method is picked from the backend's capabilities through
:data:`METHODS` (highest priority that the backend supports):

* ``logprobs-all-at-once`` (prompt_logprobs): one teacher-forced request per context,
  candidate logprobs of the digits "0".."9" after every token; prediction = expected
  value, rescaled to 0-10 (the digit scale keeps every candidate a single token).
* ``logprobs-generated`` (logprobs): the model writes ``token<TAB>value`` lines;
  the expected value is read from the top logprobs at each value position.
* ``json-list`` (any backend): a JSON list of integers per context id, checked
  for length and range; re-asked, then the unit fails. Nothing is coerced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from autointerp.backends.base import Backend, Capabilities, LLMRequest, LLMResponse, Message
from autointerp.errors import BackendError, BudgetExceeded, ConfigError
from autointerp.judging import render
from autointerp.judging.parsers import JsonLists, ParseError, TokenLines
from autointerp.judging.prompts import PromptSpec, ask, build_request, load_prompt, provenance
from autointerp.registry import Registry
from autointerp.scorers.base import StageScorer, register
from autointerp.scorers.metrics import expected_value, pearson
from autointerp.scorers.records import Metric, ScoreSummary
from autointerp.types import Context, ContextSimulation, Explanation, Record, Simulation, UnitSamples, Usage


class SimulateConfig(BaseModel):
    """Parameters of the simulation stage (all part of its config hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    lines_prompt: str = Field(default="simulate-lines", description="Prompt file for the two logprob methods.")
    json_prompt: str = Field(default="simulate-json", description="Prompt file for the JSON-list method.")
    method: str | None = Field(default=None, description="Force a method by name; default: best the backend supports.")
    n_top: int = Field(default=5, ge=0, description="Held-out top-activating contexts simulated (strongest first).")
    n_quantile: int = Field(default=0, ge=0, description="Held-out activation-level contexts simulated (seeded).")
    n_random: int = Field(default=5, ge=0, description="Held-out random windows simulated (uniform; seeded).")
    contexts_per_prompt: int = Field(default=5, ge=1, description="Contexts per request (json-list method).")
    top_from: Literal["heldout", "interleaved"] = Field(
        default="heldout", description="'heldout': the held-out split's strongest windows; 'interleaved' (OpenAI's "
        "valid split): the top windows of both splits ranked together and dealt in turn to 4 parts, the simulator "
        "taking the third (ranks 3, 7, 11, ...; the explainer takes the first, explain.top_from).")
    max_retries: int = Field(default=2, ge=0, description="Re-asks after a malformed answer.")
    temperature: float = Field(default=0.0, ge=0.0)


def select_contexts(samples: UnitSamples, config: SimulateConfig, rng: np.random.Generator) -> list[Context]:
    held = [c for c in samples.heldout_contexts() if c.tokens]
    if config.top_from == "interleaved":
        top = samples.interleaved_top(2)[: config.n_top]
    else:
        top = sorted((c for c in held if c.kind == "top"), key=lambda c: -c.max_activation)[: config.n_top]

    def draw(kind: str, k: int) -> list[Context]:
        pool = [c for c in held if c.kind == kind]
        return [pool[i] for i in sorted(rng.choice(len(pool), size=min(k, len(pool)), replace=False))]

    return top + draw("quantile", config.n_quantile) + draw("random", config.n_random)


# --- prompt rendering ---------------------------------------------------------------------------------------------


def render_lines_user(spec: PromptSpec, explanation: str, tokens: Sequence[str]) -> str:
    return spec.user_template.format(
        explanation=render.safe_text(explanation), tokens=render.token_lines(tokens), n_tokens=len(tokens), contexts=""
    ).strip("\n")  # newlines only: the last token line keeps its text exactly


def render_json_user(spec: PromptSpec, explanation: str, contexts: Sequence[tuple[str, Sequence[str]]]) -> str:
    blocks = [render.context_block(cid, f"{len(t)} tokens: {render.token_json(t)}") for cid, t in contexts]
    return spec.user_template.format(
        explanation=render.safe_text(explanation), contexts="\n\n".join(blocks), tokens="", n_tokens=""
    ).strip()


def _example_levels(spec: PromptSpec) -> list[tuple[str, list[tuple[Sequence[str], tuple[int, ...]]]]]:
    return [
        (ex.explanation or "", [(c.tokens, render.normalise(c.activations or (), render.MAX_LEVEL)) for c in ex.contexts])
        for ex in spec.examples
    ]


def lines_examples(spec: PromptSpec, parser: TokenLines) -> list[tuple[str, str]]:
    """Each example context becomes one turn; the ideal answer is rendered from its activations on the parser's scale."""
    return [
        (render_lines_user(spec, ex.explanation or "", c.tokens),
         render.token_lines(c.tokens, render.normalise(c.activations or (), render.MAX_LEVEL, parser.max_value)))
        for ex in spec.examples
        for c in ex.contexts
    ]


def to_level_scale(candidate_logprobs: dict[str, float], parser: TokenLines) -> float:
    """Expected value over the parser's candidates, mapped onto the 0-10 scale of ``ContextSimulation.predicted``."""
    ev = expected_value(candidate_logprobs)
    return render.MAX_LEVEL * (ev - parser.min_value) / (parser.max_value - parser.min_value)


def json_examples(spec: PromptSpec) -> list[tuple[str, str]]:
    turns = []
    for expl, ctxs in _example_levels(spec):
        ids = [f"c{k}" for k in range(1, len(ctxs) + 1)]
        user = render_json_user(spec, expl, [(cid, t) for cid, (t, _) in zip(ids, ctxs)])
        turns.append((user, json.dumps({cid: list(lv) for cid, (_, lv) in zip(ids, ctxs)})))
    return turns


# --- methods ------------------------------------------------------------------------------------------------------


@dataclass
class Job:
    """What a method needs for one unit."""

    backend: Backend
    spec: PromptSpec
    explanation: str
    contexts: list[Context]
    config: SimulateConfig


@dataclass
class Predictions:
    """A method's output: predicted values per context id, or an error per failed context."""

    values: dict[str, tuple[float, ...]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    model: str = ""


class Method:
    """A way to simulate; registered in :data:`METHODS`, chosen by capability and priority."""

    name: ClassVar[str]
    priority: ClassVar[int]
    prompt_field: ClassVar[str]  # SimulateConfig field naming the prompt file
    parser_type: ClassVar[type]
    capability: ClassVar[str | None] = None  # the Capabilities flag it needs; None: any backend
    label: ClassVar[str]  # what every simulation number it produced is labelled with in reports

    def supports(self, caps: Capabilities) -> bool:
        return self.capability is None or bool(getattr(caps, self.capability))

    async def predict(self, job: Job) -> Predictions:
        raise NotImplementedError


METHODS: Registry[Method] = Registry("simulation method")


class _LinesMethod(Method):
    """A logprob method: one all-at-once request per context, with the token-lines prompt. Subclasses say
    which request ``options`` to send and how to read the ``values`` from the backend."""

    parser_type = TokenLines
    prompt_field = "lines_prompt"

    def options(self, job: Job, ctx: Context, parser: TokenLines) -> dict[str, Any]:
        raise NotImplementedError

    async def values(self, job: Job, ctx: Context, parser: TokenLines, request: LLMRequest) -> Predictions:
        raise NotImplementedError

    async def _one(self, job: Job, ctx: Context, parser: TokenLines, examples: list[tuple[str, str]]) -> Predictions:
        user = render_lines_user(job.spec, job.explanation, ctx.tokens)
        request = build_request(job.spec, examples, user, **self.options(job, ctx, parser))
        return await self.values(job, ctx, parser, request)

    async def predict(self, job: Job) -> Predictions:
        parser = job.spec.build_parser()
        examples = lines_examples(job.spec, parser)  # type: ignore[arg-type]
        parts = await asyncio.gather(*(self._one(job, c, parser, examples) for c in job.contexts))  # type: ignore[arg-type]
        return _merge(parts)


class PromptLogprobs(_LinesMethod):
    """OpenAI's estimator: the expected value of each token's level under the prompt's logprobs, one pass."""

    name, priority, capability = "logprobs-all-at-once", 30, "prompt_logprobs"
    label = "expected value from prompt logprobs, all tokens at once (OpenAI's estimator)"

    def options(self, job: Job, ctx: Context, parser: TokenLines) -> dict[str, Any]:
        prefill = render.prefill_segments(ctx.tokens, parser.placeholder)
        return {"prefill": prefill, "candidates": parser.candidates, "max_tokens": 1, "temperature": 0.0}

    async def values(self, job: Job, ctx: Context, parser: TokenLines, request: LLMRequest) -> Predictions:
        response = await job.backend.complete(request)
        out = Predictions(usage=response.usage, model=response.model)
        got = response.candidate_logprobs or ()
        if len(got) != len(ctx.tokens):
            out.errors[ctx.context_id] = f"backend returned {len(got)} candidate sets for {len(ctx.tokens)} tokens"
            return out
        try:
            out.values[ctx.context_id] = tuple(to_level_scale(d, parser) for d in got)
        except ValueError as exc:
            out.errors[ctx.context_id] = f"unusable candidate logprobs: {exc}"
        return out


class GeneratedLogprobs(_LinesMethod):
    """The expected value of each level from the logprobs of the tokens the model generates."""

    name, priority, capability = "logprobs-generated", 20, "logprobs"
    label = "expected value from the logprobs of generated values (not OpenAI's estimator)"

    def options(self, job: Job, ctx: Context, parser: TokenLines) -> dict[str, Any]:
        return {"top_logprobs": 20, "max_tokens": min(8192, 8 * len(ctx.tokens) + 16),
                "temperature": job.config.temperature}  # fmt: skip

    async def values(self, job: Job, ctx: Context, parser: TokenLines, request: LLMRequest) -> Predictions:
        def parse(response: LLMResponse) -> tuple[float, ...]:
            return tuple(to_level_scale(d, parser) for d in parser.parse(response, len(ctx.tokens)))

        answer = await ask(
            job.backend, request, parse, retries=job.config.max_retries, retry_template=job.spec.retry_template
        )
        out = Predictions(usage=answer.usage, model=answer.model)
        if answer.value is None:
            out.errors[ctx.context_id] = answer.error or "unreadable answer"
        else:
            out.values[ctx.context_id] = answer.value
        return out


class JsonList(Method):
    """Integer lists written by the judge: no probabilities, so no expected value."""

    name, priority, prompt_field, parser_type = "json-list", 10, "json_prompt", JsonLists
    label = "integer lists written by the judge, no logprobs (not OpenAI's estimator)"

    async def _chunk(
        self, job: Job, contexts: list[Context], parser: JsonLists, examples: list[tuple[str, str]]
    ) -> Predictions:
        by_id = {f"c{k}": c for k, c in enumerate(contexts, 1)}
        n_total = sum(len(c.tokens) for c in contexts)
        request = build_request(
            job.spec,
            examples,
            render_json_user(job.spec, job.explanation, [(cid, c.tokens) for cid, c in by_id.items()]),
            json_mode=True,
            max_tokens=min(8192, 4 * n_total + 64),
            temperature=job.config.temperature,
        )
        out = Predictions()
        pending = {cid: len(c.tokens) for cid, c in by_id.items()}
        problems: dict[str, str] = {}
        for _ in range(job.config.max_retries + 1):
            response = await job.backend.complete(request)
            out.usage, out.model = out.usage + response.usage, response.model or out.model
            parsed = parser.parse(response.text, pending)
            for cid, values in parsed.values.items():
                out.values[by_id[cid].context_id] = tuple(float(v) for v in values)
            problems = dict(parsed.problems)
            pending = {cid: n for cid, n in pending.items() if cid in problems}
            if not pending:
                break
            error = "; ".join(f"{cid}: {why}" for cid, why in problems.items())
            follow_up = (
                Message(role="assistant", content=response.text or "(empty)"),
                Message(role="user", content=job.spec.retry_template.format(error=error).strip()),
            )
            request = request.model_copy(update={"messages": request.messages + follow_up})
        for cid in pending:
            out.errors[by_id[cid].context_id] = (
                f"no valid list after {job.config.max_retries + 1} attempt(s): {problems[cid]}"
            )
        return out

    async def predict(self, job: Job) -> Predictions:
        parser = job.spec.build_parser()
        examples = json_examples(job.spec)
        size = job.config.contexts_per_prompt
        chunks = [job.contexts[i : i + size] for i in range(0, len(job.contexts), size)]
        parts = await asyncio.gather(*(self._chunk(job, ch, parser, examples) for ch in chunks))  # type: ignore[arg-type]
        return _merge(parts)


for _method in (PromptLogprobs(), GeneratedLogprobs(), JsonList()):
    METHODS.add(_method.name, _method)


def _merge(parts: Sequence[Predictions]) -> Predictions:
    out = Predictions()
    for p in parts:
        out.values.update(p.values)
        out.errors.update(p.errors)
        out.usage = out.usage + p.usage
        out.model = out.model or p.model
    return out


def method_label(name: str) -> str:
    """'<method>: <what it is>' for a stored method name (an unknown or empty one says so)."""
    if not name:
        return "method not recorded"
    return f"{name}: {METHODS.get(name).label}" if name in METHODS else f"{name}: unknown method"


def choose_method(capabilities: Capabilities, forced: str | None = None) -> Method:
    """The forced method (checked against the capabilities), else the highest-priority supported one."""
    if forced:
        method = METHODS.get(forced)
        if not method.supports(capabilities):
            raise ConfigError(f"simulation method {forced!r} is not supported by this backend's capabilities")
        return method
    return max((METHODS.get(n) for n in METHODS if METHODS.get(n).supports(capabilities)), key=lambda m: m.priority)


# --- the stage ----------------------------------------------------------------------------------------------------


def score_contexts(
    contexts: Sequence[Context], values: dict[str, tuple[float, ...]]
) -> tuple[tuple[ContextSimulation, ...], float | None, str | None]:
    """Per-context and pooled Pearson r over the contexts that have predictions."""
    sims, pooled_true, pooled_pred = [], [], []
    for c in contexts:
        if c.context_id not in values:
            continue
        pred = values[c.context_id]
        r, _ = pearson(c.activations, pred)
        sims.append(ContextSimulation(context_id=c.context_id, kind=c.kind, true=c.activations, predicted=pred, correlation=r))
        pooled_true += c.activations
        pooled_pred += pred
    score, note = pearson(pooled_true, pooled_pred)
    return tuple(sims), score, note


async def simulate_unit(
    samples: UnitSamples, explanation: Explanation, backend: Backend, config: SimulateConfig, seed: int = 0
) -> Simulation:
    """Simulate held-out contexts from the explanation and score the prediction. Only BudgetExceeded raises."""
    method = choose_method(backend.capabilities, config.method)
    spec = load_prompt(getattr(config, method.prompt_field), stage="simulate")
    if not isinstance(spec.build_parser(), method.parser_type):
        raise ConfigError(f"prompt {spec.id!r} uses parser {spec.parser.name!r}, which method {method.name!r} cannot use")
    prov = provenance(spec, backend, config, seed)
    base = {"unit": samples.unit, "method": method.name, "provenance": prov}
    if not explanation.ok or not explanation.text:
        return Simulation(ok=False, error="no explanation to simulate", **base)
    contexts = select_contexts(samples, config, np.random.default_rng([seed, samples.unit.index]))
    if not contexts:
        return Simulation(ok=False, error="no held-out contexts", explanation=explanation.text, **base)
    job = Job(backend, spec, explanation.text, contexts, config)
    try:
        pred = await method.predict(job)
    except BudgetExceeded:
        raise
    except BackendError as exc:
        return Simulation(ok=False, error=f"backend error: {exc}", explanation=explanation.text, **base)
    except ParseError as exc:  # defensive: methods report parse problems per context
        return Simulation(ok=False, error=str(exc), explanation=explanation.text, **base)
    base["provenance"] = provenance(spec, backend, config, seed, model=pred.model)
    sims, score, note = score_contexts(contexts, pred.values)
    if pred.errors:
        cid, why = next(iter(pred.errors.items()))
        error = f"{len(pred.errors)} of {len(contexts)} contexts failed; {cid}: {why}"
        return Simulation(
            ok=False, error=error, explanation=explanation.text, contexts=sims, usage=pred.usage, **base
        )
    return Simulation(
        ok=True, explanation=explanation.text, score=score, score_note=note, contexts=sims, usage=pred.usage, **base
    )


@register
class SimulationScorer(StageScorer):
    name = "simulation"
    description = "simulate per-token activations from the explanation; Pearson r with the true ones (all at once)"
    reference = "Bills et al. 2023, 'Language models can explain neurons in language models'"
    stage = "simulate"
    config_field = "simulate"

    stage_fn = simulate_unit

    def summarise(self, record: Record) -> ScoreSummary:
        """``simulation_score`` (the report's name): Pearson r pooled over the unit's tokens, chance 0, labelled
        with the method that produced the predictions."""
        assert isinstance(record, Simulation)
        n = sum(len(c.true) for c in record.contexts)
        m = Metric(name="simulation_score", value=record.score, chance=0.0, n=n, note=record.score_note,
                   method=record.method or None)
        return self.summary(record, "simulation_score", (m,))
