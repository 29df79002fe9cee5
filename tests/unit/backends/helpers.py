"""Small helpers shared by the backend tests."""

from __future__ import annotations

import asyncio

from autointerp.backends import LLMRequest, Message, build_backend


def ask(text: str, **fields) -> LLMRequest:
    return LLMRequest(messages=(Message(role="user", content=text),), **fields)


async def complete_all(spec: str, requests: list[LLMRequest], **options):
    """Build a stack, send ``requests`` concurrently, close it; returns (responses, backend)."""
    backend = build_backend(spec, **options)
    try:
        responses = await asyncio.gather(*(backend.complete(r) for r in requests))
    finally:
        await backend.aclose()
    return responses, backend
