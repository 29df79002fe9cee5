"""The request cycle shared by the HTTP API backends: build a vendor payload, POST it with the official
SDK's client (its HTTP stack, auth, headers and errors), parse the vendor reply. Vendors override only
:meth:`build_payload` and :meth:`parse` (the lm-evaluation-harness pattern)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from autointerp.backends.base import Capabilities, LLMRequest, LLMResponse
from autointerp.backends.faults import TransientBackendError, translate
from autointerp.types import Usage


class HttpBackend:
    provider: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    endpoint: ClassVar[str]  # path POSTed to, relative to the SDK client's base URL

    client: Any  # an AsyncOpenAI / AsyncAnthropic client, built by the subclass with max_retries=0
    model: str
    spec: str

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    def build_payload(self, request: LLMRequest) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, data: dict, latency_s: float) -> LLMResponse:
        raise NotImplementedError

    def read_usage(self, data: dict[str, Any]) -> Usage:
        """The billed usage in a reply body (also in one :meth:`parse` rejects); zeros where it says none."""
        raise NotImplementedError

    def unreadable(self, data: Any) -> TransientBackendError:
        """A reply that is valid JSON but not the expected object: retried, and its billed tokens still counted."""
        usage = None
        if isinstance(data, dict) and isinstance(data.get("usage"), dict):
            try:
                usage = self.read_usage(data)
            except (TypeError, ValueError, AttributeError):  # a usage field we cannot read: nothing to count
                usage = None
        return TransientBackendError(f"{self.provider} returned a malformed response", usage=usage)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        payload = self.build_payload(request)
        start = time.perf_counter()
        try:
            # client.post with a plain JSON body: the SDK's HTTP stack, auth and errors, without its per-call
            # typed-params transform and response model construction (~1.5 ms CPU per request).
            data = await self.client.post(self.endpoint, body=payload, cast_to=object)
        except Exception as exc:  # noqa: BLE001 - translate() sorts every SDK and transport error
            raise translate(exc, self.provider) from None
        try:
            return self.parse(data, time.perf_counter() - start)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise self.unreadable(data) from None

    async def aclose(self) -> None:
        await self.client.close()
