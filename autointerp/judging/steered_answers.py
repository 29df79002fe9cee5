"""The ``id_set`` answer parser (intervention scorer): the set of shown ids the judge picked, or none.

Registered in :data:`autointerp.judging.parsers.PARSERS`; imported by :mod:`autointerp.judging.prompts` so a prompt file naming
it validates anywhere. An 'Answer:' line wins over ids mentioned in reasoning; it never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from autointerp.judging.parsers import PARSERS, ParseError, Parser

_ID = re.compile(r"\b(c\d+)\b", re.IGNORECASE)


@PARSERS.register("id_set")
class IdSet(Parser):
    """Several of the shown context ids (comma-separated), or the word ``none``."""

    stage: ClassVar[str] = "intervention"
    prefix: str = Field(default="Answer:", description="Marker before the chosen ids; matched case-insensitively.")
    none_word: str = Field(default="none", description="The answer meaning 'no id'.")

    def parse(self, text: str, ids: Sequence[str]) -> frozenset[str]:
        valid = {i.lower(): i for i in ids}
        marked = [ln.lower().split(self.prefix.lower(), 1)[1] for ln in text.splitlines()
                  if self.prefix.lower() in ln.lower()]  # fmt: skip
        if not marked:
            raise ParseError(f"no line starting with {self.prefix!r}")
        source = marked[-1].strip().strip("`*_\"'. ")
        if source == self.none_word.lower():
            return frozenset()
        chosen = {m.lower() for m in _ID.findall(source)}
        if not chosen:
            raise ParseError(f"no context id ({', '.join(ids)}) after {self.prefix!r}; name ids or {self.none_word}")
        bad = sorted(c for c in chosen if c not in valid)
        if bad:
            raise ParseError(f"{bad[0]} is not one of the shown ids ({', '.join(ids)})")
        return frozenset(valid[c] for c in chosen)
