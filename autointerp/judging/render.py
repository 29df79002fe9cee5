"""The one place that turns tokens and activations into prompt text.

Every stage renders through these functions, so the syntax is the same
everywhere:

* activations are shown as integers 0-10, normalised per unit by the unit's
  max activation and **rounded half up** (:func:`normalise`; OpenAI's
  explainer floors instead);
* highlighted tokens are wrapped as ``<<token>>`` (consecutive highlighted
  tokens share one pair of markers);
* each context sits in a ``<context id="c1">...</context>`` block;
* token-per-line listings use ``token<TAB>value``.

Tokens arrive as *decoded text*: each token's string is the text it adds to
its window as the tokenizer decodes the window
(:class:`autointerp.sampling.tokens.TokenDecoder`), so the strings join to
the tokenizer's own text for byte-level BPE, SentencePiece and WordPiece alike.
Raw vocabulary pieces (``Ġcat``, ``▁cat``) are cleaned there, not here: this
module never re-decodes text (re-decoding corrupts real text such as ``ła``).

Corpus text cannot break this syntax: :func:`display_token` maps ``<`` and
``>`` to the look-alikes ``‹`` and ``›`` (so a context can neither fake a
highlight nor close its block) and shows newlines, tabs and other control
characters as visible escapes (so one token is always one line). In
one-token-per-line listings (:func:`listed_token`) a token made only of spaces
is shown as ``␣`` per space and a token with no text of its own (the first
byte of a character that the next token completes) as ``∅``, so every token
is a visible, non-blank line.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Collection, Sequence

from autointerp.sampling.tokens import clean_token

HL_OPEN = "<<"
HL_CLOSE = ">>"
MAX_LEVEL = 10
SPACE_MARK = "␣"
EMPTY_MARK = "∅"
_NEUTRAL = str.maketrans({"<": "‹", ">": "›", "\n": "\\n", "\t": "\\t", "\r": "\\r"})


def display_token(token: str) -> str:
    """A decoded token as shown in a prompt: markers neutralised, control characters made visible."""
    text = token.translate(_NEUTRAL)
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        text = "".join(f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return text


def listed_token(token: str) -> str:
    """A token on a line of its own: :func:`display_token`, with blank tokens made visible (``␣`` per space, ``∅``)."""
    shown = display_token(token)
    if shown.strip():
        return shown
    return SPACE_MARK * len(shown) if shown else EMPTY_MARK


def normalise(activations: Sequence[float], max_activation: float, top: int = MAX_LEVEL) -> tuple[int, ...]:
    """Activations as integers 0..top (default 0-10) relative to the unit's max.

    Rule: **round half up**, ``floor(top * a / max + 0.5)``, then clip to 0..top; 0 when max <= 0 or a is not
    finite. So a token at 5% of the max shows as 1 and only tokens below 5% show as 0 (not highlighted); with
    OpenAI's floor, everything below 10% would show as 0 and only the max itself would reach 10.
    """
    if not (max_activation > 0 and math.isfinite(max_activation)):
        return tuple(0 for _ in activations)
    out = []
    for a in activations:
        level = math.floor(top * a / max_activation + 0.5) if math.isfinite(a) else 0
        out.append(min(top, max(0, level)))
    return tuple(out)


def highlight(tokens: Sequence[str], marked: Collection[int]) -> str:
    """Context text with the marked token positions wrapped in ``<<...>>`` (runs merged, whitespace kept outside)."""
    marked = set(marked)
    parts: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            text = "".join(run)
            body = text.strip(" ")
            lead = text[: len(text) - len(text.lstrip(" "))]
            trail = text[len(text.rstrip(" ")) :] if body else ""
            parts.append(f"{lead}{HL_OPEN}{body}{HL_CLOSE}{trail}" if body else f"{HL_OPEN}{text}{HL_CLOSE}")
            run.clear()

    for i, tok in enumerate(tokens):
        shown = display_token(tok)
        if i in marked:
            run.append(shown)
        else:
            close_run()
            parts.append(shown)
    close_run()
    return "".join(parts)


def activation_list(tokens: Sequence[str], levels: Sequence[int]) -> str:
    """The non-zero tokens as ``token (level)`` pairs in text order, e.g. ``mat (10), cat (3)``."""
    pairs = [f"{listed_token(t).strip()} ({lv})" for t, lv in zip(tokens, levels) if lv > 0]
    return ", ".join(pairs) if pairs else "(none)"


def context_block(context_id: str, body: str) -> str:
    """One context in its delimiters; ids are assigned by the stages, never taken from the corpus."""
    return f'<context id="{context_id}">\n{body}\n</context>'


def token_lines(tokens: Sequence[str], values: Sequence[int | str] | None = None) -> str:
    """One token per line, optionally followed by a tab and a value (the simulator's answer format)."""
    if values is None:
        return "\n".join(listed_token(t) for t in tokens)
    return "\n".join(f"{listed_token(t)}\t{v}" for t, v in zip(tokens, values, strict=True))


def token_json(tokens: Sequence[str]) -> str:
    """The tokens as a JSON list of display strings (unambiguous boundaries for the JSON simulator)."""
    return json.dumps([display_token(t) for t in tokens], ensure_ascii=False)


def prefill_segments(tokens: Sequence[str], placeholder: str) -> tuple[str, ...]:
    """Teacher-forced answer in the :func:`token_lines` format, cut so each segment ends where a value is due.

    Segment i is ``placeholder + newline`` (standing in for token i-1's value) + token i + tab. The backend
    scores the candidate values after every segment.
    """
    segs = []
    for i, tok in enumerate(tokens):
        prefix = f"{placeholder}\n" if i else ""
        segs.append(f"{prefix}{listed_token(tok)}\t")
    return tuple(segs)


def safe_text(text: str) -> str:
    """Free text (e.g. an explanation) put into a prompt: one line, markers neutralised."""
    return " ".join(text.split()).translate(str.maketrans({"<": "‹", ">": "›"}))


__all__ = ["EMPTY_MARK", "HL_CLOSE", "HL_OPEN", "MAX_LEVEL", "SPACE_MARK", "activation_list", "clean_token", "context_block", "display_token", "highlight", "listed_token", "normalise", "prefill_segments", "safe_text", "token_json", "token_lines"]
