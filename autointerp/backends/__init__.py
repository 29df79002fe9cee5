"""LLM backends behind one async protocol, plus the wrappers that add retries, limits, caching and cost.

``build_backend(spec, **options)`` parses a spec string, reads the API key from the
environment (now, not at import), builds the raw backend and stacks the wrappers::

    Cache -> Retry -> Cost/budget -> Limit (adaptive concurrency, rpm, tpm) -> raw backend
    Cache -> Cost/budget (batch discount) -> Batch (submit/poll/collect, retried) -> raw backend   [batch=True]

Specs:

- ``anthropic:claude-sonnet-4-5``                       Anthropic Messages API (ANTHROPIC_API_KEY)
- ``openai:gpt-4.1-mini``                               OpenAI chat completions (OPENAI_API_KEY)
- ``openai-compatible:MODEL@http://127.0.0.1:8000/v1``  vLLM / llama.cpp / Ollama / SGLang; key optional
- ``local:smollm2-135m``                                a transformers model on this machine (``local`` = smollm2-135m)

The SDKs also honour ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` (e.g. a proxy).

May import: activations (the local backend loads a subject model) and the shared records; used only by
judging, scorers, runs and the floors above them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from autointerp.backends.base import Backend, Capabilities, LLMRequest, LLMResponse, Message, TokenLogprobs
from autointerp.backends.cache import DB_NAME, CacheBackend, ResponseStore, cache_key
from autointerp.backends.cost import Budget, CostBackend, PriceTable
from autointerp.backends.faults import TransientBackendError
from autointerp.backends.keys import read_key
from autointerp.backends.limit import LimitBackend
from autointerp.backends.options import BackendOptions
from autointerp.backends.retry import RetryBackend, RetryPolicy
from autointerp.backends.wrapper import Wrapper, find_layer
from autointerp.errors import AutointerpError, ConfigError
from autointerp.registry import Registry
from autointerp.secrets import redact_text
from autointerp.types import Usage

__all__ = [
    "BACKENDS", "Backend", "BackendKind", "BackendOptions", "Budget", "CacheBackend", "Capabilities", "CostBackend",
    "LLMRequest", "LLMResponse", "LimitBackend", "Message", "PriceTable", "RetryBackend", "RetryPolicy",
    "TokenLogprobs", "TransientBackendError", "Wrapper", "build_backend", "build_raw_backend", "cache_key",
    "find_layer", "usage_of",
]


@dataclass(frozen=True)
class BackendKind:
    """One spec prefix: how to build its raw backend."""

    build: Callable[[str, str, str | None, BackendOptions], Backend]  # (rest of spec, spec, api key, options)
    key_env: str | None = None  # default environment variable of the API key
    key_required: bool = False
    free: bool = False  # runs locally: cost is 0 without a price-table lookup
    remote: bool = True  # HTTP API: gets the retry layer


BACKENDS: Registry[BackendKind] = Registry("backend")


def _openai(rest: str, spec: str, key: str | None, opts: BackendOptions) -> Backend:
    from autointerp.backends.openai_chat import OpenAIBackend

    return OpenAIBackend(rest, spec=spec, api_key=key, timeout=opts.timeout)


def _openai_compatible(rest: str, spec: str, key: str | None, opts: BackendOptions) -> Backend:
    from autointerp.backends.openai_chat import OpenAICompatibleBackend

    match = re.fullmatch(r"(?P<model>.+?)@(?P<url>https?://\S+)", rest)
    if not match:
        raise ConfigError(f"backend spec {spec!r}: expected 'openai-compatible:MODEL@http://HOST:PORT/v1'")
    return OpenAICompatibleBackend(match["model"], spec=spec, api_key=key, base_url=match["url"],
                                   timeout=opts.timeout)


def _anthropic(rest: str, spec: str, key: str | None, opts: BackendOptions) -> Backend:
    from autointerp.backends.anthropic_messages import AnthropicBackend

    return AnthropicBackend(rest, spec=spec, api_key=key, timeout=opts.timeout)


def _local(rest: str, spec: str, key: str | None, opts: BackendOptions) -> Backend:
    from autointerp.backends.local import DEFAULT_LOCAL_MODEL, LocalBackend

    return LocalBackend(rest or DEFAULT_LOCAL_MODEL, spec=spec, max_batch=min(opts.max_concurrency, 64))


BACKENDS.add("openai", BackendKind(_openai, key_env="OPENAI_API_KEY", key_required=True))
BACKENDS.add("openai-compatible", BackendKind(_openai_compatible))  # never sends OPENAI_API_KEY to a third-party server
BACKENDS.add("anthropic", BackendKind(_anthropic, key_env="ANTHROPIC_API_KEY", key_required=True))
BACKENDS.add("local", BackendKind(_local, free=True, remote=False))


def _split(spec: str) -> tuple[BackendKind, str]:
    prefix, _, rest = spec.strip().partition(":")
    kind = BACKENDS.get(prefix)
    if not rest and kind.remote:
        raise ConfigError(f"backend spec {spec!r} names no model; e.g. '{prefix}:MODEL'")
    return kind, rest


@contextlib.contextmanager
def _redacted() -> Iterator[None]:
    """Errors raised inside name the spec with any password in its URL replaced by ``***``."""
    try:
        yield
    except AutointerpError as exc:
        clean = redact_text(str(exc))
        if clean == str(exc):
            raise
        raise type(exc)(clean) from None


def build_raw_backend(spec: str, options: BackendOptions | None = None) -> Backend:
    """The bare backend for ``spec`` (no wrappers); reads its API key from the environment now."""
    with _redacted():
        return _build_raw(spec, options)


def _build_raw(spec: str, options: BackendOptions | None) -> Backend:
    opts = options or BackendOptions()
    kind, rest = _split(spec)
    key = None
    variable = opts.api_key_env or kind.key_env
    if variable:
        key = read_key(variable, required=kind.key_required or opts.api_key_env is not None, spec=spec)
    return kind.build(rest, spec, key, opts)


def build_backend(spec: str, *, budget: Budget | None = None, **options: object) -> Backend:
    """A ready backend stack for ``spec``; ``options`` are the fields of :class:`BackendOptions`.

    ``budget``: a :class:`Budget` shared with other stacks and carrying what earlier invocations spent
    (then ``max_cost`` is the budget's, not the option's); default: a fresh one from ``max_cost``.
    """
    with _redacted():
        return _build(spec, budget, **options)


def _build(spec: str, budget: Budget | None, **options: object) -> Backend:
    opts = BackendOptions.parse(**options)
    kind, _ = _split(spec)
    raw = build_raw_backend(spec, opts)
    policy = RetryPolicy(opts.max_retries, opts.retry_wait, opts.retry_max_wait)
    store = None
    if opts.batch:
        from autointerp.backends.batch import BatchBackend

        if not raw.capabilities.batch or opts.cache_dir is None:
            why = "needs cache_dir (batch ids are kept there)" if raw.capabilities.batch else "has no batch API"
            raise ConfigError(f"backend option batch=True: backend {spec!r} {why}")
        store = ResponseStore(opts.cache_dir / DB_NAME)  # shared with the cache layer
        backend: Backend = BatchBackend(raw, state_dir=opts.cache_dir, batch_size=opts.batch_size,
                                        flush_s=opts.batch_flush_s, poll_s=opts.batch_poll_s, policy=policy,
                                        store=store)
    else:
        backend = LimitBackend(raw, max_concurrency=opts.max_concurrency, rpm=opts.rpm, tpm=opts.tpm)
    # Cost sits below Retry: every attempt's answer is counted, also the paid ones a later failure discards.
    cost = backend = CostBackend(backend, max_cost=opts.max_cost, batch=opts.batch, free=kind.free, budget=budget)
    limit = find_layer(cost, LimitBackend)
    if limit is not None:
        limit.gate = cost.check_budget  # requests queued for a slot are refused once the budget is spent
    if kind.remote and not opts.batch:  # (batch mode retries inside BatchBackend)
        backend = RetryBackend(backend, policy)
    if opts.cache_dir is not None:
        backend = CacheBackend(backend, opts.cache_dir, store=store)
    return backend


def usage_of(backend: Backend) -> Usage:
    """Running totals (requests, tokens, cost) of a stack built by :func:`build_backend`."""
    layer = find_layer(backend, CostBackend)
    return layer.usage if layer is not None else Usage()
