"""API keys come from the environment when a backend is built: never at import, never logged."""

from __future__ import annotations

import os

from autointerp.errors import BackendError
from autointerp.secrets import register_secret


def read_key(variable: str, *, required: bool, spec: str) -> str | None:
    """The value of ``variable``; a one-line BackendError naming the variable if required and unset."""
    value = os.environ.get(variable, "").strip()
    if value:
        register_secret(value)  # hidden from every log line, also other libraries' (secrets.RedactingFilter)
        return value
    if required:
        raise BackendError(f"backend {spec!r} needs an API key: set the environment variable {variable}")
    return None
