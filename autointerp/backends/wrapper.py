"""Base of the wrappers: a Backend that adds one behaviour around another Backend."""

from __future__ import annotations

from typing import TypeVar

from autointerp.backends.base import Backend, Capabilities, LLMRequest, LLMResponse

W = TypeVar("W")


class Wrapper:
    """Delegates ``spec``, ``model``, ``capabilities`` and ``aclose`` to ``inner``."""

    def __init__(self, inner: Backend):
        self.inner = inner

    @property
    def spec(self) -> str:
        return self.inner.spec

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


def find_layer(backend: Backend, kind: type[W]) -> W | None:
    """The first layer of type ``kind`` in a wrapper stack (outermost first), or None."""
    layer: object | None = backend
    while layer is not None:
        if isinstance(layer, kind):
            return layer
        layer = getattr(layer, "inner", None)
    return None
