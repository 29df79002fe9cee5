from hypothesis import given
from hypothesis import strategies as st

from autointerp.judging import render


def test_clean_token_byte_level_and_sentencepiece():
    assert render.clean_token("Ġcat") == " cat"
    assert render.clean_token("Ċ") == "\n"
    assert render.clean_token("ĠĠ") == "  "
    assert render.clean_token("Ã©tÃ©") == "Ã©tÃ©"  # no shifted code point: treated as decoded text
    assert render.clean_token("ła") == "ła"  # shifted code point, but not valid UTF-8 as bytes: decoded text
    assert render.clean_token("ĠcafÃ©") == " café"
    assert render.clean_token("▁hello") == " hello"
    assert render.clean_token("café") == "café"
    assert render.clean_token(" plain") == " plain"


def test_display_token_neutralises_markers_and_controls():
    assert render.display_token("<<x>>") == "‹‹x››"
    assert render.display_token("</context>") == "‹/context›"
    assert render.display_token("a\nb\tc") == "a\\nb\\tc"
    assert render.display_token("\n") == "\\n"
    assert render.display_token("Ġcat ła") == "Ġcat ła"  # tokens are decoded text: never re-decoded here
    assert render.display_token("\x07") == "\\x07"


def test_normalise_rounds_clips_and_handles_dead_units():
    assert render.normalise([0, 0.04, 0.05, 1.0, 2.0, -1.0], 2.0) == (0, 0, 0, 5, 10, 0)
    assert render.normalise([0.26, 3.0], 2.0) == (1, 10)
    assert render.normalise([1.0, 2.0], 0.0) == (0, 0)
    assert render.normalise([float("nan"), 1.0], 1.0) == (0, 10)


def test_normalise_rounds_half_up_not_floor():
    """The rule is named in the docstring and the explain prompt's notes; the boundary is exactly x.5 levels."""
    acts = [0.999, 1.0, 2.999, 3.0, 18.999, 19.0, 20.0]  # 10 * a / 20 = 0.4995, 0.5, 1.4995, 1.5, 9.4995, 9.5, 10
    assert render.normalise(acts, 20.0) == (0, 1, 1, 2, 9, 10, 10)  # floor (OpenAI) would give 0, 0, 1, 1, 9, 9, 10
    assert render.normalise([4.999, 5.0], 10.0, top=9) == (4, 5)  # the 0-9 simulator scale: 4.4991 / 4.5
    assert "round half up" in render.normalise.__doc__.lower()
    from autointerp.judging.prompts import load_prompt

    assert "rounded half up" in load_prompt("explain").notes


def test_highlight_merges_runs_and_keeps_spaces_outside():
    toks = ["New", " York", " city", " is", " big"]
    assert render.highlight(toks, {1, 2}) == "New <<York city>> is big"
    assert render.highlight(toks, {0, 4}) == "<<New>> York city is <<big>>"
    assert render.highlight([" "], {0}) == "<< >>"


def test_prefill_segments_and_token_lines_agree():
    toks = ["The", " cat"]
    assert render.prefill_segments(toks, "unknown") == ("The\t", "unknown\n cat\t")
    assert render.token_lines(toks, [0, 7]) == "The\t0\n cat\t7"
    assert render.token_json(["a", " \"b\""]) == '["a", " \\"b\\""]'


@given(st.lists(st.text(max_size=8), min_size=1, max_size=12), st.data())
def test_corpus_text_cannot_forge_markers_or_lines(tokens, data):
    marked = data.draw(st.sets(st.integers(0, len(tokens) - 1)))
    text = render.highlight(tokens, marked)
    runs = sum(1 for i in sorted(marked) if i - 1 not in marked)
    assert text.count(render.HL_OPEN) == runs and text.count(render.HL_CLOSE) == runs
    assert "</context>" not in text and "\n" not in text
    assert render.token_lines(tokens).count("\n") == len(tokens) - 1
