"""Anthropic Messages API backend (official SDK), with prompt caching and Message Batches."""

from __future__ import annotations

import time
from typing import Any

import anthropic
from anthropic.types import Message

from autointerp.backends.base import Capabilities, LLMRequest, LLMResponse
from autointerp.backends.faults import translate
from autointerp.errors import BackendError
from autointerp.types import Usage

EPHEMERAL = {"type": "ephemeral"}


class AnthropicBackend:
    """``anthropic:MODEL`` - AsyncAnthropic messages; no logprobs (the API does not expose them).

    Prompt caching: ``cache_control: ephemeral`` marks the system block and the last of the
    ``request.cache_prefix_messages`` stable messages. ``request.prefill`` (without candidates) is
    sent as the start of the assistant turn; the returned text is the continuation only.
    ``request.temperature`` is not sent: the current Messages API (SDK 2.x) takes no sampling parameters.
    """

    provider = "anthropic"
    capabilities = Capabilities(logprobs=False, prompt_logprobs=False, json_mode=False, prompt_caching=True,
                                batch=True)

    def __init__(self, model: str, *, spec: str, api_key: str | None, base_url: str | None = None,
                 timeout: float = 120.0):
        self.model = model
        self.spec = spec
        self.client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    def build_payload(self, request: LLMRequest) -> dict[str, Any]:
        """The Messages API body for ``request``."""
        if request.candidates or request.top_logprobs:
            raise BackendError(f"backend {self.spec!r} returns no logprobs (capabilities.logprobs is false)")
        messages: list[dict[str, Any]] = []
        for i, m in enumerate(request.messages):
            if i == request.cache_prefix_messages - 1:
                content: Any = [{"type": "text", "text": m.content, "cache_control": EPHEMERAL}]
            else:
                content = m.content
            messages.append({"role": m.role, "content": content})
        if request.prefill:
            messages.append({"role": "assistant", "content": "".join(request.prefill)})
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": messages,
        }
        if request.system:
            payload["system"] = [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}]
        if request.stop:
            payload["stop_sequences"] = list(request.stop)
        return payload

    def parse(self, message: Message, latency_s: float = 0.0) -> LLMResponse:
        u = message.usage
        return LLMResponse(
            text="".join(getattr(block, "text", "") for block in message.content if block.type == "text"),
            usage=Usage(
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                cache_read_tokens=u.cache_read_input_tokens or 0,
                cache_write_tokens=u.cache_creation_input_tokens or 0,
                requests=1,
            ),
            model=message.model or self.model,
            latency_s=latency_s,
            request_id=message.id,
            finish_reason=message.stop_reason,
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        payload = self.build_payload(request)
        start = time.perf_counter()
        try:
            message = await self.client.messages.create(**payload)
            if not isinstance(message, Message):
                raise ValueError("response is not a message object")
            return self.parse(message, time.perf_counter() - start)
        except Exception as exc:
            raise translate(exc, self.provider) from None

    async def aclose(self) -> None:
        await self.client.close()

    # -- Message Batches (used by BatchBackend)
    async def submit_batch(self, items: list[tuple[str, LLMRequest]]) -> str:
        requests = [{"custom_id": cid, "params": self.build_payload(req)} for cid, req in items]
        try:
            batch = await self.client.messages.batches.create(requests=requests)
        except Exception as exc:
            raise translate(exc, self.provider) from None
        return batch.id

    async def batch_done(self, batch_id: str) -> bool:
        try:
            batch = await self.client.messages.batches.retrieve(batch_id)
        except Exception as exc:
            raise translate(exc, self.provider) from None
        return batch.processing_status == "ended"

    async def batch_results(self, batch_id: str) -> dict[str, LLMResponse | BackendError]:
        results: dict[str, LLMResponse | BackendError] = {}
        try:
            async for item in await self.client.messages.batches.results(batch_id):
                result = item.result
                if result.type == "succeeded":
                    results[item.custom_id] = self.parse(result.message)
                else:
                    detail = getattr(getattr(getattr(result, "error", None), "error", None), "message", "")
                    results[item.custom_id] = BackendError(f"{self.provider} batch request {result.type}: {detail}")
        except Exception as exc:
            raise translate(exc, self.provider) from None
        return results
