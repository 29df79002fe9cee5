"""Before any sampling: every backend spec is checked offline (``validate_backends``), a server on this machine or
the local network must accept a TCP connection (``reach_local_backends``), and with ``--check`` each remote backend
answers one tiny request (``check_backends``), so a typo, a missing key, a wrong model name or a server that is not
running fails in seconds instead of after hours of sampling."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from autointerp.backends import BACKENDS, build_backend
from autointerp.backends.base import LLMRequest, Message
from autointerp.backends.keys import read_key
from autointerp.errors import BackendError, ConfigError, RunHalted
from autointerp.runs.aio import run_sync
from autointerp.runs.config import RunConfig
from autointerp.runs.guard import RunGuard, current_unit
from autointerp.runs.spend import Ledger
from autointerp.secrets import redact_url

STAGES = ("explain", "rubric", "simulate")
# base URLs the SDKs read from the environment when a spec names none
_BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def stage_specs(config: RunConfig) -> dict[str, list[str]]:
    """Distinct backend spec -> the stages using it (in stage order; scorers without an LLM have none)."""
    from autointerp.scorers.orchestrate import judge_stages, stage_backend_spec

    out: dict[str, list[str]] = {}
    for stage in judge_stages(config):
        spec = stage_backend_spec(config, stage)
        if spec is not None:
            out.setdefault(spec, []).append(stage)
    return out


def _field(stage: str) -> str:
    return f"field 'backends.{stage}'" if stage in STAGES else f"the backend of scorer stage '{stage}'"


def check_url(url: str, where: str) -> None:
    """One-line ConfigError unless ``url`` is an http(s) URL with a host (and a numeric port, if any)."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a non-numeric / out-of-range port
    except ValueError as exc:
        raise ConfigError(f"{where}: malformed base URL {shown!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: malformed base URL {shown!r}; expected http(s)://HOST[:PORT]/PATH")
    del port


def validate_spec(spec: str, where: str, api_key_env: str | None = None, *, need_key: bool = True) -> None:
    """Known kind, model named, key present (unless ``need_key`` is false: a dry run sends nothing), base URL
    well-formed — without building anything."""
    prefix, _, rest = spec.strip().partition(":")
    if prefix not in BACKENDS:
        raise ConfigError(f"{where}: unknown backend {prefix!r} in {spec!r}; expected one of: {', '.join(BACKENDS)}")
    kind = BACKENDS.get(prefix)
    if kind.remote and not rest.strip():
        raise ConfigError(f"{where}: backend spec {spec!r} names no model; e.g. '{prefix}:MODEL'")
    if prefix == "openai-compatible":
        m = re.fullmatch(r"(?P<model>[^@]+)@(?P<url>\S+)", rest)
        if not m:
            raise ConfigError(
                f"{where}: backend spec {redact_url(spec)!r}: expected 'openai-compatible:MODEL@http://HOST:PORT/v1'"
            )
        check_url(m["url"], where)
    elif prefix in _BASE_URL_ENV and os.environ.get(_BASE_URL_ENV[prefix], "").strip():
        check_url(os.environ[_BASE_URL_ENV[prefix]].strip(), f"{where} (environment {_BASE_URL_ENV[prefix]})")
    variable = api_key_env or kind.key_env
    if variable and need_key:
        try:
            read_key(variable, required=kind.key_required or api_key_env is not None, spec=spec)
        except BackendError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def validate_backends(config: RunConfig, *, need_keys: bool = True) -> None:
    """Every stage's backend spec, checked offline (raises a one-line ConfigError naming the field); ``need_keys``
    false (a dry run, which sends nothing) checks everything but the API keys."""
    for spec, stages in stage_specs(config).items():
        validate_spec(spec, _field(stages[0]), config.llm.api_key_env, need_key=need_keys)
    if need_keys or _has_key(config, config.backends.simulate):  # building the backend to ask it needs its key
        validate_simulation_method(config)


def _has_key(config: RunConfig, spec: str) -> bool:
    kind = BACKENDS.get(spec.partition(":")[0]) if spec.partition(":")[0] in BACKENDS else None
    variable = config.llm.api_key_env or (kind.key_env if kind else None)
    return not variable or bool(os.environ.get(variable, "").strip())


