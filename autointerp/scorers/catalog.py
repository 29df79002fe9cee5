"""Imports every scorer module so :data:`SCORERS` is complete; :func:`summarise` for any stored record."""

from __future__ import annotations

from autointerp.scorers import (  # noqa: F401  (each module registers its scorer)
    detection,
    embedding,
    fuzzing,
    intervention,
    intruder,
    saebench,
    simulation,
    specificity,
)
from autointerp.scorers.base import SCORERS, Scorer
from autointerp.scorers.records import ScoreSummary
from autointerp.types import Record

DEFAULT_SCORERS = ("specificity", "simulation")


def summarise(scorer: str, record: Record) -> ScoreSummary:
    """The generic summary (metrics, chance, n) of a record written by the named scorer."""
    return SCORERS.get(scorer).summarise(record)


def scorer(name: str) -> Scorer:
    return SCORERS.get(name)


__all__ = ["DEFAULT_SCORERS", "SCORERS", "Scorer", "scorer", "summarise"]
