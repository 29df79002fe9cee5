"""Run folder -> typed records -> pandas frames.

A run folder holds one append-only JSONL file per stage; each line wraps one
record: ``{"unit": key, "params": hash, "ok": bool, "record": {...}}``. For the
report only the *latest* record per unit matters: the last ok one, else the
last failed one (the same rule as ``autointerp.runs.store.RunStore.latest``).

Every line is validated against its stage's record type; a bad line raises a
one-line :class:`~autointerp.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError

from autointerp.errors import InputError
from autointerp.runs.logits import LOGIT_TOKENS_FILE
from autointerp.runs.store import STAGES, check_schema, pick_latest, read_lines
from autointerp.types import Explanation, ProtocolLabel, Record, RubricResult, Simulation, UnitId, UnitSamples, Usage

STAGE_NAMES = ("units", "explain", "rubric", "simulate")
BUILTIN_STAGES = frozenset(STAGE_NAMES)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class StageLine:
    """One parsed line of a stage file."""

    unit: str
    params: str  # hash of the stage parameters that produced it
    ok: bool
    record: BaseModel | None  # None for a failed line whose record is not a full stage record
    error: str | None


@dataclass(frozen=True)
class RunData:
    """Everything the report reads from one run folder (latest record per unit and stage)."""

    run_dir: Path
    config: dict[str, Any]
    meta: dict[str, Any]
    units: dict[str, UnitSamples]
    explanations: dict[str, Explanation]
    rubric: dict[str, RubricResult]
    simulations: dict[str, Simulation]
    unit_ids: dict[str, UnitId]
    unit_errors: dict[str, str] = field(default_factory=dict)  # units whose sampling failed -> error
    extra: dict[str, dict[str, Record]] = field(default_factory=dict)  # further scorers: stage -> unit -> record
    usage: dict[str, Usage] = field(default_factory=dict)  # stage -> tokens and cost of every record in its file
    attempts: dict[str, tuple[int, int]] = field(default_factory=dict)  # stage -> (records, failed records) on disk
    logit_tokens: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # unit -> promoted/suppressed
    reseeds: dict[str, dict[int, dict[str, Record]]] = field(default_factory=dict)  # stage -> k -> unit -> record

    @property
    def name(self) -> str:
        return self.run_dir.name


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
    extra = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"field {loc}: {first.get('msg', 'invalid')}{extra}"


def read_stage(path: Path, model: type[BaseModel]) -> list[StageLine]:
    """Parse and validate every line of one stage file (blank and torn lines are skipped, as the store does)."""
    lines: list[StageLine] = []
    for lineno, wrapped in read_lines(path):
        if not isinstance(wrapped, dict) or not {"unit", "ok", "record"} <= wrapped.keys():
            raise InputError(f"{path}:{lineno}: expected an object with keys unit, params, ok, record")
        check_schema(wrapped, f"{path}:{lineno}")
        ok = bool(wrapped["ok"])
        body = wrapped["record"]
        try:
            record = model.model_validate(body)
        except ValidationError as exc:
            if ok:
                where = f"{path}:{lineno}"
                raise InputError(f"{where}: invalid {model.__name__} record: {_validation_message(exc)}") from None
            record = None  # a failed line may carry only an error
        error = getattr(record, "error", None)
        if error is None and not ok and isinstance(body, dict):
            error = body.get("error") or wrapped.get("error")
        lines.append(StageLine(unit=str(wrapped["unit"]), params=str(wrapped.get("params", "")), ok=ok,
                               record=record, error=error))
    return lines


def latest(lines: list[StageLine]) -> dict[str, StageLine]:
    """Last ok line per unit, else the last failed one."""
    return pick_latest(lines, lambda ln: ln.unit, lambda ln: ln.ok)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _register_scorers() -> None:
    """Import the scorer package (when installed) so its stages are in the store's registry."""
    try:
        importlib.import_module("autointerp.scorers")
    except ModuleNotFoundError as exc:
        if exc.name != "autointerp.scorers":
            raise


