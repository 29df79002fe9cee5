"""Shared, session-scoped fixtures: tiny random models built from config, and the real packaged models.

Tiny models (``tiny_llama``, ``tiny_bert``) are saved as ordinary transformers
folders with a small word-level tokenizer, so they go through the same
``load_subject(folder)`` path as any user model. The real models
(``smollm2``, ``minilm``) are fetched once per machine into the cache; tests
using them are marked ``slow``.
"""

from __future__ import annotations

import pytest
import torch

TINY_WORDS = "the cat sat on a mat and dog ran to big red house it was very good day of in with".split() + [
    chr(c) for c in range(ord("a"), ord("z") + 1)
]


def _word_vocab(specials: list[str]) -> dict[str, int]:
    words = specials + [w for w in dict.fromkeys(TINY_WORDS) if w not in specials]
    return {w: i for i, w in enumerate(words)}


def _save_llama(folder) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = _word_vocab(["<unk>", "<pad>"])
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=1,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)  # weights only; fixed so failures reproduce
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _save_bert(folder) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = _word_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """Folder of a random 4-layer LLaMA (d_model 32, MLP 48) with a word-level tokenizer (no special tokens)."""
    folder = tmp_path_factory.mktemp("tiny_llama")
    _save_llama(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """Folder of a random 3-layer BERT (d_model 32, MLP 64) with a WordPiece tokenizer ([CLS] ... [SEP])."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    _save_bert(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tiny_llama_dir):
    from autointerp.activations.models import load_subject

    return load_subject(tiny_llama_dir)


@pytest.fixture(scope="session")
def tiny_bert(tiny_bert_dir):
    from autointerp.activations.models import load_subject

    return load_subject(tiny_bert_dir)


@pytest.fixture(scope="session")
def smollm2():
    """The packaged SmolLM2-135M-Instruct (fetched once per machine, ~20 s the first time)."""
    from autointerp.activations.models import load_subject

    return load_subject("smollm2-135m")


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 BERT encoder."""
    from autointerp.activations.models import load_subject

    return load_subject("minilm-l6")


@pytest.fixture(scope="session")
def brown_docs():
    """The Brown Corpus (500 documents), fetched once per machine."""
    from autointerp.activations.corpus import load_corpus

    return load_corpus("brown")
