"""Corpus readers and token windows."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from autointerp.activations.corpus import Document, load_corpus, token_windows
from autointerp.errors import ConfigError, InputError


def test_txt_file_and_folder(tmp_path):
    (tmp_path / "b.txt").write_text("the cat sat", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a dog ran", encoding="utf-8")
    (tmp_path / "blank.txt").write_text("  \n", encoding="utf-8")
    assert load_corpus(tmp_path / "b.txt") == [Document("b", "the cat sat")]
    assert load_corpus(tmp_path) == [Document("a", "a dog ran"), Document("b", "the cat sat")]


def test_jsonl(tmp_path):
    rows = [{"id": "x1", "text": "the cat"}, {"body": "a dog", "text": "a dog"}, {"content": "big red", "text": ""}]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert load_corpus(path) == [Document("x1", "the cat"), Document("c:2", "a dog")]
    path.write_text("\n".join(json.dumps({"body": r["text"] or "x"}) for r in rows), encoding="utf-8")
    assert [d.text for d in load_corpus(path, text_field="body")] == ["the cat", "a dog", "x"]


def test_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame({"id": ["d1", "d2"], "content": ["the cat sat", "a dog ran"]}).to_parquet(path)
    assert load_corpus(path, text_field="content") == [Document("d1", "the cat sat"), Document("d2", "a dog ran")]
    with pytest.raises(InputError, match=f"corpus file {path}: missing text column 'text'; columns: id, content"):
        load_corpus(path)


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("bad.txt", b"caf\xe9 au lait", "is not UTF-8 text (bad byte at offset 3)"),
        ("bad.jsonl", b'{"text": "ok"}\n{"body": "no text"}\n', "line 2: missing text field 'text'"),
        ("bad2.jsonl", b'{"text": "ok"}\nnot json\n', "line 2: invalid JSON"),
        ("empty.jsonl", b"\n\n", "is empty"),
        ("blank.txt", b"   \n", "is empty"),
        ("data.csv", b"text\nhello\n", "unsupported type '.csv'"),
        ("bad.parquet", b"not parquet at all", "not a readable parquet file"),
    ],
)
def test_bad_corpus_files(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_corpus(path)
    assert fragment in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_corpus(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="has no .txt files"):
        load_corpus(tmp_path)


DOCS = [Document("d0", "the cat sat on a mat " * 3), Document("d1", "a dog"), Document("d2", "big red house " * 5)]


def test_windows_never_cross_documents(tiny_llama):
    tok = tiny_llama.tokenizer
    windows = list(token_windows(DOCS, tok, window=4))
    assert [w.index for w in windows] == list(range(len(windows)))
    for doc in DOCS:
        mine = [w for w in windows if w.doc_id == doc.doc_id]
        ids = tok(doc.text, add_special_tokens=False)["input_ids"]
        assert sum((w.token_ids for w in mine), ()) == tuple(ids)  # every token once, in order, none from another doc
        assert all(len(w.token_ids) == 4 for w in mine[:-1]) and 1 <= len(mine[-1].token_ids) <= 4
    assert [w.doc_id for w in windows].count("d1") == 1 and len(windows[5].token_ids) == 2  # 18 tokens -> 4,4,4,4,2


def test_windows_have_no_special_tokens(tiny_bert):
    windows = list(token_windows(DOCS, tiny_bert.tokenizer, window=8))
    specials = set(tiny_bert.tokenizer.all_special_ids)
    assert windows and not any(set(w.token_ids) & specials for w in windows)


def test_windows_are_stable_and_respect_budget(tiny_llama):
    tok = tiny_llama.tokenizer
    full = list(token_windows(DOCS, tok, window=4))
    assert list(token_windows(DOCS, tok, window=4)) == full
    cut = list(token_windows(DOCS, tok, window=4, max_tokens=10))
    assert sum(len(w.token_ids) for w in cut) == 10
    assert cut[:2] == full[:2] and cut[2].token_ids == full[2].token_ids[:2]
    with pytest.raises(ConfigError, match="window must be >= 1"):
        next(token_windows(DOCS, tok, window=0))


@pytest.mark.slow
def test_brown_corpus(brown_docs):
    assert len(brown_docs) == 500
    assert brown_docs[0].doc_id == "ca01" and brown_docs[0].text.startswith("The Fulton County Grand Jury said Friday")
    assert len({d.doc_id[1] for d in brown_docs}) == 15  # genres a..r (15 letters used)
    assert "/" not in brown_docs[0].text.split()[0]  # tags stripped
