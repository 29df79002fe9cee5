"""Every scorer the field uses, behind one registry (:data:`SCORERS`), one module each.

``specificity`` (the 0-3 rubric of Scaling Monosemanticity, stage and scorer) and ``simulation`` (OpenAI's
simulator, stage and scorer), ``detection`` and ``fuzzing`` (delphi's classifiers), ``saebench`` (SAEBench's
autointerp), ``embedding`` (explanation-context similarity, no LLM), ``intruder`` (explanation-free) and
``intervention`` (steered text). Each takes a :class:`~autointerp.scorers.base.ScoreInput` and a backend and returns
a typed record; :func:`~autointerp.scorers.catalog.summarise` turns any of them into a
:class:`~autointerp.scorers.records.ScoreSummary` the report can read without knowing the scorer. ``catalog`` is
the registry module: it imports every member. ``metrics`` holds the score math, ``orchestrate`` the per-run
scheduling of the judge stages.

The package import is light (names resolve on first use, from ``catalog``).
May import: judging, dictionaries, sampling, backends, activations and the shared records; never runs, report or cli.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SCORERS": "autointerp.scorers.catalog",
    "Scorer": "autointerp.scorers.base",
    "ScoreInput": "autointerp.scorers.base",
    "summarise": "autointerp.scorers.catalog",
    "ScoreResult": "autointerp.scorers.records",
    "ScoreSummary": "autointerp.scorers.records",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autointerp.scorers' has no attribute {name!r}")


__all__ = ["SCORERS", "ScoreInput", "ScoreResult", "ScoreSummary", "Scorer", "summarise"]