def _usage(lines: list[StageLine]) -> Usage:
    return sum((u for ln in lines if isinstance(u := getattr(ln.record, "usage", None), Usage)), Usage())


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder. Raises InputError if it is missing or holds no stage records."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run folder not found: {run_dir}")
    _register_scorers()
    meta = _read_json(run_dir / "run.json")
    current = meta.get("stage_params") or {}  # written by the pipeline: the run's current units and params
    wanted = set(meta["units"]) if isinstance(meta.get("units"), list) else None
    latest_by_stage: dict[str, dict[str, StageLine]] = {}
    usage: dict[str, Usage] = {}
    attempts: dict[str, tuple[int, int]] = {}
    reseeds: dict[str, dict[int, dict[str, BaseModel]]] = {}
    stages = [*STAGE_NAMES, *(s for s in STAGES if s not in BUILTIN_STAGES)]
    for stage in stages:
        spec = STAGES.get(stage)
        path = run_dir / spec.filename
        if not path.exists():
            if stage in BUILTIN_STAGES:
                latest_by_stage[stage] = {}
            continue
        lines = read_stage(path, spec.record_type)
        if "usage" in spec.record_type.model_fields:  # LLM stages: money spent in this folder, every attempt
            usage[stage] = _usage(lines)
            attempts[stage] = (len(lines), sum(not ln.ok for ln in lines))
        if wanted is not None:
            lines = [ln for ln in lines if ln.unit in wanted]
        if stage in current:  # records of an earlier config of this run folder are not reported
            by_seed = _reseed_lines(lines, current[stage])
            if by_seed:
                reseeds[stage] = {k: {u: ln.record for u, ln in latest(ls).items() if ln.record is not None}
                                  for k, ls in sorted(by_seed.items())}  # fmt: skip
            lines = [ln for ln in lines if ln.params == current[stage]]
        latest_by_stage[stage] = latest(lines)
    if not any(latest_by_stage.values()):
        names = ", ".join(STAGES.get(s).filename for s in STAGE_NAMES)
        raise InputError(f"{run_dir}: no records found (expected at least one of {names})")

    def records(stage: str, model: type[M]) -> dict[str, M]:
        return {k: ln.record for k, ln in latest_by_stage[stage].items() if isinstance(ln.record, model)}

    units = records("units", UnitSamples)
    explanations = records("explain", Explanation)
    rubric = records("rubric", RubricResult)
    simulations = records("simulate", Simulation)
    extra = {s: records(s, BaseModel) for s in latest_by_stage if s not in BUILTIN_STAGES}
    extra = {s: recs for s, recs in extra.items() if recs}
    unit_ids: dict[str, UnitId] = {}
    for group in (units, explanations, rubric, simulations, *extra.values()):
        for key, rec in group.items():
            unit_ids.setdefault(key, rec.unit)
    unit_errors = {}
    for key, ln in latest_by_stage["units"].items():
        if not ln.ok:
            unit_errors[key] = ln.error or "sampling failed"
            if key not in unit_ids:
                unit_ids[key] = _parse_key(key)
    return RunData(
        run_dir=run_dir,
        config=_read_yaml(run_dir / "config.yaml"),
        meta=meta,
        units=units,
        explanations=explanations,
        rubric=rubric,
        simulations=simulations,
        unit_ids=dict(sorted(unit_ids.items(), key=lambda kv: (kv[1].kind != "feature", kv[1].basis, kv[1].index))),
        unit_errors=unit_errors,
        extra=extra,  # type: ignore[arg-type]
        usage=usage,
        attempts=attempts,
        logit_tokens=_read_logit_tokens(run_dir / LOGIT_TOKENS_FILE),
        reseeds=reseeds,  # type: ignore[arg-type]
    )


def protocol_of(meta: dict[str, Any], config: dict[str, Any]) -> ProtocolLabel:
    """The protocol label run.json recorded (runs before presets existed: the config's name, else ours)."""
    recorded = meta.get("protocol")
    if isinstance(recorded, dict):
        try:
            return ProtocolLabel.model_validate(recorded)
        except ValidationError as exc:
            raise InputError(f"run.json: protocol: {_validation_message(exc)}") from None
    return ProtocolLabel(name=str(config.get("protocol", "ours")))


def run_protocol(run: RunData) -> ProtocolLabel:
    """:func:`protocol_of` a loaded run."""
    return protocol_of(run.meta, run.config)


RESEED_SUFFIX = re.compile(r"~s(\d+)$")


def _reseed_lines(lines: list[StageLine], params: str) -> dict[int, list[StageLine]]:
    """Lines of the repeated seeds (``--reseeds``: params ``<params>~s<k>``), by k; seed offset 0 is the run."""
    out: dict[int, list[StageLine]] = {}
    for ln in lines:
        if ln.params.startswith(params) and (m := RESEED_SUFFIX.fullmatch(ln.params[len(params):])):
            out.setdefault(int(m.group(1)), []).append(ln)
    return out




def _read_logit_tokens(path: Path) -> dict[str, dict[str, list[str]]]:
    """unit key -> {'promoted': [...], 'suppressed': [...]} (written by the pipeline; absent: none)."""
    data = _read_json(path)
    out = {}
    for key, value in data.items():
        if not isinstance(value, dict):
            raise InputError(f"{path}: unit {key!r}: expected an object with 'promoted' and 'suppressed' lists")
        out[str(key)] = {side: [str(t) for t in value.get(side, [])] for side in ("promoted", "suppressed")}
    return out


def _parse_key(key: str) -> UnitId:
    basis, _, index = key.rpartition("#")
    try:
        return UnitId(basis=basis, index=int(index))
    except (ValueError, ValidationError):
        raise InputError(f"bad unit key {key!r}: expected '<basis>#<index>'") from None


# ---------------------------------------------------------------- frames

JUDGEMENT_COLUMNS = ["unit", "kind", "context_id", "context_kind", "level", "true_activation", "score", "ok", "error"]


