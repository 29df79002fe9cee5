import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autointerp.backends.base import LLMResponse, TokenLogprobs
from autointerp.errors import ConfigError
from autointerp.judging.parsers import FinalLine, IdScores, JsonLists, ParseError, TokenLines, build_parser
from tests.support.scripted_backend import lines_response, value_logprobs

# --- final_line ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Explanation: cats and kittens", "cats and kittens"),
        ("The tokens are animals.\nSome thinking...\nExplanation: \"cat words\".", "cat words"),
        ("**Explanation:** *feline nouns*", "feline nouns"),
        ("explanation:\n`the word cat`", "the word cat"),
        ("Explanation: first try\nHmm, actually:\nExplanation: second try", "second try"),
        ("- Explanation: **day names**\n", "day names"),
    ],
)
def test_final_line_reads_answers(text, want):
    assert FinalLine().parse(text) == want


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Sure! Here's my analysis: it depends on the context and many other factors.", "no line starts"),
        ("10", "no line starts"),
        ("just a bare answer", "no line starts"),
        ("Explanation: 10", "has no words"),
        ("Explanation: 7/10 !!", "has no words"),
        ("Explanation: cats\nLet me know if you need anything else!", "goes on after"),
        ("Explanation: " + " ".join(["word"] * 60), "at most 200"),
    ],
)
def test_final_line_refuses_off_format_answers(text, problem):
    with pytest.raises(ParseError, match=problem):
        FinalLine().parse(text)


@pytest.mark.parametrize("text", ["", "   \n\n", "Explanation:", "Explanation: \"\"", "Explanation: ."])
def test_final_line_rejects_empty_answers(text):
    with pytest.raises(ParseError):
        FinalLine().parse(text)


def test_final_line_prefix_optional_and_length_cap():
    assert FinalLine(require_prefix=False).parse("thinking...\ncats") == "cats"
    assert FinalLine(max_chars=30).parse("Explanation: " + " ".join(["word"] * 6)) == " ".join(["word"] * 6)
    with pytest.raises(ParseError, match="34 characters long; at most 30"):  # never cut to fit
        FinalLine(max_chars=30).parse("Explanation: " + " ".join(["word"] * 7))


# --- id_scores -----------------------------------------------------------------------------------------------------

IDS = ["c1", "c2", "c3"]


def test_id_scores_clean_and_chatty_answers():
    text = "Sure! Here are my ratings:\n- c1: 3\n* **c2**: 0 (unrelated)\nC3 = 2.\nThanks!"
    got = IdScores().parse(text, IDS)
    assert got.values == {"c1": 3, "c2": 0, "c3": 2} and got.problems == {}
    assert IdScores().parse('{"c1": 1, "c2": "2", "c3": 0}', IDS).values == {"c1": 1, "c2": 2, "c3": 0}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("c1: 3\nc2: 1", {"c3": "no score given"}),
        ("c1: 3\nc2: 4\nc3: 0", {"c2": "4 is outside 0-3"}),
        ("c1: 3\nc2: -1\nc3: 0", {"c2": "not an integer"}),
        ("c1: 3\nc2: 2.5\nc3: 0", {"c2": "not an integer"}),
        ("c1: 3\nc2: high\nc3: 0", {"c2": "not an integer"}),
        ("c1: 3\nc2: 1\nc3: 0\nc2: 2", {"c2": "conflicting scores"}),
        ('{"c1": 3, "c2": true, "c3": 0}', {"c2": "not an integer"}),
        ("c1: 3\nc2: 1\nc3: ", {"c3": "not an integer"}),
    ],
)
def test_id_scores_never_coerces(text, problem):
    got = IdScores().parse(text, IDS)
    assert set(got.problems) == set(problem)
    for cid, needle in problem.items():
        assert needle in got.problems[cid]
        assert cid not in got.values


@given(st.text(max_size=200))
def test_id_scores_fuzz_never_crashes_or_leaves_range(text):
    got = IdScores().parse(text, IDS)
    assert set(got.values) | set(got.problems) == set(IDS)
    assert all(isinstance(v, int) and 0 <= v <= 3 for v in got.values.values())


@given(st.dictionaries(st.sampled_from(IDS), st.one_of(st.integers(-5, 8), st.floats(), st.text(max_size=3))))
def test_id_scores_fuzz_json_values(values):
    import json

    got = IdScores().parse(json.dumps(values), IDS)
    for cid, v in got.values.items():
        assert v == int(str(values[cid]).strip()) and 0 <= v <= 3


# --- json_lists ----------------------------------------------------------------------------------------------------


def test_json_lists_checks_length_range_and_type():
    text = 'Here you go:\n```json\n{"c1": [0, 10, 3], "c2": [0, 11], "c3": [1], "c4": [0, 1.5], "c5": [true, 0]}\n```'
    got = JsonLists().parse(text, {"c1": 3, "c2": 2, "c3": 2, "c4": 2, "c5": 2, "c6": 1})
    assert got.values == {"c1": (0, 10, 3)}
    assert "within 0-10" in got.problems["c2"]
    assert "expected 2 values, got 1" in got.problems["c3"]
    assert "integer" in got.problems["c4"] and "integer" in got.problems["c5"]
    assert "no list" in got.problems["c6"]


@pytest.mark.parametrize("text", ["", "[0, 1, 2]", '{"c1": [0, 1', "nope", '{"c1": "0 1 2"}'])
def test_json_lists_malformed_and_truncated(text):
    got = JsonLists().parse(text, {"c1": 3})
    assert got.values == {} and set(got.problems) == {"c1"}


