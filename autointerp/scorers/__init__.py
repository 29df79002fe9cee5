"""Every scorer the field uses, behind one registry (:data:`SCORERS`).

One module per scorer: ``specificity`` and ``simulation`` (wrapping :mod:`autointerp.rubric` and
:mod:`autointerp.simulate`), ``detection`` and ``fuzzing`` (delphi's classifiers), ``saebench``
(SAEBench's autointerp preset), ``embedding`` (explanation-context similarity, no LLM) and
``intruder`` (explanation-free). Each takes a :class:`~autointerp.scorers.base.ScoreInput` and a
backend and returns a typed record; :func:`~autointerp.scorers.base.summarise` turns any of them into
a :class:`~autointerp.scorers.records.ScoreSummary` the report can read without knowing the scorer.

The package import is light (names resolve on first use) so the prompt loader can import the answer
parsers in :mod:`autointerp.scorers.answers` without a cycle.
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
