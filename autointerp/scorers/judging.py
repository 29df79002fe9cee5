"""Asking a judge about a list of shown items, several per prompt, re-asking only the unanswered ones.

Shared by detection and fuzzing (delphi's one classifier base, two ways of choosing what to show).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from autointerp.backends.base import Backend, LLMRequest, Message
from autointerp.errors import BackendError, BudgetExceeded
from autointerp.judging import render
from autointerp.judging.answers import BinaryList, IdVerdicts
from autointerp.judging.prompts import PromptSpec, build_request
from autointerp.scorers.records import ScoreItem
from autointerp.types import Context, Usage


@dataclass(frozen=True)
class Shown:
    """One excerpt as the judge sees it, with the truth about it."""

    context: Context
    highlights: tuple[int, ...]
    label: bool
    source: str = "self"
    true_activation: float = 0.0


@dataclass
class Outcome:
    items: list[ScoreItem] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    backend_error: str | None = None


def block(cid: str, shown: Shown) -> str:
    return render.context_block(cid, render.highlight(shown.context.tokens, shown.highlights))


def render_user(spec: PromptSpec, explanation: str, blocks: Sequence[str]) -> str:
    return spec.user_template.format(
        explanation=render.safe_text(explanation), contexts="\n\n".join(blocks), n_contexts=len(blocks)
    ).strip()


def example_turns(spec: PromptSpec) -> list[tuple[str, str]]:
    """Few-shot examples rendered like the live question (marks on tokens whose example activation is > 0)."""
    turns = []
    for ex in spec.examples:
        blocks = [
            render.context_block(f"c{k}", render.highlight(c.tokens, [i for i, a in enumerate(c.activations or ()) if a > 0]))
            for k, c in enumerate(ex.contexts, 1)
        ]
        turns.append((render_user(spec, ex.explanation or "", blocks), (ex.assistant or "").strip()))
    return turns


def chunk_request(
    spec: PromptSpec, explanation: str, chunk: Sequence[Shown], *, logprobs: bool, temperature: float
) -> LLMRequest:
    blocks = [block(f"c{k}", s) for k, s in enumerate(chunk, 1)]
    return build_request(
        spec, example_turns(spec), render_user(spec, explanation, blocks),
        max_tokens=8 * len(chunk) + 16, temperature=temperature, top_logprobs=5 if logprobs else 0,
    )


def _item(cid: str, s: Shown, verdict: tuple[bool, float | None] | None = None, error: str | None = None) -> ScoreItem:
    c = s.context
    return ScoreItem(
        item_id=cid, context_ids=(c.context_id,), kind=c.kind, level=c.level,
        true_activation=s.true_activation, source=s.source, label=s.label,
        predicted=None if verdict is None else verdict[0], score=None if verdict is None else verdict[1],
        answer=None if verdict is None else ("yes" if verdict[0] else "no"), ok=error is None, error=error,
    )


async def _judge_chunk(
    backend: Backend, spec: PromptSpec, parser: IdVerdicts | BinaryList, explanation: str, chunk: Sequence[Shown],
    max_retries: int, temperature: float,
) -> Outcome:
    by_id = {f"c{k}": s for k, s in enumerate(chunk, 1)}
    request = chunk_request(spec, explanation, chunk, logprobs=backend.capabilities.logprobs, temperature=temperature)
    out = Outcome()
    verdicts: dict[str, tuple[bool, float | None]] = {}
    problems: dict[str, str] = {cid: "not asked" for cid in by_id}
    try:
        for _ in range(max_retries + 1):
            response = await backend.complete(request)
            out.usage, out.model = out.usage + response.usage, response.model or out.model
            parsed = parser.parse(response, list(problems))
            verdicts.update(parsed.values)
            problems = dict(parsed.problems)
            if not problems:
                break
            error = "; ".join(f"{cid}: {why}" for cid, why in problems.items())
            request = request.model_copy(update={"messages": request.messages + (
                Message(role="assistant", content=response.text or "(empty)"),
                Message(role="user", content=spec.retry_template.format(error=error).strip()),
            )})
    except BudgetExceeded:
        raise
    except BackendError as exc:
        out.backend_error = str(exc)
        problems = {cid: f"backend error: {exc}" for cid in by_id if cid not in verdicts}
    for cid, s in by_id.items():
        if cid in verdicts:
            out.items.append(_item(cid, s, verdicts[cid]))
        else:
            why = problems.get(cid, "no verdict")
            prefix = "" if why.startswith("backend error") else f"no valid verdict after {max_retries + 1} attempt(s): "
            out.items.append(_item(cid, s, error=prefix + why))
    return out


def chunks(shown: Sequence[Shown], size: int) -> list[list[Shown]]:
    return [list(shown[i : i + size]) for i in range(0, len(shown), size)]


async def judge_all(
    backend: Backend, spec: PromptSpec, explanation: str, shown: Sequence[Shown], *, per_prompt: int,
    max_retries: int, temperature: float,
) -> Outcome:
    """Ask about every shown item (``per_prompt`` per request, ids c1..cN within a request)."""
    parser = spec.build_parser()
    assert isinstance(parser, (IdVerdicts, BinaryList)), "prompt validation ties these parsers to these stages"
    parts = await asyncio.gather(*(
        _judge_chunk(backend, spec, parser, explanation, ch, max_retries, temperature)
        for ch in chunks(shown, per_prompt)
    ))
    out = Outcome()
    for p in parts:
        out.items += p.items
        out.usage = out.usage + p.usage
        out.model = out.model or p.model
        out.backend_error = out.backend_error or p.backend_error
    # item ids unique across the unit: chunk k's c3 becomes k:c3 in the record
    out.items = [it.model_copy(update={"item_id": f"{k // per_prompt + 1}:{it.item_id}"}) for k, it in enumerate(out.items)]
    return out
