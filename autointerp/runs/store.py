"""Append-only JSONL per stage, keyed by (unit, stage-params hash); the basis of resume.

Each line is ``{"unit": key, "params": hash, "ok": bool, "record": {...}}`` and is
flushed and fsync'd as soon as it is written, so a killed run (even ``kill -9``)
loses at most the requests in flight. A torn last line (the process died mid-write:
the file does not end with a newline) is ignored on reload with a warning, whatever
it ends with, and cut off before the next append; any other corrupt line is a
one-line error naming the file and line.

``latest(stage)`` gives, per unit, the last ok record with the current params
(else the last failure): finished work is skipped on resume, failures are retried.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from autointerp.dictionaries.records import SteeredSet
from autointerp.errors import InputError
from autointerp.registry import Registry
from autointerp.scorers.records import ForeignContexts, ScoreResult
from autointerp.secrets import redact_text, redact_url
from autointerp.types import SCHEMA_VERSION, Explanation, Record, RubricResult, Simulation, UnitSamples

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class StageFile:
    """Where one stage's records live and what type they are."""

    filename: str
    record_type: type[Record]


STAGES: Registry[StageFile] = Registry("stage")
STAGES.add("units", StageFile(filename="units.jsonl", record_type=UnitSamples))
STAGES.add("explain", StageFile(filename="explanations.jsonl", record_type=Explanation))
STAGES.add("rubric", StageFile(filename="rubric.jsonl", record_type=RubricResult))
STAGES.add("simulate", StageFile(filename="simulations.jsonl", record_type=Simulation))
# the scorers of autointerp/scorers/ (specificity and simulation are the rubric and simulate stages above)
for _scorer in ("detection", "fuzzing", "saebench", "embedding", "intruder", "intervention"):
    STAGES.add(_scorer, StageFile(filename=f"{_scorer}.jsonl", record_type=ScoreResult))
STAGES.add("foreign", StageFile(filename="foreign_contexts.jsonl", record_type=ForeignContexts))
STAGES.add("steering", StageFile(filename="steering.jsonl", record_type=SteeredSet))  # intervention input


def read_lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON) of every line of a stage file; blank lines and lines torn by a killed
    write are skipped with a warning; anything else malformed is a one-line error naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    out: list[tuple[int, Any]] = []
    lines = text.split("\n")
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            wrapped = json.loads(raw)
        except json.JSONDecodeError as exc:
            # a write cut short by a killed process: the unterminated last line (whatever it ends with), or
            # an older run's torn line that an append closed with a newline (it cannot end with '}')
            if lineno == len(lines) or not raw.rstrip().endswith("}"):
                log.warning("%s: ignoring torn line (interrupted write)", where)
                continue
            raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        out.append((lineno, wrapped))
    return out


def cut_torn_tail(fh: Any) -> None:
    """Truncate an unterminated last line (a write torn by a kill) so the next record starts a fresh line."""
    end = fh.seek(0, os.SEEK_END)
    if end == 0:
        return
    fh.seek(end - 1)
    if fh.read(1) == b"\n":
        return
    pos = end
    while pos > 0:  # find the newline ending the last complete line
        step = min(65536, pos)
        fh.seek(pos - step)
        chunk = fh.read(step)
        i = chunk.rfind(b"\n")
        if i >= 0:
            pos = pos - step + i + 1
            break
        pos -= step
    log.warning("%s: cutting a torn last line (interrupted write) before appending", getattr(fh, "name", "file"))
    fh.truncate(pos)
    fh.seek(0, os.SEEK_END)


def check_schema(line: Any, where: str) -> None:
    """Refuse (one line) a stored record written by a newer autointerp: its fields may mean something this version
    does not know, and appending to its folder could mix two schemas."""
    body = line.get("record") if isinstance(line, dict) else None
    version = body.get("schema_version") if isinstance(body, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise InputError(
            f"{where} has schema version {version}, newer than this autointerp reads ({SCHEMA_VERSION}); "
            "upgrade autointerp to use this run folder (nothing was changed)"
        )


def pick_latest(items: Iterable[T], unit: Callable[[T], str], ok: Callable[[T], bool]) -> dict[str, T]:
    """Per unit, the last ok item, else the last failed one (the resume and report rule)."""
    best: dict[str, T] = {}
    for item in items:
        key = unit(item)
        prev = best.get(key)
        if prev is None or ok(item) or not ok(prev):
            best[key] = item
    return best


def _redacted(data: dict) -> dict:
    """A record's JSON with any password in its backend URL or error text replaced by ``***``."""
    prov = data.get("provenance")
    if isinstance(prov, dict) and isinstance(prov.get("backend"), str):
        data["provenance"] = {**prov, "backend": redact_url(prov["backend"])}
    if isinstance(data.get("error"), str):
        data["error"] = redact_text(data["error"])
    return data


def _unit_key(record: Record) -> str:
    return record.unit.key  # type: ignore[attr-defined]


class RunStore:
    """Typed, append-only access to one run folder (``results/<run>/``)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()

    def path(self, stage: str) -> Path:
        return self.run_dir / STAGES.get(stage).filename

    def append(self, stage: str, record: Record, params: str = "") -> None:
        """Write one record durably (flush + fsync) before returning."""
        spec = STAGES.get(stage)
        if not isinstance(record, spec.record_type):
            raise TypeError(f"stage {stage!r} stores {spec.record_type.__name__}, got {type(record).__name__}")
        line = json.dumps(
            {
                "unit": _unit_key(record),
                "params": params,
                "ok": bool(getattr(record, "ok", True)),
                "record": _redacted(record.model_dump(mode="json")),
            },
            ensure_ascii=False,
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.path(stage)
        with self._lock, open(path, "a+b") as fh:
            cut_torn_tail(fh)
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def lines(self, stage: str) -> list[dict]:
        """Every well-formed line of a stage file, in order (torn lines from a killed write are skipped)."""
        path = self.path(stage)
        return [line for _, line in read_lines(path)] if path.exists() else []

    def records(self, stage: str, params: str | None = None) -> list[Record]:
        """All records of a stage (optionally only those with the given params hash), in write order."""
        spec = STAGES.get(stage)
        out = []
        for i, line in enumerate(self.lines(stage), start=1):
            check_schema(line, f"{self.path(stage)}: record {i}")
            if params is not None and isinstance(line, dict) and line.get("params") != params:
                continue
            try:
                out.append(spec.record_type.model_validate(line["record"]))
            except (ValidationError, KeyError, TypeError) as exc:
                first = str(exc).splitlines()[0]
                raise InputError(
                    f"{self.path(stage)}: record {i} does not match {spec.record_type.__name__}: {first}"
                ) from None
        return out

    def latest(self, stage: str, params: str | None = None) -> dict[str, Record]:
        """Per unit key: the last ok record, else the last failed one."""
        return pick_latest(self.records(stage, params), _unit_key, lambda r: getattr(r, "ok", True))

    def done(self, stage: str, params: str | None = None) -> set[str]:
        """Unit keys with an ok record for these params (skipped on resume)."""
        return {k for k, r in self.latest(stage, params).items() if getattr(r, "ok", True)}
