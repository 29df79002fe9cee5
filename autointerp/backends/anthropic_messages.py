"""Anthropic Messages API backend (official SDK), with prompt caching and Message Batches."""

from __future__ import annotations

from typing import Any

import anthropic

from autointerp.backends.base import Capabilities, LLMRequest, LLMResponse
from autointerp.backends.faults import TransientBackendError, translate
from autointerp.backends.http import HttpBackend
from autointerp.errors import BackendError
from autointerp.types import Usage

EPHEMERAL = {"type": "ephemeral"}
RETRYABLE_ERRORS = frozenset({"api_error", "overloaded_error", "rate_limit_error", "timeout_error"})


class AnthropicBackend(HttpBackend):
    """``anthropic:MODEL`` - AsyncAnthropic messages; no logprobs (the API does not expose them).

    Prompt caching: ``cache_control: ephemeral`` marks the system block and the last of the
    ``request.cache_prefix_messages`` stable messages. ``request.prefill`` (without candidates) is
    sent as the start of the assistant turn; the returned text is the continuation only.
    ``request.temperature`` is not sent: the current Messages API (SDK 2.x) takes no sampling parameters.
    """

    provider = "anthropic"
    endpoint = "/v1/messages"
    capabilities = Capabilities(logprobs=False, prompt_logprobs=False, json_mode=False, prompt_caching=True,
                                batch=True)

    def __init__(self, model: str, *, spec: str, api_key: str | None, base_url: str | None = None,
                 timeout: float = 120.0):
        self.model = model
        self.spec = spec
        self.client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

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

    def parse(self, data: dict[str, Any], latency_s: float = 0.0) -> LLMResponse:
        """LLMResponse from a Messages API message JSON object (live or from a batch result)."""
        if not isinstance(data, dict) or data.get("type") != "message":
            raise ValueError("response is not a message object")
        return LLMResponse(
            text="".join(block.get("text", "") for block in data.get("content") or () if block.get("type") == "text"),
            usage=self.read_usage(data),
            model=data.get("model") or self.model,
            latency_s=latency_s,
            request_id=data.get("id"),
            finish_reason=data.get("stop_reason"),
        )


    def read_usage(self, data: Any) -> Usage:
        u = data.get("usage") or {}
        return Usage(
            input_tokens=u.get("input_tokens") or 0,
            output_tokens=u.get("output_tokens") or 0,
            cache_read_tokens=u.get("cache_read_input_tokens") or 0,
            cache_write_tokens=u.get("cache_creation_input_tokens") or 0,
            requests=1,
        )

    # -- Message Batches (used by BatchBackend)
    async def submit_batch(self, items: list[tuple[str, LLMRequest]]) -> str:
        requests = [{"custom_id": cid, "params": self.build_payload(req)} for cid, req in items]
        try:
            batch = await self.client.messages.batches.create(requests=requests)
        except Exception as exc:  # noqa: BLE001 - translate() sorts every SDK and transport error
            raise translate(exc, self.provider) from None
        return batch.id

    async def batch_done(self, batch_id: str) -> bool:
        try:
            batch = await self.client.messages.batches.retrieve(batch_id)
        except Exception as exc:  # noqa: BLE001 - translate() sorts every SDK and transport error
            raise translate(exc, self.provider) from None
        return batch.processing_status == "ended"

    async def batch_results(self, batch_id: str) -> dict[str, LLMResponse | BackendError]:
        results: dict[str, LLMResponse | BackendError] = {}
        try:
            async for item in await self.client.messages.batches.results(batch_id):
                result = item.result
                if result.type == "succeeded":
                    results[item.custom_id] = self.parse(result.message.model_dump(mode="json"))
                    continue
                error = getattr(getattr(result, "error", None), "error", None)
                kind = getattr(error, "type", "")
                text = f"{self.provider} batch request {result.type}: {kind} {getattr(error, 'message', '')}".strip()
                transient = result.type == "expired" or (result.type == "errored" and kind in RETRYABLE_ERRORS)
                results[item.custom_id] = TransientBackendError(text) if transient else BackendError(text)
        except Exception as exc:  # noqa: BLE001 - translate() sorts every SDK and transport error
            raise translate(exc, self.provider) from None
        return results
