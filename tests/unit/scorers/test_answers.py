"""Answer parsers of the scorers: what they accept, what they refuse (never guessing)."""

from __future__ import annotations

import math

import pytest

from autointerp.backends.base import LLMResponse, TokenLogprobs
from autointerp.judging.parser_catalog import build_parser
from autointerp.judging.parsers import ParseError


def verdicts(text: str, ids=("c1", "c2", "c3"), logprobs=None):
    return build_parser("id_verdicts").parse(LLMResponse(text=text, logprobs=logprobs), list(ids))


def test_verdict_lines_with_markup_and_case():
    got = verdicts("c1: yes\n**c2**: No\n- c3 - YES.")
    assert got.values == {"c1": (True, None), "c2": (False, None), "c3": (True, None)}
    assert got.problems == {}


def test_verdict_json_object():
    got = verdicts('{"c1": "no", "c2": "yes", "c3": "no"}')
    assert {k: v[0] for k, v in got.values.items()} == {"c1": False, "c2": True, "c3": False}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("c1: yes\nc2: no", {"c3": "no verdict given"}),
        ("c1: yes\nc1: no\nc2: no\nc3: no", {"c1": "conflicting verdicts"}),
        ("c1: maybe\nc2: no\nc3: no", {"c1": "'maybe' is neither 'yes' nor 'no'"}),
    ],
)
def test_verdict_problems_are_per_id(text, problem):
    got = verdicts(text)
    assert got.problems == problem
    assert set(got.values) == {"c1", "c2", "c3"} - set(problem)


def test_verdict_probability_from_top_logprobs():
    toks = (
        TokenLogprobs(token="c1:", logprob=-0.01),
        TokenLogprobs(token=" yes", logprob=math.log(0.6), top={" yes": math.log(0.6), " no": math.log(0.2),
                                                               " maybe": math.log(0.2)}),
    )
    got = verdicts("c1: yes", ids=("c1",), logprobs=toks)
    verdict, p = got.values["c1"]
    assert verdict is True
    assert p == pytest.approx(0.75)  # 0.6 / (0.6 + 0.2): 'maybe' is neither


def test_verdict_probability_none_when_logprobs_do_not_spell_the_text():
    toks = (TokenLogprobs(token="something else", logprob=-0.1),)
    assert verdicts("c1: yes", ids=("c1",), logprobs=toks).values["c1"] == (True, None)


# SAEBench's reading (tests/unit/protocols/test_saebench_peer.py holds it to SAEBench's own parser): numbers kept as
# given, out-of-range ones too (the score ignores them), "and" separates, "None" (case-sensitive) stands for none
@pytest.mark.parametrize(("text", "n", "want"), [
    ("2, 5, 9", 14, (2, 5, 9)), ("None", 14, ()), ("None.", 14, ()), ("3 ,3, 1", 14, (3, 3, 1)),
    ("3, 7 and 9", 14, (3, 7, 9)), ("0, 15", 14, (0, 15)), ("", 14, ()),
])
def test_indices_accepts(text, n, want):
    assert build_parser("indices").parse(text, n) == want


@pytest.mark.parametrize(("text", "why"), [
    ("1, two", "not a document number"), ("none.", "not a document number"), ("`7`", "not a document number"),
    ("Documents 1 and 2", "not a document number"), ("1 2", "not a document number"),
])
def test_indices_refuses(text, why):
    with pytest.raises(ParseError, match=why):
        build_parser("indices").parse(text, 14)


def test_choice_prefers_the_answer_line():
    text = "c1 and c2 are about fruit, c4 too.\nAnswer: c3"
    assert build_parser("choice").parse(text, ["c1", "c2", "c3", "c4", "c5"]) == "c3"


@pytest.mark.parametrize(("text", "why"), [
    ("I cannot tell", "no context id"), ("Answer: c2 or c4", "several ids"), ("Answer: c9", "not one of the shown"),
])
def test_choice_refuses(text, why):
    with pytest.raises(ParseError, match=why):
        build_parser("choice").parse(text, ["c1", "c2", "c3", "c4", "c5"])


def test_sentence_takes_last_line_and_refuses_empty_or_long():
    p = build_parser("sentence")
    assert p.parse("Thinking...\nExplanation: the word 'the' before nouns.") == "the word 'the' before nouns"
    with pytest.raises(ParseError):
        p.parse("  \n ")
    with pytest.raises(ParseError, match="characters"):
        p.parse("x" * 300)
