"""Token ids -> readable token strings, one token at a time (so activations stay aligned with tokens)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from autointerp.errors import ConfigError

TokenStrings = Any  # a transformers tokenizer, a vocabulary Sequence[str] indexed by id, or a callable id -> str


class TokenDecoder:
    """Decodes each token id separately, with a cache.

    With a tokenizer, ``tokenizer.decode([id])`` is used: byte-level BPE markers
    (SmolLM2's 'Ġ' for a leading space) come out as real spaces, so contexts read
    like the text; a token holding part of a multi-byte character shows as U+FFFD.
    """

    def __init__(self, source: TokenStrings):
        self._fn: Callable[[int], str]
        if hasattr(source, "decode") and callable(source.decode):
            self._fn = lambda i: source.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        elif isinstance(source, Sequence) and not isinstance(source, str):
            self._fn = lambda i: str(source[i])
        elif callable(source):
            self._fn = lambda i: str(source(i))
        else:
            raise ConfigError(f"token strings: expected a tokenizer, a vocabulary list or a callable, got "
                              f"{type(source).__name__}")
        self._cache: dict[int, str] = {}

    def __call__(self, ids: Sequence[int]) -> tuple[str, ...]:
        out = []
        for i in ids:
            s = self._cache.get(i)
            if s is None:
                s = self._cache[i] = self._fn(i)
            out.append(s)
        return tuple(out)
