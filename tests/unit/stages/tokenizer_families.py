"""One real tokenizer per family, for rendering tests.

* byte-level BPE (GPT-2 style): the packaged SmolLM2-135M tokenizer (tokenizer files only, no weights);
* WordPiece (BERT): the packaged all-MiniLM-L6-v2 tokenizer;
* SentencePiece (Llama/Gemma style: ``▁`` word marks, byte fallback, leading space stripped on decode): built
  in-process with the ``tokenizers`` library from a small hand-written vocabulary, so its pieces are known exactly.
"""

from __future__ import annotations

from functools import cache

from transformers import AutoTokenizer, PreTrainedTokenizerFast

SENTENCE = "fire for its practices in the appointment of appraisers. Café naïve — 😀 ok  two\nnew line"


@cache
def packaged(name: str):
    from autointerp.activations.models import fetch_model

    return AutoTokenizer.from_pretrained(fetch_model(name))


_SP_WORDS = [
    "▁fire",
    "▁for",
    "▁its",
    "▁pract",
    "ices",
    "▁in",
    "▁the",
    "▁appoint",
    "ment",
    "▁of",
    "▁app",
    "ra",
    "is",
    "ers",
    ".",
    "▁Caf",
    "▁na",
    "ï",
    "ve",
    "▁ok",
    "▁two",
    "▁new",
    "▁line",
    "▁",
    "—",
    "é",
    "x",
]


@cache
def sentencepiece():
    """A Llama-style BPE with byte fallback: unknown characters (here the emoji and the newline) become <0x..> bytes."""
    from tokenizers import Tokenizer, decoders, models, normalizers

    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    chars = sorted({ch for w in _SP_WORDS for ch in w})
    pieces = list(dict.fromkeys(specials + byte_tokens + chars + _SP_WORDS))
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = []
    for word in _SP_WORDS:  # left-to-right merges building each word from its characters
        for k in range(2, len(word) + 1):
            left, right = word[: k - 1], word[k - 1]
            if (left, right) not in merges:
                merges.append((left, right))
            vocab.setdefault(word[:k], len(vocab))
    model = models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tok = Tokenizer(model)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


FAMILIES = {
    "byte_level_bpe": lambda: packaged("smollm2-135m"),
    "wordpiece": lambda: packaged("minilm-l6"),
    "sentencepiece": sentencepiece,
}