def _judgement_error(res: RubricResult, j) -> str | None:
    """Why a judgement has no score: its own error, else its rubric record's (the whole record failed)."""
    if res.ok and j.ok and j.score is not None:
        return None
    if not res.ok:
        return j.error or res.error or "the unit's rubric record failed"
    return j.error or "no score in the answer"


def judgements_frame(run: RunData) -> pd.DataFrame:
    """One row per rubric judgement of the latest rubric record of every unit.

    ``ok`` is false (and ``score`` missing) for a judgement without a score and
    for every judgement of a failed rubric record (it is retried as a whole on
    resume), so the histogram and the per-unit mean use the same ratings.
    """
    rows = [
        {
            "unit": key,
            "kind": res.unit.kind,
            "context_id": j.context_id,
            "context_kind": j.kind,
            "level": j.level,
            "true_activation": j.true_activation,
            "score": j.score if (res.ok and j.ok and j.score is not None) else None,
            "ok": bool(res.ok and j.ok and j.score is not None),
            "error": _judgement_error(res, j),
        }
        for key, res in run.rubric.items()
        for j in res.judgements
    ]
    frame = pd.DataFrame(rows, columns=JUDGEMENT_COLUMNS)
    return frame.astype({"level": "int64", "score": "Int64", "ok": "bool"})


def _status(record: BaseModel | None, value: float | None) -> str:
    if record is None:
        return "missing"
    if not getattr(record, "ok", True):
        return "failed"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    return "ok"


def mean_specificity(result: RubricResult) -> float | None:
    """The headline specificity of a unit: :attr:`RubricResult.mean_specificity` (activating contexts only)."""
    return result.mean_specificity


def mean_score_random(result: RubricResult) -> float | None:
    """:attr:`RubricResult.mean_score_random`: the mean rating on the unit's uniform random windows."""
    return result.mean_score_random


UNIT_COLUMNS = [
    "unit", "kind", "basis", "index", "explanation", "simulation_score", "simulation_method", "mean_specificity",
    "mean_score_random", "n_judgements", "n_judgements_failed", "firing_frequency", "max_activation", "flags", "ok",
    "errors", "sample_status", "explanation_status", "rubric_status", "simulation_status", "specificity_status",
]  # fmt: skip


def units_frame(run: RunData) -> pd.DataFrame:
    """One row per unit: explanation, scores, stats, flags and per-stage status (ok/failed/undefined/missing)."""
    rows = []
    for key, uid in run.unit_ids.items():
        samples = run.units.get(key)
        expl = run.explanations.get(key)
        rub = run.rubric.get(key)
        sim = run.simulations.get(key)
        spec = mean_specificity(rub) if rub is not None and rub.ok else None
        sim_score = sim.score if sim is not None and sim.ok else None
        judgements = rub.judgements if rub is not None else ()
        n_ok = sum(1 for j in judgements if j.ok and j.score is not None) if rub is not None and rub.ok else 0
        errors = [
            f"{stage}: {err}"
            for stage, err in (
                ("sample", run.unit_errors.get(key)),
                ("explain", expl.error if expl is not None and not expl.ok else None),
                ("rubric", rub.error if rub is not None and not rub.ok else None),
                ("simulate", sim.error if sim is not None and not sim.ok else None),
            )
            if err
        ]
        statuses = {
            "explanation_status": _status(expl, expl.text if expl is not None else None),
            "rubric_status": _status(rub, 0.0),
            "simulation_status": _status(sim, sim_score),
            "specificity_status": _status(rub, spec),
        }
        if key in run.unit_errors or statuses["explanation_status"] == "failed":  # upstream failure
            statuses = {k: ("failed" if v == "missing" else v) for k, v in statuses.items()}
        statuses["sample_status"] = "failed" if key in run.unit_errors else ("ok" if samples else "missing")
        rows.append(
            {
                "unit": key,
                "kind": uid.kind,
                "basis": uid.basis,
                "index": uid.index,
                "explanation": expl.text if expl is not None and expl.ok else None,
                "simulation_score": sim_score,
                "simulation_method": (sim.method or None) if sim is not None else None,
                "mean_specificity": spec,
                "mean_score_random": mean_score_random(rub) if rub is not None and rub.ok else None,
                "n_judgements": n_ok,
                "n_judgements_failed": len(judgements) - n_ok,
                "firing_frequency": samples.stats.firing_frequency if samples else None,
                "max_activation": samples.stats.max_activation if samples else None,
                "flags": ";".join(samples.stats.flags) if samples else "",
                "ok": not errors and "failed" not in statuses.values(),
                "errors": " | ".join(errors),
                **statuses,
            }
        )
    frame = pd.DataFrame(rows, columns=UNIT_COLUMNS)
    return frame.astype(
        {
            "index": "int64",
            "simulation_score": "float64",
            "mean_specificity": "float64",
            "mean_score_random": "float64",
            "firing_frequency": "float64",
            "max_activation": "float64",
            "n_judgements": "int64",
            "n_judgements_failed": "int64",
            "ok": "bool",
        }
    )
