"""Provider exceptions -> autointerp errors: transient (retry) or permanent (one-line BackendError).

Both official SDKs share one exception shape (``APIStatusError`` with ``status_code``,
``response.headers`` and ``body``; ``APITimeoutError``; ``APIConnectionError``), so one
translation serves every HTTP backend. Messages name the provider, status and the
provider's own message, never a key or request header.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

from autointerp.errors import BackendError
from autointerp.secrets import redact_text
from autointerp.types import Usage

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class TransientBackendError(BackendError):
    """A failure worth retrying (rate limit, overload, 5xx, timeout, dropped connection, garbled body)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 usage: Usage | None = None, unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said
        self.usage = usage  # tokens the provider billed for this failed attempt (an answer we could not read)
        self.unreachable = unreachable  # no connection could be opened (refused, no route, unknown host)


class Unreachable(BackendError):
    """The backend's server could not be connected to before it ever answered: a wrong URL or a server that is
    not running. Not retried; the run guard stops the run at once (exit 3), like a 401."""


def cannot_connect(exc: BaseException) -> BaseException | None:
    """The transport's connect error behind an SDK's connection error (httpx ``ConnectError``), if any: no
    connection was opened, unlike a connection dropped after the request was sent."""
    seen = 0
    cause = exc.__cause__ or exc.__context__
    while cause is not None and seen < 8:
        if type(cause).__name__ == "ConnectError":
            return cause
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return None


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` (preferred) or ``retry-after`` (seconds or HTTP date); None if absent."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def _provider_message(body: Any, fallback: str) -> str:
    """The human message inside an error body, in either provider's shape."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return str(body)[:200] or fallback
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return body["message"]
    return fallback


def translate(exc: BaseException, provider: str) -> BackendError:
    """Map an SDK/transport exception to a TransientBackendError (retry) or BackendError (give up).

    Messages never carry a password of a URL (``http://user:***@host``)."""
    if isinstance(exc, BackendError):
        return exc
    error = _translate(exc, provider)
    clean = redact_text(str(error))
    if clean != str(error):
        error.args = (clean,)
    return error


def _translate(exc: BaseException, provider: str) -> BackendError:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        message = _provider_message(getattr(exc, "body", None), fallback=type(exc).__name__)
        text = f"{provider} API error {status}: {message}"
        if status in RETRYABLE_STATUS:
            return TransientBackendError(text, status=status, retry_after=parse_retry_after(headers))
        return BackendError(text, status=status)
    name = type(exc).__name__
    if "Timeout" in name:
        return TransientBackendError(f"{provider} request timed out")
    if "Connection" in name:
        refused = cannot_connect(exc)
        if refused is not None:
            return TransientBackendError(f"{provider} cannot connect: {refused}", unreachable=True)
        return TransientBackendError(f"{provider} connection failed ({name})")
    if isinstance(exc, ValueError):  # a body that is not valid JSON / not the expected shape
        return TransientBackendError(f"{provider} returned a malformed response ({name})")
    return BackendError(f"{provider} request failed: {name}: {exc}")
