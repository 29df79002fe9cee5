"""Token ids -> the text each token contributes to its window, as the tokenizer decodes the window.

Per-id decoding (``decode([id])`` one token at a time) is wrong for most
tokenizer families: WordPiece (BERT) gives ``for``, ``its``, ``##rai`` (no
spaces, ``##`` markers), SentencePiece (Llama, Gemma) drops every word's
leading space. So a tokenizer's window is decoded as a whole, and token ``i``
is given the text that decoding ``ids[:i+1]`` adds to decoding ``ids[:i]``.
Joined, the pieces are exactly the tokenizer's decoded text, whatever its
family (byte-level BPE, SentencePiece with byte fallback, WordPiece), and a
highlight of token ``i`` wraps exactly its own text.

Rules, so every stage sees the same thing:

* **Mid-text reading.** A window is usually cut from the middle of a document,
  so it is decoded after one fixed *anchor* token (whose text is then removed):
  a window starting with ``##rai`` reads ``rai``, one starting with ``▁the``
  reads `` the``, just as they would inside the document.
* **Split characters.** A token holding only the first byte(s) of a character
  (an emoji or CJK character split by a byte-level tokenizer) gets the empty
  string; the token that completes the character carries it.
* **Bounded cost.** Each step decodes at most 2 * ``lookback`` + 1 tokens
  (decoders are local), so a window costs O(length * lookback); results are
  cached per window (``benchmarks/token_text.py`` prints the cost per window).

A vocabulary list or a callable gives one raw piece per id; byte-level
(``Ġ``) and SentencePiece (``▁``) markers are cleaned with
:func:`clean_token`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from autointerp.errors import ConfigError

TokenStrings = Any  # a transformers tokenizer, a vocabulary Sequence[str] indexed by id, or a callable id -> str

_ANCHOR_TEXTS = ("x", "a", "the", ".")
_MAX_HELD = 3  # a UTF-8 character has at most 4 bytes: at most 3 tokens wait for the one completing it


@cache
def _byte_decoder() -> dict[str, int]:
    """Inverse of the byte -> printable-unicode table used by byte-level BPE tokenizers (GPT-2 style)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return {ch: b for b, ch in table.items()}


def clean_token(token: str) -> str:
    """The text a raw vocabulary piece stands for ('Ġcat' -> ' cat', '▁cat' -> ' cat').

    For vocabulary lists only (see :class:`autointerp.sampling.tokens.TokenDecoder`); tokenizer output is
    already text. A piece is byte-decoded only when it holds a byte-level marker (U+0100..U+0143) and its
    bytes form valid UTF-8, so most decoded text ('café', 'ła') comes back unchanged.
    """
    decoder = _byte_decoder()
    if any(256 <= ord(ch) <= 323 for ch in token) and all(ch in decoder for ch in token):
        try:
            return bytes(decoder[ch] for ch in token).decode("utf-8")
        except UnicodeDecodeError:
            return token
    return token.replace("▁", " ")


