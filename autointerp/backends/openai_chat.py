"""OpenAI chat completions (the base HTTP backend) and any OpenAI-compatible server.

``OpenAIBackend`` holds the whole request cycle; a vendor changes only
:meth:`build_payload` and :meth:`parse` (the lm-evaluation-harness pattern).
``OpenAICompatibleBackend`` is the same code pointed at a base URL (vLLM,
llama.cpp server, Ollama, SGLang) where a key is optional.
"""

from __future__ import annotations

import json
from typing import Any

import openai

from autointerp.backends.base import Capabilities, LLMRequest, LLMResponse, TokenLogprobs
from autointerp.backends.faults import RETRYABLE_STATUS, TransientBackendError, translate
from autointerp.backends.http import HttpBackend
from autointerp.errors import BackendError
from autointerp.secrets import redact_url
from autointerp.types import Usage

RETRYABLE_BATCH_CODES = frozenset({"batch_expired", "batch_cancelled", "server_error", "rate_limit_exceeded"})
IDENTITY_HEADERS = ("OpenAI-Organization", "OpenAI-Project")  # OpenAI account identity, for OpenAI only


class OpenAIBackend(HttpBackend):
    """``openai:MODEL`` - the official SDK's AsyncOpenAI, chat completions, logprobs, JSON mode, Batch API."""

    provider = "openai"
    endpoint = "/chat/completions"
    capabilities = Capabilities(logprobs=True, json_mode=True, prompt_caching=True, batch=True)
    max_tokens_field = "max_completion_tokens"

    def __init__(self, model: str, *, spec: str, api_key: str | None, base_url: str | None = None,
                 timeout: float = 120.0):
        self.model = model
        self.spec = redact_url(spec)  # a password in a base URL never reaches a cache key, record or message
        # max_retries=0: RetryBackend is the one retry policy.
        self.client = openai.AsyncOpenAI(api_key=api_key or "unused", base_url=base_url, timeout=timeout,
                                         max_retries=0, **self.identity())

    def identity(self) -> dict[str, Any]:
        """Extra client arguments about who is calling (OpenAI reads OPENAI_ORG_ID / OPENAI_PROJECT_ID itself)."""
        return {}

    # -- vendor hooks
    def check(self, request: LLMRequest) -> None:
        if request.candidates or request.prefill:
            raise BackendError(
                f"backend {self.spec!r} cannot score prefill/candidates (capabilities.prompt_logprobs is false)"
            )

    def build_payload(self, request: LLMRequest) -> dict[str, Any]:
        """The chat.completions request body for ``request``."""
        self.check(request)
        messages = ([{"role": "system", "content": request.system}] if request.system else []) + [
            {"role": m.role, "content": m.content} for m in request.messages
        ]
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            self.max_tokens_field: request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.json_mode:
            payload["response_format"] = {"type": "json_object"}
        if request.top_logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = request.top_logprobs
        return payload

    def parse(self, data: dict[str, Any], latency_s: float = 0.0) -> LLMResponse:
        """LLMResponse from a chat.completion JSON object (live or from a batch result)."""
        if not isinstance(data, dict) or not data.get("choices"):
            raise ValueError("response is not a chat.completion object with choices")
        choice = data["choices"][0]
        logprobs = None
        content = (choice.get("logprobs") or {}).get("content")
        if content is not None:
            logprobs = tuple(
                TokenLogprobs(token=t["token"], logprob=t["logprob"],
                              top={a["token"]: a["logprob"] for a in t.get("top_logprobs") or ()})
                for t in content
            )
        usage = self.read_usage(data)
        return LLMResponse(
            text=(choice.get("message") or {}).get("content") or "",
            logprobs=logprobs,
            usage=usage,
            model=data.get("model") or self.model,
            latency_s=latency_s,
            request_id=data.get("id"),
            finish_reason=choice.get("finish_reason"),
        )


    def read_usage(self, data: Any) -> Usage:
        u = data.get("usage") or {}
        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return Usage(
            input_tokens=(u.get("prompt_tokens") or 0) - cached,
            output_tokens=u.get("completion_tokens") or 0,
            cache_read_tokens=cached,
            requests=1,
        )

    # -- Batch API (used by BatchBackend)
    async def submit_batch(self, items: list[tuple[str, LLMRequest]]) -> str:
        lines = [
            json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                        "body": self.build_payload(req)})
            for cid, req in items
        ]
        try:
            upload = await self.client.files.create(file=("batch.jsonl", ("\n".join(lines) + "\n").encode()),
                                                    purpose="batch")
            batch = await self.client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                                     completion_window="24h")
        except Exception as exc:  # noqa: BLE001 - translate() sorts every SDK and transport error
            raise translate(exc, self.provider) from None
        return batch.id

    async def batch_done(self, batch_id: str) -> bool:
        try:
            batch = await self.client.batches.retrieve(batch_id)
        except Exception as exc:  # noqa: BLE001 - translate() sorts every SDK and transport error
            raise translate(exc, self.provider) from None
        if batch.status in ("failed", "cancelled", "cancelling"):
            raise BackendError(f"{self.provider} batch {batch_id} ended with status {batch.status!r}")
        return batch.status in ("completed", "expired")

    async def batch_results(self, batch_id: str) -> dict[str, LLMResponse | BackendError]:
        try:
            batch = await self.client.batches.retrieve(batch_id)
            texts = [(await self.client.files.content(fid)).text
                     for fid in (batch.output_file_id, batch.error_file_id) if fid]
        except Exception as exc:  # noqa: BLE001 - translate() sorts every SDK and transport error
            raise translate(exc, self.provider) from None
        results: dict[str, LLMResponse | BackendError] = {}
        for line in "\n".join(texts).splitlines():
            if line.strip():
                item = json.loads(line)
                results[item["custom_id"]] = self._batch_item(item)
        return results


    def _batch_item(self, item: dict[str, Any]) -> LLMResponse | BackendError:
        """One line of a batch's output or error file: an answer, a retryable error or a request error."""
        response = item.get("response") or {}
        status = response.get("status_code")
        if status == 200:
            try:
                return self.parse(response["body"])
            except (ValueError, TypeError, KeyError, AttributeError):
                return self.unreadable(response.get("body"))
        error = (response.get("body") or {}).get("error") or item.get("error") or {}
        text = f"{self.provider} batch request failed ({status or error.get('code')}): {error.get('message')}"
        if status in RETRYABLE_STATUS or error.get("code") in RETRYABLE_BATCH_CODES:
            return TransientBackendError(text, status=status)
        return BackendError(text)


class OpenAICompatibleBackend(OpenAIBackend):
    """``openai-compatible:MODEL@URL`` - vLLM, llama.cpp server, Ollama, SGLang; a key is optional."""

    provider = "openai-compatible"
    capabilities = Capabilities(logprobs=True, json_mode=True, prompt_caching=False, batch=False)
    max_tokens_field = "max_tokens"  # what every compatible server understands

    def identity(self) -> dict[str, Any]:
        """A third-party server gets no OpenAI account identity: the SDK would send OPENAI_ORG_ID and
        OPENAI_PROJECT_ID from the environment as OpenAI-Organization / OpenAI-Project headers."""
        return {"default_headers": {name: openai.Omit() for name in IDENTITY_HEADERS}}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.client.organization = self.client.project = None  # belt and braces: nothing to put in them
