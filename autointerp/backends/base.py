"""The one protocol every LLM backend and wrapper implements.

``async complete(request) -> response``. Backends declare what they can do in
:class:`Capabilities`; stages pick their method from those flags (e.g. the
simulator uses teacher-forced candidate scoring when ``prompt_logprobs`` is
set, generated-token logprobs when ``logprobs`` is set, else a JSON answer).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import Field

from autointerp.types import Frozen, Usage


class Message(Frozen):
    role: Literal["user", "assistant"]
    content: str


class LLMRequest(Frozen):
    """A provider-neutral chat request."""

    system: str = Field(default="", description="System text.")
    messages: tuple[Message, ...] = Field(description="Conversation; few-shot turns first, the live question last.")
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    stop: tuple[str, ...] = Field(
        default=(), description="Stop strings: the answer ends before the first one (the local backend: the first one "
        "after some non-blank text, and it stops generating there)."
    )
    json_mode: bool = Field(default=False, description="Ask for a JSON object answer (where supported).")
    cache_prefix_messages: int = Field(
        default=0,
        ge=0,
        description="How many leading messages (after the system text) are a stable prefix worth prompt-caching.",
    )
    top_logprobs: int = Field(
        default=0, ge=0, le=20, description="> 0: return the top-N logprobs at every generated position."
    )
    candidates: tuple[str, ...] = Field(
        default=(), description="Candidate tokens to score (e.g. '0'..'10') at each prefill segment end."
    )
    prefill: tuple[str, ...] = Field(
        default=(),
        description=(
            "Teacher-forced assistant reply, as segments. With candidates, the backend returns, after each "
            "segment, the logprob of each candidate as the next token (capability prompt_logprobs), from one "
            "forward pass, and generates nothing."
        ),
    )


class TokenLogprobs(Frozen):
    """Logprobs at one generated position."""

    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict, description="Top-N alternatives: token -> logprob.")


class LLMResponse(Frozen):
    text: str
    logprobs: tuple[TokenLogprobs, ...] | None = Field(default=None, description="Per generated position, if asked.")
    candidate_logprobs: tuple[dict[str, float], ...] | None = Field(
        default=None, description="Per prefill segment: candidate -> logprob, if asked."
    )
    usage: Usage = Usage()
    model: str = ""
    latency_s: float = 0.0
    request_id: str | None = None
    cached: bool = Field(default=False, description="Served from the on-disk cache; no request was sent.")
    finish_reason: str | None = None


class Capabilities(Frozen):
    logprobs: bool = False  # top logprobs of generated tokens
    prompt_logprobs: bool = False  # exact candidate logprobs after teacher-forced segments
    json_mode: bool = False
    prompt_caching: bool = False
    batch: bool = False


@runtime_checkable
class Backend(Protocol):
    """What every backend and wrapper provides."""

    spec: str  # e.g. 'openai:gpt-4.1-mini'; never contains a key
    model: str
    capabilities: Capabilities

    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def aclose(self) -> None: ...
