"""The config label of an input handed over in memory (``memory:<what>@<fingerprint>``, see ``in_memory``), and the
one-line refusal where such a run's config is read back by name (``autointerp attribute``, ``run --config``)."""

from __future__ import annotations

from autointerp.errors import InputError

MEMORY = "memory:"


def is_memory_label(value: object) -> bool:
    return isinstance(value, str) and value.startswith(MEMORY)


def refuse_memory_label(value: object, what: str) -> None:
    if is_memory_label(value):
        raise InputError(
            f"{what} {value!r} was handed over in memory (autointerp.evaluate) and cannot be loaded by name; "
            "pass the object to autointerp.evaluate again"
        )