class WindowText:
    """Per-token pieces of a tokenizer-decoded window (see the module docstring)."""

    def __init__(self, tokenizer: Any, lookback: int = 8):
        if lookback < 1:
            raise ConfigError(f"token decoding: lookback must be >= 1, got {lookback}")
        self._tok = tokenizer
        self._lookback = lookback
        self._anchor = self._find_anchor()

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _find_anchor(self) -> tuple[int, ...]:
        """One ordinary token whose text decodes cleanly on its own; () when the tokenizer has none."""
        for text in _ANCHOR_TEXTS:
            try:
                ids = self._tok.encode(text, add_special_tokens=False)
            except Exception:  # noqa: BLE001 - an unusual tokenizer: read windows without an anchor
                return ()
            if len(ids) == 1:
                shown = self._decode(ids)
                if shown.strip() and "\ufffd" not in shown:
                    return (int(ids[0]),)
        return ()

    def __call__(self, ids: Sequence[int]) -> tuple[str, ...]:
        ids = [int(i) for i in ids]
        if self._anchor:
            pieces = self._pieces(list(self._anchor) + ids, protect_first=True)
            anchor_text = self._decode(self._anchor)
            if pieces is not None and pieces[0] == anchor_text:
                return tuple(pieces[1:])
        pieces = self._pieces(ids)
        assert pieces is not None
        return tuple(pieces)

    def _pieces(self, seq: list[int], protect_first: bool = False) -> list[str] | None:
        """Pieces of ``seq``; None when a later token rewrote the first token's text (the anchor is unusable)."""
        out: list[str] = []
        start, done, held = 0, "", 0  # chunk start, text of seq[start:len(out)-held], tokens waiting for a character
        for j in range(len(seq)):
            text = self._decode(seq[start : j + 1])
            if text.endswith("\ufffd") and j < len(seq) - 1 and held < _MAX_HELD:
                out.append("")
                held += 1
                continue
            if held:  # did this token complete the waiting character? if not, the waiting bytes keep their U+FFFD
                base = self._decode(seq[start:j])
                if text.startswith(base) and base.startswith(done):
                    out[-1], done = base[len(done) :], base
            held = 0
            if text.startswith(done):
                out.append(text[len(done) :])
            else:  # the decoder rewrote already-assigned text: give back the changed tail, keep the join exact
                keep = _common_prefix(text, done)
                retract = len(done) - keep
                if protect_first and retract > sum(len(p) for p in out[1:]):
                    return None
                _trim(out, retract)
                out.append(text[keep:])
            done = text
            if j + 1 - start > 2 * self._lookback:  # every `lookback` tokens, cut the chunk back to `lookback`
                start, done = self._slide(seq, out, start, j, done)
        return out

    def _slide(self, seq: list[int], out: list[str], start: int, j: int, done: str) -> tuple[int, str]:
        """A later chunk start whose decoded text agrees with the pieces given so far (else keep the chunk).

        A chunk may not start where decoding alone reads differently: inside a WordPiece word (``##s``), or
        inside a byte-fallback run whose bytes only form valid UTF-8 together. A SentencePiece chunk's first
        word loses its leading space; that is the only difference allowed.
        """
        for cand in range(j + 1 - self._lookback, max(start, j - 2 * self._lookback), -1):
            text = self._decode(seq[cand : j + 1])
            tail = "".join(out[cand : j + 1])
            if tail == text or tail == " " + text:
                return cand, text
        return start, done


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _trim(pieces: list[str], n: int) -> None:
    """Remove ``n`` characters from the end of the joined pieces (last pieces first)."""
    i = len(pieces) - 1
    while n > 0 and i >= 0:
        cut = min(n, len(pieces[i]))
        pieces[i] = pieces[i][: len(pieces[i]) - cut]
        n -= cut
        i -= 1


class TokenDecoder:
    """Token ids of one window -> one display string per token, cached.

    With a tokenizer the window is decoded as a whole (:class:`WindowText`): the
    strings join to the tokenizer's own decoded text for every tokenizer family.
    With a vocabulary list or a callable each id is looked up and cleaned alone.
    """

    def __init__(self, source: TokenStrings, cache_size: int = 50_000):
        self._window: Callable[[Sequence[int]], tuple[str, ...]]
        if hasattr(source, "decode") and callable(source.decode):
            self._window = WindowText(source)
        elif isinstance(source, Sequence) and not isinstance(source, str):
            self._window = lambda ids: tuple(clean_token(str(source[i])) for i in ids)
        elif callable(source):
            self._window = lambda ids: tuple(clean_token(str(source(i))) for i in ids)
        else:
            raise ConfigError(
                f"token strings: expected a tokenizer, a vocabulary list or a callable, got {type(source).__name__}"
            )
        self._cache: OrderedDict[tuple[int, ...], tuple[str, ...]] = OrderedDict()
        self._cache_size = cache_size

    def __call__(self, ids: Sequence[int]) -> tuple[str, ...]:
        key = tuple(int(i) for i in ids)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        out = self._cache[key] = self._window(key)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out