def validate_simulation_method(config: RunConfig) -> None:
    """A forced simulation method (``simulate.method``, e.g. the openai preset's prompt-logprob estimator) that the
    simulation backend cannot run fails here, before anything is sampled or explained. A local backend is checked
    when it is loaded (it supports every method)."""
    from autointerp.backends import build_raw_backend
    from autointerp.scorers.simulation import METHODS

    method = config.simulate.method
    spec = config.backends.simulate
    if "simulation" not in config.scorers or not method or not BACKENDS.get(spec.partition(":")[0]).remote:
        return
    backend = build_raw_backend(spec, config.llm)
    try:
        supported = METHODS.get(method).supports(backend.capabilities)
    finally:
        run_sync(backend.aclose())
    if not supported:
        raise ConfigError(
            f"field 'simulate.method': {method} needs {METHODS.get(method).capability.replace('_', ' ')}, which backend "
            f"{redact_url(spec)} does not give (OpenAI's estimator: use a local backend for simulation, "
            f"--set backends.simulate=local:MODEL, or --set simulate.method=logprobs-generated|json-list, labelled as "
            f"such)")


CONNECT_TIMEOUT = 3.0  # seconds for the TCP connect to a local server


def backend_url(spec: str) -> str | None:
    """The base URL requests of ``spec`` go to, when the spec or the environment names one."""
    prefix, _, rest = spec.strip().partition(":")
    if prefix == "openai-compatible":
        m = re.fullmatch(r"[^@]+@(?P<url>\S+)", rest)
        return m["url"] if m else None
    if prefix in _BASE_URL_ENV:
        return os.environ.get(_BASE_URL_ENV[prefix], "").strip() or None
    return None


def local_address(url: str) -> tuple[str, int] | None:
    """(host, port) of ``url`` when it is on this machine or a private network (worth a TCP connect before
    sampling: nothing there is the internet); None for public hosts and names other than localhost."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    host = parts.hostname or ""
    if host == "localhost":
        return host, port
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return (host, port) if ip.is_loopback or ip.is_private or ip.is_link_local else None


def reach_local_backends(config: RunConfig) -> None:
    """A TCP connect to every backend served on this machine or the local network; RunHalted (exit 3) naming the
    field and the URL when nothing listens there."""
    for spec, stages in stage_specs(config).items():
        url = backend_url(spec)
        address = local_address(url) if url else None
        if address is None:
            continue
        try:
            socket.create_connection(address, timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise RunHalted(
                f"{_field(stages[0])}: cannot connect to {redact_url(url)} ({why}); check that the server is running "
                "and the URL is right"
            ) from None


PROBE = LLMRequest(messages=(Message(role="user", content="Reply with the single word: ok"),), max_tokens=4)


async def _check(config: RunConfig, run_dir: Path) -> list[str]:
    guard = RunGuard(Ledger(run_dir), config.llm.max_cost, config.llm.api_key_env)
    opts = config.llm.model_dump() | {"cache_dir": None, "batch": False}  # a real request: no cache, no batch
    lines = []
    for spec, stages in stage_specs(config).items():
        if not BACKENDS.get(spec.partition(":")[0]).remote:
            lines.append(f"check {spec}: local, nothing to send")
            continue
        backend = guard.wrap("check", build_backend(spec, **opts))
        token = current_unit.set(None)
        try:
            response = await backend.complete(PROBE)
        except RunHalted:
            raise
        except BackendError as exc:
            raise RunHalted(f"check {stages[0]}: backend {redact_url(spec)} failed: {exc}") from None
        finally:
            current_unit.reset(token)
            await backend.aclose()
        lines.append(
            f"check {redact_url(spec)}: ok (model {response.model or backend.model}, ${response.usage.cost_usd:.6f})"
        )
    return lines


def check_backends(config: RunConfig, run_dir: Path) -> list[str]:
    """One tiny real request per remote backend; RunHalted (exit 3) on the first that fails."""
    return run_sync(_check(config, run_dir))
