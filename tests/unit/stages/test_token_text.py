"""Contexts read as the tokenizer decodes them, for every tokenizer family (golden files: golden/render_<family>.txt).

``UPDATE_GOLDEN=1 pytest ...`` rewrites the golden files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autointerp.judging import render
from autointerp.sampling.tokens import TokenDecoder

from .tokenizer_families import FAMILIES, SENTENCE

GOLDEN = Path(__file__).parent / "golden"
pytestmark = pytest.mark.slow  # two of the three tokenizers come from the packaged models


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def _decoded(tok, ids) -> str:
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_pieces_join_to_the_decoded_text(family):
    tok = FAMILIES[family]()
    ids = _ids(tok, SENTENCE)
    pieces = TokenDecoder(tok)(ids)
    assert len(pieces) == len(ids)
    assert "".join(pieces).lstrip(" ") == _decoded(tok, ids).lstrip(" ")
    assert not any("##" in p or "▁" in p or "Ġ" in p or "\ufffd" in p for p in pieces)
    # a window cut mid-word reads like the middle of the text: the piece is the same as in the whole sentence
    for start in range(1, len(ids)):
        tail = TokenDecoder(tok)(ids[start:])
        # a window starting inside a character shows its orphan bytes as U+FFFD, then reads as before
        k = 0
        while k < len(tail) and (tail[k] == "" or "\ufffd" in tail[k]):
            k += 1
        assert tail[k + 1 :] == pieces[start + k + 1 :], (family, start)
        assert tail[k].lstrip(" ") == pieces[start + k].lstrip(" ")


def test_wordpiece_no_longer_garbles():
    tok = FAMILIES["wordpiece"]()
    ids = _ids(tok, "fire for its practices in the appointment of appraisers")
    pieces = TokenDecoder(tok)(ids)
    marked = {i for i, p in enumerate(pieces) if p.strip() in ("for", "its", "practices", "in", "of", "app")}
    text = render.highlight(pieces, marked)
    assert text == " fire <<for its practices in>> the appointment <<of app>>raisers"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_highlight_wraps_exactly_the_token_text(family):
    tok = FAMILIES[family]()
    pieces = TokenDecoder(tok)(_ids(tok, SENTENCE))
    plain = render.highlight(pieces, set())
    for i, piece in enumerate(pieces):
        text = render.highlight(pieces, {i})
        assert text.replace(render.HL_OPEN, "", 1).replace(render.HL_CLOSE, "", 1) == plain
        inside = text.split(render.HL_OPEN, 1)[1].split(render.HL_CLOSE, 1)[0]
        shown = render.display_token(piece)
        assert inside == (shown.strip(" ") or shown)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_rendered_context_matches_golden(family):
    tok = FAMILIES[family]()
    ids = _ids(tok, SENTENCE)
    pieces = TokenDecoder(tok)(ids)
    joined, starts = "".join(pieces), [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
    levels = [0] * len(pieces)
    for k, word in ((10, "practices"), (6, "appraisers"), (3, "😀"), (1, "two")):
        lo = joined.find(word)  # every token whose text overlaps the word (WordPiece has no emoji: [UNK])
        for i, (a, piece) in enumerate(zip(starts, pieces)):
            if lo >= 0 and piece and a < lo + len(word) and a + len(piece) > lo:
                levels[i] = k
    text = (
        "\n".join(
            [
                f"tokens: {tok.convert_ids_to_tokens(ids)}",
                f"pieces: {list(pieces)}",
                "--- highlighted",
                render.highlight(pieces, [i for i, lv in enumerate(levels) if lv > 0]),
                "--- activation list",
                render.activation_list(pieces, levels),
                "--- token lines",
                render.token_lines(pieces, levels),
            ]
        )
        + "\n"
    )
    path = GOLDEN / f"render_{family}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


_TEXT = st.lists(st.sampled_from(list("abc xyz.,'-\néï—😀日本") + ["  ", "ing", "the "]), min_size=1, max_size=30).map(
    "".join
)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXT)
def test_pieces_join_to_the_decoded_text_fuzz(family, text):
    tok = FAMILIES[family]()
    ids = _ids(tok, text)
    if not ids:
        return
    pieces = TokenDecoder(tok)(ids)
    assert len(pieces) == len(ids)
    assert "".join(pieces).lstrip(" ") == _decoded(tok, ids).lstrip(" ")


def test_vocabulary_lists_are_cleaned_per_piece():
    vocab = ["The", "Ġcat", "▁sat", "Ċ"]
    assert TokenDecoder(vocab)([0, 1, 2, 3]) == ("The", " cat", " sat", "\n")
