"""The one exception family users see.

Every error a user can cause (bad file, bad field, unknown name) is an
:class:`AutointerpError` whose message is a single line naming the problem.
The CLI prints it as ``autointerp: error: <message>`` and exits non-zero,
never with a traceback.

Exit codes of ``autointerp run`` / ``demo`` (docs/running.md: "Exit codes"):

====  ==============================================================================
0     every unit-stage finished ok
2     bad usage, config or input file (one line naming the file/field)
3     a backend refused the run: authentication, permission, unknown model, unreachable server (stopped at the first)
4     the budget ``llm.max_cost`` was reached; rerun with a higher budget to continue
5     the run finished but some unit-stages failed for good (retries exhausted, unreadable answers)
6     the run folder is in use by another autointerp process
7     the results folder cannot be written (permissions, a file in the way, disk full)
130   interrupted (Ctrl-C); finished records are saved
====  ==============================================================================
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


EXIT_UNITS_FAILED = 5


class BackendError(AutointerpError):
    """An LLM backend failed in a way retries cannot fix (bad request, auth, budget).

    ``status`` is the HTTP status when the provider answered with one (401, 404, ...)."""

    exit_code = 3

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status
        self.paid = None  # Usage (priced) of answers paid for on the way to this failure, set by the retry layer


class BudgetExceeded(BackendError):
    """The configured max_cost was reached; no new requests are sent."""

    exit_code = 4


class RunHalted(AutointerpError):
    """A backend refused in a way no unit can get past (authentication, permission, unknown model).

    Not a BackendError on purpose: the stages record BackendErrors per unit; this one passes through
    them and stops the whole run at the first occurrence."""

    exit_code = 3


class RunLocked(AutointerpError):
    """The run folder is in use by another autointerp process."""

    exit_code = 6


class StorageError(AutointerpError):
    """The results folder cannot be written: permissions, a file where a folder should be, disk full."""

    exit_code = 7


class CacheError(AutointerpError):
    """The on-disk LLM response cache cannot be read or written (disk full, unwritable folder)."""
