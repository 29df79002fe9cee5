"""Answer parsers of the scorers, registered in :data:`autointerp.judging.parsers.PARSERS` by name.

* ``id_verdicts`` (detection, fuzzing): ``c1: yes`` lines (or ``{"c1": "yes"}``); with generated-token
  logprobs also P(yes) = p(yes) / (p(yes) + p(no)) at each answer word.
* ``binary_list`` (detection, fuzzing; delphi's answer format): one list ``[1, 0, 1, 0, 0]`` with an entry per
  excerpt in order; with generated-token logprobs P(1) = p(1) / (p(0) + p(1)) at each answer digit.
* ``indices`` (saebench): 1-based document numbers separated by commas or "and", or ``None`` (SAEBench's reading).
* ``choice`` (intruder): exactly one context id.
* ``sentence`` (saebench's explainer): one short sentence, the last line of the answer.

Like every parser they never guess: an answer that does not fit is a ParseError or a per-id problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from autointerp.backends.base import LLMResponse
from autointerp.judging.parsers import PARSERS, ItemAnswers, ParseError, Parser, _json_object

_VERDICT_LINE = re.compile(
    r"^[\s>*_\-•\[(]*(?:context\s*|example\s*)?(c\d+)[\s\])*_\"']*[:=–—-]+[\s*_\"'`]*([A-Za-z]+)", re.IGNORECASE
)


@PARSERS.register("id_verdicts")
class IdVerdicts(Parser):
    """A yes/no verdict per context id, and P(yes) where the response carries top logprobs."""

    stage: ClassVar[tuple[str, ...]] = ("detection", "fuzzing")
    yes: str = Field(default="yes", description="Word meaning 'activates' / 'correct'.")
    no: str = Field(default="no", description="Word meaning the opposite.")

    def parse(self, response: LLMResponse, ids: Sequence[str]) -> ItemAnswers:
        """values: id -> (verdict, P(yes) or None); problems: id -> why it has no verdict."""
        text = response.text
        found: dict[str, list[tuple[str, int]]] = {}
        obj = _json_object(text)
        if obj is not None:
            for key, val in obj.items():
                found.setdefault(str(key).strip().lower(), []).append((str(val).strip().lower(), -1))
        else:
            offset = 0
            for line in text.split("\n"):
                m = _VERDICT_LINE.match(line)
                if m:
                    found.setdefault(m.group(1).lower(), []).append((m.group(2).lower(), offset + m.start(2)))
                offset += len(line) + 1
        values: dict[str, tuple[bool, float | None]] = {}
        problems: dict[str, str] = {}
        words = {self.yes.lower(): True, self.no.lower(): False}
        for cid in ids:
            answers = found.get(cid.lower())
            if not answers:
                problems[cid] = "no verdict given"
                continue
            verdicts = {a for a, _ in answers}
            if len(verdicts) > 1:
                problems[cid] = "conflicting verdicts"
                continue
            word = verdicts.pop()
            if word not in words:
                problems[cid] = f"{word[:20]!r} is neither {self.yes!r} nor {self.no!r}"
                continue
            values[cid] = (words[word], self._probability(response, answers[0][1]))
        return ItemAnswers(values=values, problems=problems)

    def _probability(self, response: LLMResponse, at: int) -> float | None:
        """P(yes) / (P(yes) + P(no)) over the top alternatives of the token where the verdict starts."""
        if at < 0 or not response.logprobs or "".join(t.token for t in response.logprobs) != response.text:
            return None
        pos = 0
        for tl in response.logprobs:
            if pos <= at < pos + len(tl.token):
                head = tl.token[: at - pos]
                mass = {True: 0.0, False: 0.0}
                for alt, lp in {**tl.top, tl.token: tl.logprob}.items():
                    if not alt.startswith(head):
                        continue
                    rest = alt[len(head) :].strip().lower()
                    for word, verdict in ((self.yes.lower(), True), (self.no.lower(), False)):
                        if rest and (word.startswith(rest) or rest.startswith(word)):
                            mass[verdict] += math.exp(lp)
                            break
                total = mass[True] + mass[False]
                return mass[True] / total if total > 0 else None
            pos += len(tl.token)
        return None


_LIST = re.compile(r"\[.*?\]")


@PARSERS.register("binary_list")
class BinaryList(Parser):
    """delphi's classifier answer: the first ``[...]`` on a line, a JSON list of 0/1 (or true/false), one per excerpt.

    As delphi reads it, the answer is all or nothing: a list of the wrong length, or (with logprobs) a number of
    answer digits other than the number of excerpts, leaves every excerpt of the request without a verdict.
    P(1) per excerpt follows delphi: at every generated token containing '0' or '1', the top alternatives
    containing '0' (p0) or else '1' (p1) give p1 / (p0 + p1) (0 when both are 0). Entries other than 0, 1, true
    and false are refused (delphi would read any JSON value as its truth value).
    """

    stage: ClassVar[tuple[str, ...]] = ("detection", "fuzzing")

    def parse(self, response: LLMResponse, ids: Sequence[str]) -> ItemAnswers:
        try:
            verdicts = self.verdicts(response.text, len(ids))
            probs = self.probabilities(response, len(ids))
        except ParseError as exc:
            return ItemAnswers(values={}, problems={cid: str(exc) for cid in ids})
        return ItemAnswers(values={cid: (v, p) for cid, v, p in zip(ids, verdicts, probs)}, problems={})

    @staticmethod
    def verdicts(text: str, n: int) -> list[bool]:
        m = _LIST.search(text)
        if m is None:
            raise ParseError("no [...] list in the answer")
        try:
            raw = json.loads(m.group(0))
        except ValueError:
            raise ParseError(f"{m.group(0)[:30]!r} is not a list of 0 and 1") from None
        if len(raw) != n:
            raise ParseError(f"the list has {len(raw)} entries, expected {n}")
        bad = [x for x in raw if not (isinstance(x, bool) or x in (0, 1)) or isinstance(x, float)]
        if bad:
            raise ParseError(f"{str(bad[0])[:20]!r} is neither 0 nor 1")
        return [bool(x) for x in raw]

    @staticmethod
    def probabilities(response: LLMResponse, n: int) -> list[float | None]:
        if not response.logprobs:
            return [None] * n
        out: list[float | None] = []
        for tl in response.logprobs:
            if "1" not in tl.token and "0" not in tl.token:
                continue
            p0 = sum(math.exp(lp) for alt, lp in tl.top.items() if "0" in alt)
            p1 = sum(math.exp(lp) for alt, lp in tl.top.items() if "0" not in alt and "1" in alt)
            out.append(p1 / (p0 + p1) if p0 + p1 > 0 else 0.0)
        if len(out) != n:
            raise ParseError(f"logprobs of {len(out)} answer digits, expected {n}")
        return out


@PARSERS.register("indices")
class Indices(Parser):
    """SAEBench's answer, read as SAEBench reads it: 1-based document numbers separated by commas or "and", the
    word ``None`` for none. Trailing full stops are dropped; every other piece must be a whole number. Numbers outside
    the shown range are kept (the score ignores them); duplicates are kept (they count once)."""

    stage: ClassVar[str] = "saebench"
    none_word: str = Field(default="None", description="The word standing for 'no document' (case-sensitive).")

    def parse(self, text: str, n: int | None = None) -> tuple[int, ...]:
        body = text.strip().rstrip(".").replace("and", ",").replace(self.none_word, "")
        pieces = [p.strip() for p in body.split(",") if p.strip()]
        bad = next((p for p in pieces if not p.isdigit()), None)
        if bad is None:
            try:
                return tuple(int(p) for p in pieces)
            except ValueError:  # a digit character int() does not read, e.g. '²'
                bad = next(p for p in pieces if not p.isdecimal())
        raise ParseError(f"{bad[:20]!r} is not a document number; answer numbers separated by commas, or None")


_ID = re.compile(r"\b(c\d+)\b", re.IGNORECASE)


@PARSERS.register("choice")
class Choice(Parser):
    """Exactly one of the shown context ids (an 'Answer:' line wins over ids mentioned in reasoning)."""

    stage: ClassVar[str] = "intruder"
    prefix: str = Field(default="Answer:", description="Marker before the chosen id; matched case-insensitively.")

    def parse(self, text: str, ids: Sequence[str]) -> str:
        valid = {i.lower(): i for i in ids}
        marked = [ln.lower().split(self.prefix.lower(), 1)[1] for ln in text.splitlines()
                  if self.prefix.lower() in ln.lower()]
        source = marked[-1] if marked else text
        chosen = {m.lower() for m in _ID.findall(source)}
        if not chosen:
            raise ParseError(f"no context id ({', '.join(ids)}) in the answer")
        if len(chosen) > 1:
            raise ParseError(f"several ids ({', '.join(sorted(chosen))}); name exactly one")
        cid = chosen.pop()
        if cid not in valid:
            raise ParseError(f"{cid} is not one of the shown ids ({', '.join(ids)})")
        return valid[cid]


@PARSERS.register("sentence")
class Sentence(Parser):
    """SAEBench's explainer answer: one short sentence, the last non-empty line (an optional prefix is dropped)."""

    stage: ClassVar[str] = "saebench_explain"
    prefix: str = Field(default="Explanation:", description="Dropped from the start of the line if present.")
    max_chars: int = Field(default=200, ge=10, description="Longer answers are a failure (never cut).")
    after: tuple[str, ...] = Field(
        default=(), description="Lead-in phrases (e.g. 'fires on'): the explanation is what follows the last one "
        "in the line, as SAEBench keeps what follows 'activates on'.")

    def parse(self, text: str) -> str:
        lines = [ln.strip().strip("*_#>`\"' ") for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise ParseError("the answer is empty")
        line = lines[-1]
        if line.lower().startswith(self.prefix.lower()):
            line = line[len(self.prefix) :].strip()
        cuts = [line.rfind(p) + len(p) for p in self.after if p in line]
        if cuts:
            line = line[max(cuts):]
        line = " ".join(line.split()).rstrip(".").strip()
        if not re.search(r"[A-Za-z]", line):
            raise ParseError("the sentence has no words")
        if len(line) > self.max_chars:
            raise ParseError(f"the sentence is {len(line)} characters; keep it under {self.max_chars}")
        return line
