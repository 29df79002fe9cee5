"""``--dry-run``: how many LLM requests a run will send, roughly how many tokens, and what it will cost.

Counts come from the stages' own context selection (the same seeded choices the
run makes); prompt sizes are estimated as 4 characters per token from the prompt
files and the rendered contexts. Retries are not included (they only happen on
failures). Units already finished in the store are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autointerp.backends import PriceTable
from autointerp.backends.base import LLMRequest
from autointerp.judging import explain as explain_stage
from autointerp.judging.prompts import load_prompt
from autointerp.registry import Registry
from autointerp.runs.config import STAGE_FIELDS, RunConfig
from autointerp.runs.store import RunStore
from autointerp.scorers import simulation as simulate_stage
from autointerp.scorers import specificity as rubric_stage
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.orchestrate import judge_stages, scorer_of_stage, stage_backend_spec
from autointerp.types import Context, UnitSamples

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class StagePlan:
    stage: str
    backend: str
    units: int
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: the model is not in the price table

    def line(self) -> str:
        cost = (
            "free (local)"
            if self.backend.startswith("local")
            else ("unknown price" if self.cost_usd is None else f"${self.cost_usd:.4f}")
        )
        return (
            f"{self.stage:<9} {self.backend:<40} units {self.units:>5}  requests {self.requests:>6}  "
            f"~in {self.input_tokens:>9,} tok  ~out {self.output_tokens:>8,} tok  {cost}"
        )


def _ctx_tokens(contexts: list[Context]) -> int:
    # each token renders as its text plus a separator / activation mark: about 2 tokens per subject token
    return sum(2 * len(c.tokens) for c in contexts)


def _prompt_tokens(ref: str) -> int:
    spec = load_prompt(ref)
    return len(spec.model_dump_json()) // CHARS_PER_TOKEN


Estimate = tuple[int, int, int]  # (requests, input tokens, output tokens) for one unit
ESTIMATORS: Registry[Callable[[UnitSamples, RunConfig, np.random.Generator], Estimate]] = Registry("stage")


@ESTIMATORS.register("explain")
def _explain(us: UnitSamples, config: RunConfig, rng: np.random.Generator) -> Estimate:
    ctx = explain_stage.select_contexts(us, config.explain, rng)
    return 1, _prompt_tokens(config.explain.prompt) + _ctx_tokens(ctx), config.explain.max_tokens // 2


@ESTIMATORS.register("rubric")
def _rubric(us: UnitSamples, config: RunConfig, rng: np.random.Generator) -> Estimate:
    items = rubric_stage.select_items(us, config.rubric, rng)
    n_req = math.ceil(len(items) / config.rubric.contexts_per_prompt)
    return n_req, n_req * _prompt_tokens(config.rubric.prompt) + _ctx_tokens([i.context for i in items]), 4 * len(items)


@ESTIMATORS.register("simulate")
def _simulate(us: UnitSamples, config: RunConfig, rng: np.random.Generator) -> Estimate:
    ctx = simulate_stage.select_contexts(us, config.simulate, rng)
    n_tok = sum(len(c.tokens) for c in ctx)
    if config.backends.simulate.startswith("anthropic"):  # no logprobs: JSON lists, several contexts per request
        n_req = math.ceil(len(ctx) / config.simulate.contexts_per_prompt)
        return n_req, n_req * _prompt_tokens(config.simulate.json_prompt) + 2 * n_tok, 3 * n_tok
    # logprob methods: one all-at-once request per context
    return len(ctx), len(ctx) * _prompt_tokens(config.simulate.lines_prompt) + 2 * n_tok, 3 * n_tok


def request_tokens(request: LLMRequest) -> int:
    """Estimated input tokens of one request: system text and every message, 4 characters per token."""
    return (len(request.system) + sum(len(m.content) for m in request.messages)) // CHARS_PER_TOKEN


def _scorer_estimator(stage: str) -> Callable[[UnitSamples, RunConfig, np.random.Generator], Estimate]:
    """A scorer's requests, built by the scorer's own code (``Scorer.plan``) with a placeholder explanation."""

    def estimate(us: UnitSamples, config: RunConfig, rng: np.random.Generator) -> Estimate:
        scorer = scorer_of_stage(stage)
        inp = ScoreInput(samples=us, negatives=config.negatives)
        calls = scorer.plan(inp, getattr(config, scorer.config_field), config.seed)
        return len(calls), sum(request_tokens(c.request) for c in calls), sum(c.expected_output_tokens for c in calls)

    return estimate


for _stage in ("detection", "fuzzing", "saebench", "embedding", "intruder"):
    ESTIMATORS.add(_stage, _scorer_estimator(_stage))


def _unit_plan(stage: str, us: UnitSamples, config: RunConfig) -> Estimate:
    """(requests, input tokens, output tokens) for one unit, with the stage's own seeded selection."""
    return ESTIMATORS.get(stage)(us, config, np.random.default_rng([config.seed, us.unit.index]))


def plan(config: RunConfig, units: list[UnitSamples]) -> list[StagePlan]:
    store = RunStore(config.run_dir)
    prices = PriceTable.load()
    out = []
    for stage in judge_stages(config):
        done = store.done(stage, config.part_hash(*STAGE_FIELDS[stage]))
        todo = [us for us in units if us.unit.key not in done]
        req = tin = tout = 0
        repeat = 1 if stage == "explain" else config.reseeds  # reseeds repeat every scorer, never the explainer
        for us in todo:
            r, i, o = _unit_plan(stage, us, config)
            req, tin, tout = req + repeat * r, tin + repeat * i, tout + repeat * o
        spec = stage_backend_spec(config, stage) or f"local:{config.embedding.model} (embeddings, no LLM)"
        model = spec.split(":", 1)[-1].split("@", 1)[0]
        price = prices.lookup(model)
        cost = None
        if spec.startswith("local"):
            cost = 0.0
        elif price is not None:
            cost = (tin * price.input + tout * price.output) / 1e6 * (prices.batch_discount if config.llm.batch else 1)
        out.append(StagePlan(stage, spec, len(todo), req, tin, tout, cost))
    return out
