"""The explainer: one LLM call turns a unit's explain-split contexts into a short description.

Contexts shown: the top-k windows (strongest first) plus windows spread over the
activation-level bins (seeded choice, round-robin over levels so every level is
represented), optionally followed by the unit's top promoted/suppressed output
tokens (:class:`LogitTokens`, computed by the caller as decoder direction @
unembedding). Wording comes from a prompt file (default ``rubrics/explain.yaml``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from autointerp.backends.base import Backend, LLMResponse
from autointerp.errors import BackendError, BudgetExceeded
from autointerp.judging import render
from autointerp.judging.prompts import PromptSpec, ask, build_request, load_prompt, provenance
from autointerp.types import Context, Explanation, UnitSamples


class LogitTokens(BaseModel):
    """A unit's strongest direct effects on the next-token logits (decoder direction @ unembedding)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    promoted: tuple[str, ...] = Field(description="Tokens whose logits the unit raises most, strongest first.")
    suppressed: tuple[str, ...] = Field(default=(), description="Tokens whose logits it lowers most, strongest first.")


class ExplainConfig(BaseModel):
    """Parameters of the explain stage (all part of its config hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    prompt: str = Field(default="explain", description="Prompt file id (in rubrics/) or path to a .yaml file.")
    n_top: int = Field(default=10, ge=0, description="Top-activating explain contexts shown, strongest first.")
    n_quantile: int = Field(
        default=10, ge=0, description="Further contexts drawn across activation-level bins (round-robin over levels)."
    )
    n_logit_tokens: int = Field(default=10, ge=0, description="Promoted/suppressed output tokens shown, if given.")
    output_evidence: bool = Field(
        default=False,
        description="Also show TokenChange: the tokens whose next-token probability rises/falls most when the unit "
        "is amplified (needs a decoder subject model; the prompt file's token_change snippet).",
    )
    answer_prefill: str = Field(
        default="",
        description="Forced start of the answer, for backends that continue a prefilled reply (local, anthropic; "
        "openai refuses, visibly). Unset, a local explainer (backends.explain local:...) gets 'Explanation:' so a "
        "small model answers in the prompt's format; set '' to send the prompt as written. The answer is then the prefill plus the first non-blank line of the continuation, checked by the "
        "prompt's parser as usual (words, length); later lines are not part of it.",
    )
    top_from: Literal["explain", "interleaved"] = Field(
        default="explain", description="'explain': the explain split's strongest windows; 'interleaved' (OpenAI): "
        "the top windows of both splits ranked together and dealt in turn to 4 parts, the explainer taking the first "
        "(ranks 1, 5, 9, ...) and the simulator the third (simulate.top_from).")
    max_retries: int = Field(default=2, ge=0, description="Re-asks after an unreadable answer.")
    max_tokens: int = Field(default=300, ge=16, description="Answer length limit (tokens).")
    temperature: float = Field(default=0.0, ge=0.0)


def select_contexts(samples: UnitSamples, config: ExplainConfig, rng: np.random.Generator) -> list[Context]:
    """Top-k (strongest first), then a seeded round-robin over activation levels, strongest level first."""
    active = [c for c in samples.explain_contexts() if c.max_activation > 0]
    if config.top_from == "interleaved":
        top = [c for c in samples.interleaved_top(0) if c.max_activation > 0][: config.n_top]
    else:
        top = sorted((c for c in active if c.kind == "top"), key=lambda c: -c.max_activation)[: config.n_top]
    by_level: dict[int, list[Context]] = defaultdict(list)
    for c in active:
        if c.kind != "top":
            by_level[c.level].append(c)
    queues = {lv: [cs[i] for i in rng.permutation(len(cs))] for lv, cs in sorted(by_level.items(), reverse=True)}
    picked: list[Context] = []
    while len(picked) < config.n_quantile and any(queues.values()):
        for queue in queues.values():
            if queue and len(picked) < config.n_quantile:
                picked.append(queue.pop())
    picked.sort(key=lambda c: -c.max_activation)
    return top + picked


def render_context(context_id: str, tokens: Sequence[str], levels: Sequence[int]) -> str:
    body = render.highlight(tokens, [i for i, lv in enumerate(levels) if lv > 0])
    return render.context_block(context_id, f"{body}\nActivations: {render.activation_list(tokens, levels)}")


def _join_tokens(tokens: Sequence[str]) -> str:
    shown = [render.listed_token(t).strip() for t in tokens]
    return ", ".join(shown) if shown else "(none)"


def render_user(
    spec: PromptSpec,
    blocks: Sequence[str],
    logit_tokens: LogitTokens | None,
    n_logit_tokens: int,
    token_change: LogitTokens | None = None,
) -> str:
    logit_text = ""
    if logit_tokens is not None and n_logit_tokens > 0 and "logit_tokens" in spec.snippets:
        logit_text = spec.snippets["logit_tokens"].format(
            promoted=_join_tokens(logit_tokens.promoted[:n_logit_tokens]),
            suppressed=_join_tokens(logit_tokens.suppressed[:n_logit_tokens]),
        )
    if token_change is not None and n_logit_tokens > 0 and "token_change" in spec.snippets:  # output evidence
        logit_text = logit_text.rstrip() + "\n" + spec.snippets["token_change"].format(
            raised=_join_tokens(token_change.promoted[:n_logit_tokens]),
            lowered=_join_tokens(token_change.suppressed[:n_logit_tokens]),
        )
    text = spec.user_template.format(contexts="\n\n".join(blocks), logit_tokens=logit_text.strip())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _example_turns(spec: PromptSpec, n_logit_tokens: int) -> list[tuple[str, str]]:
    turns = []
    for ex in spec.examples:
        blocks = [
            render_context(f"c{k}", c.tokens, render.normalise(c.activations or (), render.MAX_LEVEL))
            for k, c in enumerate(ex.contexts, 1)
        ]
        logits = LogitTokens(promoted=ex.logit_tokens) if ex.logit_tokens else None
        turns.append((render_user(spec, blocks, logits, n_logit_tokens), (ex.assistant or "").strip()))
    return turns


async def explain_unit(
    samples: UnitSamples,
    backend: Backend,
    config: ExplainConfig,
    *,
    logit_tokens: LogitTokens | None = None,
    token_change: LogitTokens | None = None,
    seed: int = 0,
) -> Explanation:
    """Describe one unit. Model-quality and backend failures give ``ok=False``; only BudgetExceeded raises.

    ``token_change`` (output evidence: tokens raised / lowered when the unit is amplified) is shown only with
    ``config.output_evidence``; asked for but missing, the unit fails visibly instead of being explained without it.
    """
    spec = load_prompt(config.prompt, stage="explain")
    prov = provenance(spec, backend, config, seed)
    if config.output_evidence and (token_change is None or "token_change" not in spec.snippets):
        why = "no TokenChange for this unit" if token_change is None else f"prompt {spec.label} has no token_change snippet"
        return Explanation(unit=samples.unit, ok=False, error=f"explain.output_evidence: {why}", provenance=prov)
    if not config.output_evidence:
        token_change = None
    contexts = select_contexts(samples, config, np.random.default_rng([seed, samples.unit.index]))
    if not contexts:
        return Explanation(unit=samples.unit, ok=False, error="no activating explain contexts", provenance=prov)
    max_act = samples.stats.max_activation
    blocks = [
        render_context(f"c{k}", c.tokens, render.normalise(c.activations, max_act)) for k, c in enumerate(contexts, 1)
    ]
    request = build_request(
        spec,
        _example_turns(spec, config.n_logit_tokens),
        render_user(spec, blocks, logit_tokens, config.n_logit_tokens, token_change),
        max_tokens=config.max_tokens,
        temperature=config.temperature,
    )
    if config.answer_prefill:  # the answer is the rest of the prefilled line: nothing after it is read
        request = request.model_copy(update={"prefill": (config.answer_prefill,), "stop": ("\n",)})
    parser = spec.build_parser()

    def parse(response: LLMResponse) -> str:
        if not config.answer_prefill:
            return parser.parse(response.text)  # type: ignore[attr-defined]
        # a prefilled reply is the rest of that one line: the first non-blank line of the continuation (what a
        # small model rambles on with after it is not part of the answer)
        line = next((ln for ln in response.text.split("\n") if ln.strip()), "")
        return parser.parse(config.answer_prefill + " " + line.strip())  # type: ignore[attr-defined]

    try:
        answer = await ask(backend, request, parse, retries=config.max_retries, retry_template=spec.retry_template)
    except BudgetExceeded:
        raise
    except BackendError as exc:
        return Explanation(unit=samples.unit, ok=False, error=f"backend error: {exc}", provenance=prov)
    prov = provenance(spec, backend, config, seed, model=answer.model)
    if answer.value is None:
        return Explanation(unit=samples.unit, ok=False, error=answer.error, provenance=prov, usage=answer.usage)
    return Explanation(unit=samples.unit, ok=True, text=answer.value, provenance=prov, usage=answer.usage)
