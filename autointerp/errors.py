"""The one exception family users see.

Every error a user can cause (bad file, bad field, unknown name) is an
:class:`AutointerpError` whose message is a single line naming the problem.
The CLI prints it as ``autointerp: error: <message>`` and exits non-zero,
never with a traceback.
"""

from __future__ import annotations


class AutointerpError(Exception):
    """Base class: a user-facing, one-line error."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # force one line


class ConfigError(AutointerpError):
    """A config field is unknown, missing, or of the wrong type/value."""


class InputError(AutointerpError):
    """An input file (corpus, checkpoint, model folder, run folder) is missing or malformed."""


class BackendError(AutointerpError):
    """An LLM backend failed in a way retries cannot fix (bad request, auth, budget)."""

    exit_code = 3


class BudgetExceeded(BackendError):
    """The configured max_cost was reached; no new requests are sent."""
