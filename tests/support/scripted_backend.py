"""A test-only Backend whose answers come from a handler function (never used by the product).

``ScriptedBackend(handler)`` records every request in ``.requests`` and answers
with ``handler(request)``: a string (the reply text), an ``LLMResponse``, or an
exception instance to raise. ``replies(*answers)`` makes a handler that plays
answers in order. ``lines_response`` builds a reply with per-token logprobs for
the generated-logprobs simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from autointerp.backends.base import Capabilities, LLMRequest, LLMResponse, TokenLogprobs
from autointerp.types import Usage

Reply = str | LLMResponse | BaseException
Handler = Callable[[LLMRequest], Reply]

CAPS_PROMPT_LOGPROBS = Capabilities(logprobs=True, prompt_logprobs=True)
CAPS_LOGPROBS = Capabilities(logprobs=True, json_mode=True)
CAPS_PLAIN = Capabilities(json_mode=True)


class ScriptedBackend:
    """Implements :class:`autointerp.backends.base.Backend` by calling ``handler``."""

    def __init__(
        self,
        handler: Handler,
        *,
        capabilities: Capabilities = CAPS_PLAIN,
        spec: str = "scripted:test",
        model: str = "scripted-1",
    ):
        self.handler = handler
        self.capabilities = capabilities
        self.spec = spec
        self.model = model
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        reply = self.handler(request)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            reply = LLMResponse(text=reply)
        usage = Usage(input_tokens=sum(len(m.content) for m in request.messages) // 4,
                      output_tokens=len(reply.text) // 4, requests=1)
        return reply.model_copy(update={"model": reply.model or self.model, "usage": usage})

    async def aclose(self) -> None:
        return None


def replies(*answers: Reply | Handler) -> Handler:
    """A handler that plays ``answers`` in order (a callable answers that one request); fails loudly when they run out."""
    queue = list(answers)

    def handler(request: LLMRequest) -> Reply:
        if not queue:
            raise AssertionError("scripted backend: more requests than scripted replies")
        answer = queue.pop(0)
        return answer(request) if callable(answer) and not isinstance(answer, BaseException) else answer

    return handler


def value_logprobs(value: float, spread: float = 0.0, top: int = 9) -> dict[str, float]:
    """Logprobs over '0'..str(top) peaked at ``value`` (spread 0: all mass on round(value))."""
    if spread <= 0:
        return {str(v): (0.0 if v == round(value) else -1e9) for v in range(top + 1)}
    w = {str(v): -((v - value) ** 2) / (2 * spread**2) for v in range(top + 1)}
    z = math.log(sum(math.exp(x) for x in w.values()))
    return {k: x - z for k, x in w.items()}


def lines_response(
    rows: Sequence[tuple[str, Mapping[str, float]]], *, extra_text: str = "", split_tab: bool = True
) -> LLMResponse:
    """A generated ``token<TAB>value`` reply with top logprobs at every value position.

    Each row is (token text, value logprobs); the emitted value is the most likely one.
    ``split_tab=False`` glues the tab to the value token (as some tokenizers do).
    """
    toks: list[TokenLogprobs] = []
    for k, (token, lps) in enumerate(rows):
        best = max(lps, key=lps.__getitem__)
        if token:
            toks.append(TokenLogprobs(token=token, logprob=-0.01))
        if split_tab:
            toks.append(TokenLogprobs(token="\t", logprob=-0.01))
            toks.append(TokenLogprobs(token=best, logprob=lps[best], top=dict(lps)))
        else:
            toks.append(TokenLogprobs(token="\t" + best, logprob=lps[best], top={"\t" + k2: v for k2, v in lps.items()}))
        if k < len(rows) - 1:
            toks.append(TokenLogprobs(token="\n", logprob=-0.01))
    if extra_text:
        toks.append(TokenLogprobs(token=extra_text, logprob=-0.5))
    return LLMResponse(text="".join(t.token for t in toks), logprobs=tuple(toks))


def candidate_response(dists: Iterable[Mapping[str, float]]) -> LLMResponse:
    """A prompt-logprobs reply: candidate logprobs after every prefill segment."""
    return LLMResponse(text="", candidate_logprobs=tuple(dict(d) for d in dists))
