"""Every answer parser, registered by name: this registry module imports its members, so :data:`PARSERS` is complete.

The core readers live in :mod:`autointerp.judging.parsers` (with the registry itself); the scorers' readers in
:mod:`autointerp.judging.answers` and the intervention's in :mod:`autointerp.judging.steered_answers`. Code that
looks parsers up by name (the prompt loader) imports :data:`PARSERS` and :func:`build_parser` from here.
"""

from __future__ import annotations

from autointerp.judging import answers, steered_answers
from autointerp.judging.parsers import PARSERS, build_parser

MEMBERS = (answers, steered_answers)

__all__ = ["MEMBERS", "PARSERS", "build_parser"]