@given(st.text(max_size=120))
def test_json_lists_fuzz(text):
    got = JsonLists().parse(text, {"c1": 2, "c2": 1})
    assert all(len(v) == {"c1": 2, "c2": 1}[k] and all(0 <= x <= 10 for x in v) for k, v in got.values.items())


# --- token_lines ---------------------------------------------------------------------------------------------------


def test_token_lines_reads_value_distributions():
    resp = lines_response([("The", value_logprobs(0)), (" cat", value_logprobs(7, spread=1.0))])
    dists = TokenLines().parse(resp, 2)
    assert dists[0]["0"] == 0.0
    ev = sum(int(k) * math.exp(v) for k, v in dists[1].items()) / sum(math.exp(v) for v in dists[1].values())
    assert abs(ev - 7.0) < 0.05


def test_token_lines_tab_glued_to_value_and_trailing_chatter():
    resp = lines_response([("a", value_logprobs(3)), ("b", value_logprobs(9))], split_tab=False)
    assert [max(d, key=d.get) for d in TokenLines().parse(resp, 2)] == ["3", "9"]
    chatty = lines_response([("a", value_logprobs(3)), ("b", value_logprobs(9))], extra_text="\nDone!")
    with pytest.raises(ParseError, match="expected 2 lines"):
        TokenLines().parse(chatty, 2)


@pytest.mark.parametrize(
    "resp",
    [
        LLMResponse(text="a\t1"),  # no logprobs
        LLMResponse(text="a 1", logprobs=(TokenLogprobs(token="a 1", logprob=0.0),)),  # no tab
        LLMResponse(text="a\t", logprobs=(TokenLogprobs(token="a\t", logprob=0.0),)),  # truncated
        LLMResponse(text="a\tx", logprobs=(TokenLogprobs(token="a\t", logprob=0.0), TokenLogprobs(token="x", logprob=0.0, top={"x": 0.0, "y": -1.0}))),
    ],
)
def test_token_lines_malformed(resp):
    with pytest.raises(ParseError):
        TokenLines().parse(resp, 1)


def test_token_lines_wrong_count():
    resp = lines_response([("a", value_logprobs(1))])
    with pytest.raises(ParseError, match="expected 3 lines"):
        TokenLines().parse(resp, 3)


def _value_line(token: str, value_token: str, probs: dict[str, float]) -> LLMResponse:
    """One generated line ``token<TAB>value`` whose value token was sampled from ``probs`` (top logprobs)."""
    toks = (
        TokenLogprobs(token=token, logprob=-0.01),
        TokenLogprobs(token="\t", logprob=-0.01),
        TokenLogprobs(token=value_token, logprob=math.log(probs[value_token]),
                      top={k: math.log(p) for k, p in probs.items()}),
    )
    return LLMResponse(text="".join(t.token for t in toks), logprobs=toks)


# The shape: the sampled value token carries a space (" 1"); most of the mass is on unspaced digits.
SPACED_SAMPLE = {" 1": 0.30, " 0": 0.02, "5": 0.30, "6": 0.20, "7": 0.10, "4": 0.08}


def test_token_lines_whitespace_variants_are_one_value():
    from autointerp.scorers.simulation import expected_value, to_level_scale

    parser = TokenLines()
    [dist] = parser.parse(_value_line("cat", " 1", SPACED_SAMPLE), 1)
    assert set(dist) == {"0", "1", "4", "5", "6", "7"}
    want = 0.30 * 1 + 0.30 * 5 + 0.20 * 6 + 0.10 * 7 + 0.08 * 4  # every candidate kept: 4.02 (old code: 0.94)
    assert expected_value(dist) == pytest.approx(want)
    assert to_level_scale(dist, parser) == pytest.approx(10 * want / 9)
    # the same distribution, spelled with other whitespace, reads the same; spaced + unspaced masses are summed
    for spelling in ({k.strip(): p for k, p in SPACED_SAMPLE.items()},
                     {" " + k.strip(): p for k, p in SPACED_SAMPLE.items()},
                     {**{k.strip(): p for k, p in SPACED_SAMPLE.items() if k.strip() != "5"}, "5": 0.1, " 5": 0.2}):
        sampled = max(spelling, key=spelling.get)
        [other] = parser.parse(_value_line("cat", sampled, spelling), 1)
        assert expected_value(other) == pytest.approx(want)
        assert math.exp(other["5"]) == pytest.approx(0.30)


def test_token_lines_multi_digit_values():
    parser = TokenLines()
    # "10" is not on the 0-9 scale: an alternative "10" is left out, not read as "1"
    [dist] = parser.parse(_value_line("cat", "1", {"1": 0.5, "10": 0.4, " 2": 0.1}), 1)
    assert set(dist) == {"1", "2"} and math.exp(dist["1"]) == pytest.approx(0.5)
    # a written "10" (the model wrote " 1" then "0") is an error the stage re-asks, never the value 1
    toks = (TokenLogprobs(token="cat", logprob=0.0), TokenLogprobs(token="\t", logprob=0.0),
            TokenLogprobs(token=" 1", logprob=-0.1, top={" 1": -0.1}), TokenLogprobs(token="0", logprob=-0.1))
    with pytest.raises(ParseError, match="'10' after its tab; expected one whole number 0-9"):
        parser.parse(LLMResponse(text="cat\t 10", logprobs=toks), 1)


def test_unknown_parser_and_bad_options():
    with pytest.raises(ConfigError, match="unknown answer parser"):
        build_parser("nope")
    with pytest.raises(ConfigError, match="bogus"):
        build_parser("final_line", {"bogus": 1})
