"""Readers of model answers, chosen by name in a prompt file (``parser: {name, options}``).

A parser never guesses: an answer it cannot read strictly raises
:class:`ParseError` (single-answer parsers) or reports a per-item problem
(multi-item parsers), and the stage re-asks or records a failure. No value is
ever coerced into range, padded or truncated.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autointerp.backends.base import LLMResponse
from autointerp.errors import ConfigError
from autointerp.registry import Registry


class ParseError(ValueError):
    """The answer could not be read; the message says why (it is shown to the model when re-asking)."""


class Parser(BaseModel):
    """Base: options are the pydantic fields; ``stage`` says which prompt files may use it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    stage: ClassVar[str]


PARSERS: Registry[type[Parser]] = Registry("answer parser")


def build_parser(name: str, options: Mapping[str, Any] | None = None) -> Parser:
    cls = PARSERS.get(name)
    try:
        return cls(**dict(options or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"parser {name!r} option {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


_QUOTES = "\"'`“”‘’«»"
_MARKUP = "*_#>-• \t"


def _strip_markup(text: str) -> str:
    return text.strip().strip(_MARKUP).strip()


@PARSERS.register("final_line")
class FinalLine(Parser):
    """The explanation: the answer must end with a ``prefix`` line, e.g. ``Explanation: <description>``.

    The format is the prompt file's (``rubrics/explain.yaml`` asks for reasoning, if any, then one final
    ``Explanation:`` line). Read strictly; every miss is a :class:`ParseError`, which the stage re-asks and
    then records as a failed unit, never as an explanation:

    * no line starts with the prefix (a chatty or bare answer such as ``Sure! Here's my analysis: ...`` or
      ``10``), unless ``require_prefix`` is off, when the last line is taken;
    * text after the prefix line (only the description itself may sit on the next line when the prefix line
      is bare);
    * a description with no letters (``Explanation: 10``), shorter than ``min_chars`` or longer than
      ``max_chars`` (never cut: a cut description is not the one the model gave).

    Markdown emphasis, list marks, surrounding quotes and a final full stop are removed.
    """

    stage: ClassVar[str] = "explain"
    prefix: str = Field(default="Explanation:", description="Marker before the answer; matched case-insensitively.")
    require_prefix: bool = Field(default=True, description="Fail when no line carries the prefix.")
    max_chars: int = Field(default=200, ge=10, description="Longer descriptions are a failure (re-asked).")
    min_chars: int = Field(default=2, ge=1, description="Shorter descriptions are a failure.")

    def parse(self, text: str) -> str:
        lines = [ln for ln in (_strip_markup(x) for x in text.splitlines()) if ln]
        if not lines:
            raise ParseError("the answer is empty")
        answer = None
        pre = self.prefix.lower().rstrip(":")
        for i in range(len(lines) - 1, -1, -1):
            low = lines[i].lower()
            if low.startswith(pre):
                rest = _strip_markup(lines[i][len(pre) :].lstrip(":").lstrip("*_"))
                after = lines[i + 1 :]
                if not rest and after:
                    rest, after = after[0], after[1:]
                if after:
                    raise ParseError(f"the answer goes on after the {self.prefix!r} line; end with that line")
                answer = rest
                break
        if answer is None:
            if self.require_prefix:
                raise ParseError(f"no line starts with {self.prefix!r}")
            answer = lines[-1]
        answer = " ".join(answer.split()).strip(_QUOTES + "*_ ").rstrip(".").strip(_QUOTES + " ")
        if len(answer) < self.min_chars:
            raise ParseError("the explanation is empty")
        if not any(ch.isalpha() for ch in answer):
            raise ParseError(f"the explanation {answer[:20]!r} has no words")
        if len(answer) > self.max_chars:
            raise ParseError(f"the explanation is {len(answer)} characters long; at most {self.max_chars}")
        return answer


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _strict_int(value: Any) -> int | None:
    """An integer written as an integer (JSON int or a plain digit string); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        return int(value.strip())
    return None


class ItemAnswers(BaseModel):
    """A multi-item answer: the items read cleanly, and a problem for every other expected id."""

    model_config = ConfigDict(frozen=True)
    values: dict[str, Any]
    problems: dict[str, str]


_ID_LINE = re.compile(r"^[\s>*_\-•\[(]*(?:context\s*)?(c\d+)[\s\])*_\"']*[:=–—-]+\s*(.*)$", re.IGNORECASE)


@PARSERS.register("id_scores")
class IdScores(Parser):
    """Integer scores per context id: ``c1: 3`` lines, or a JSON object ``{"c1": 3}``."""

    stage: ClassVar[str] = "specificity"
    min_score: int = 0
    max_score: int = 3

    @model_validator(mode="after")
    def _range(self) -> IdScores:
        if self.min_score > self.max_score:
            raise ValueError("min_score must be <= max_score")
        return self

    def _check(self, raw: Any) -> tuple[int | None, str | None]:
        value = _strict_int(raw)
        if value is None:
            return None, f"{str(raw)[:20]!r} is not an integer"
        if not self.min_score <= value <= self.max_score:
            return None, f"{value} is outside {self.min_score}-{self.max_score}"
        return value, None

    def parse(self, text: str, ids: Sequence[str]) -> ItemAnswers:
        raw: dict[str, list[Any]] = {}
        obj = _json_object(text)
        if obj is not None:
            for key, val in obj.items():
                raw.setdefault(str(key).strip().lower(), []).append(val)
        else:
            for line in text.splitlines():
                m = _ID_LINE.match(line)
                if m:
                    first = (m.group(2).split() or [""])[0].strip("*_`\"'.,;)(")
                    raw.setdefault(m.group(1).lower(), []).append(first)
        values: dict[str, int] = {}
        problems: dict[str, str] = {}
        for cid in ids:
            answers = raw.get(cid.lower())
            if not answers:
                problems[cid] = "no score given"
                continue
            checked = {self._check(a) for a in answers}
            if len(checked) > 1:
                problems[cid] = "conflicting scores"
                continue
            value, problem = checked.pop()
            if problem:
                problems[cid] = problem
            else:
                values[cid] = value
        return ItemAnswers(values=values, problems=problems)


@PARSERS.register("json_lists")
class JsonLists(Parser):
    """One list of integer activations per context id: ``{"c1": [0, 0, 7], ...}``; length and range checked."""

    stage: ClassVar[str] = "simulate"
    min_value: int = 0
    max_value: int = 10

    def parse(self, text: str, lengths: Mapping[str, int]) -> ItemAnswers:
        obj = _json_object(text)
        if obj is None:
            return ItemAnswers(values={}, problems={cid: "the answer is not a JSON object" for cid in lengths})
        obj = {str(k).strip().lower(): v for k, v in obj.items()}
        values: dict[str, tuple[int, ...]] = {}
        problems: dict[str, str] = {}
        for cid, n in lengths.items():
            lst = obj.get(cid.lower())
            if not isinstance(lst, list):
                problems[cid] = "no list given" if lst is None else "not a list"
                continue
            if len(lst) != n:
                problems[cid] = f"expected {n} values, got {len(lst)}"
                continue
            ints = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in lst]
            if any(v is None for v in ints):
                problems[cid] = "every value must be an integer"
            elif any(not self.min_value <= v <= self.max_value for v in ints):  # type: ignore[operator]
                problems[cid] = f"values must be within {self.min_value}-{self.max_value}"
            else:
                values[cid] = tuple(ints)  # type: ignore[arg-type]
        return ItemAnswers(values=values, problems=problems)


def _logsumexp(xs: Sequence[float]) -> float:
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def _squash(text: str) -> str:
    """Text without whitespace: candidates that differ only by surrounding whitespace are the same value."""
    return "".join(text.split())


@PARSERS.register("token_lines")
class TokenLines(Parser):
    """``token<TAB>value`` lines; the value's distribution is read from the generated tokens' top logprobs.

    Also defines the teacher-forced form used with prompt logprobs (``placeholder`` stands in for the values
    of earlier tokens). Returns, per line, the candidate logprobs ``{"0": lp, ..., "9": lp}`` found there.

    Reading a value position (generated logprobs):

    * The token holding the line's first value character is read with its alternatives (top logprobs). An
      alternative counts for value ``v`` when, with all whitespace removed, it is the token's text before the
      value followed by ``v``: ``" 5"``, ``"5"``, ``"\t5"`` and ``"5\n"`` are all ``5`` and their probability
      masses are summed (log-sum-exp), whichever of them was sampled. So a sampled ``" 1"`` does not discard
      the unspaced alternatives.
    * Multi-character numbers: the scale stops at ``max_value`` (9 by default) so every value is one token. An
      alternative such as ``"10"`` or ``" 12"`` is not a value on the scale and its mass is left out (the
      expected value is renormalised over the candidates found). A line whose written value is not exactly one
      candidate (e.g. ``10``: the model wrote ``" 1"`` then ``"0"``) is a :class:`ParseError` (the stage
      re-asks); its first token is never read as ``1``.
    """

    stage: ClassVar[str] = "simulate"
    placeholder: str = Field(
        default="unknown", description="Value shown for earlier tokens in the teacher-forced form."
    )
    min_value: int = Field(default=0, ge=0)
    max_value: int = Field(default=9, description="Top of the scale; 9 keeps every value one token for any tokenizer.")

    @model_validator(mode="after")
    def _range(self) -> TokenLines:
        if self.max_value <= self.min_value:
            raise ValueError("max_value must be > min_value")
        return self

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(str(v) for v in range(self.min_value, self.max_value + 1))

    def parse(self, response: LLMResponse, n_tokens: int) -> list[dict[str, float]]:
        if not response.logprobs:
            raise ParseError("the response carries no logprobs")
        starts, pos = [], 0
        for tl in response.logprobs:
            starts.append(pos)
            pos += len(tl.token)
        text = "".join(tl.token for tl in response.logprobs)
        lines, offset = [], 0
        for line in text.split("\n"):
            if line.strip():
                lines.append((offset, line))
            offset += len(line) + 1
        if len(lines) != n_tokens:
            raise ParseError(f"expected {n_tokens} lines (one per token), got {len(lines)}")
        wanted = set(self.candidates)
        scale = f"{self.min_value}-{self.max_value}"
        out = []
        for k, (line_start, line) in enumerate(lines, 1):
            tab = line.rfind("\t")
            if tab < 0:
                raise ParseError(f"line {k} has no tab before its value")
            written = line[tab + 1 :].strip()
            if written not in wanted:
                shown = f"{written[:10]!r}" if written else "nothing"
                raise ParseError(f"line {k} has {shown} after its tab; expected one whole number {scale}")
            at = line_start + tab + 1
            while text[at].isspace():
                at += 1
            i = max(j for j, s in enumerate(starts) if s <= at)
            tl = response.logprobs[i]
            head = _squash(tl.token[: at - starts[i]])
            found: dict[str, list[float]] = {}
            for alt, lp in {**tl.top, tl.token: tl.logprob}.items():
                key = _squash(alt)
                if key.startswith(head) and key[len(head) :] in wanted:
                    found.setdefault(key[len(head) :], []).append(lp)
            if not found:  # the value shares its token with more text (e.g. "5\nthe"), and no alternative is clean
                raise ParseError(f"line {k}: its value token {tl.token!r} carries more than the value")
            out.append({c: _logsumexp(lps) for c, lps in found.items()})
        return out
