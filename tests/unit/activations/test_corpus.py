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
    with pytest.raises(InputError, match="has no .jsonl, .parquet, .txt files"):
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


# ------------------------------------------------------------------ streaming, shards, datasets


def _tok():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>"] + [f"w{i}" for i in range(50)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")


def test_reading_stops_at_the_token_budget(tmp_path):
    """Documents are streamed: a broken line after the budget is never read."""
    from autointerp.activations.corpus import stream_corpus, token_windows

    lines = [json.dumps({"text": " ".join(f"w{j}" for j in range(10))}) for _ in range(20)] + ["{not json"]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    windows = list(token_windows(stream_corpus(tmp_path / "c.jsonl"), _tok(), window=4, max_tokens=50))
    assert sum(len(w.token_ids) for w in windows) == 50
    with pytest.raises(InputError, match="line 21: invalid JSON"):
        list(token_windows(stream_corpus(tmp_path / "c.jsonl"), _tok(), window=4))


def test_folder_of_shards_is_read_in_name_order(tmp_path):
    import pandas as pd

    from autointerp.activations.corpus import stream_corpus

    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "w1 w2", "id": "b0"}) + "\n")
    pd.DataFrame({"text": [f"w{i}" for i in range(3000)]}).to_parquet(tmp_path / "a.parquet")
    (tmp_path / "c.txt").write_text("w3")
    docs = list(stream_corpus(tmp_path))
    assert len(docs) == 3002 and docs[0].doc_id == "a:0" and docs[2999].doc_id == "a:2999"
    assert [d.doc_id for d in docs[3000:]] == ["b0", "c"]


def test_datasets_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    from autointerp.activations.corpus import stream_corpus

    datasets.Dataset.from_dict({"content": ["w1 w2", "  ", "w3"], "id": ["x", "y", "z"]}).save_to_disk(tmp_path / "ds")
    docs = list(stream_corpus(tmp_path / "ds", text_field="content"))
    assert [(d.doc_id, d.text) for d in docs] == [("x", "w1 w2"), ("z", "w3")]
    with pytest.raises(InputError, match="missing text column 'text'; columns: content, id"):
        list(stream_corpus(tmp_path / "ds"))


def test_hub_dataset_is_streamed(tmp_path, monkeypatch):
    """hf:NAME goes through datasets.load_dataset(..., streaming=True); a local data folder stands in for the Hub."""
    datasets = pytest.importorskip("datasets")
    from huggingface_hub import constants

    from autointerp.activations.corpus import stream_corpus

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no network in tests (both libraries read it at import)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("".join(json.dumps({"text": f"w{i}"}) + "\n" for i in range(5)))
    docs = stream_corpus(f"hf:{tmp_path / 'data'}@train")
    assert [d.text for d in docs] == [f"w{i}" for i in range(5)]
    with pytest.raises(InputError, match="cannot open the dataset") as err:
        list(stream_corpus("hf:nobody/absent-dataset"))
    assert "\n" not in str(err.value)
