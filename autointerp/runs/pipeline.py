"""Orchestration: sample -> explain -> (specificity rubric, simulate) for features and neurons alike.

Every unit of every basis goes through the identical path and budget. Results are
appended to the run's store as they finish (flushed per record): rerunning the same
config skips finished work, retries failures, and with the LLM cache repeats no paid
request. A changed parameter changes the params hash of the stages it affects, which
are then redone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from autointerp import __version__
from autointerp.activations.corpus import Document, stream_corpus, token_windows
from autointerp.activations.device import resolve_device, resolve_dtype
from autointerp.activations.model_source import MultiSource
from autointerp.activations.models import SubjectModel, load_subject
from autointerp.activations.source import TokenWindow
from autointerp.backends import build_backend, usage_of
from autointerp.backends.base import Backend
from autointerp.errors import BudgetExceeded, InputError, RunHalted
from autointerp.judging.explain import LogitTokens, explain_unit
from autointerp.runs.aio import run_sync
from autointerp.runs.bases import RunBasis, build_bases, logit_tokens
from autointerp.runs.bases import field as config_field
from autointerp.runs.config import SAMPLING_FIELDS, STAGE_FIELDS, RunConfig, save_config
from autointerp.runs.guard import RunGuard, current_unit
from autointerp.runs.inputs import RunInputs
from autointerp.runs.logits import write_logit_tokens
from autointerp.runs.outcome import RunOutcome, stage_statuses
from autointerp.runs.preflight import check_backends, reach_local_backends, validate_backends
from autointerp.runs.rundir import RunLock, open_run_dir, storage_errors
from autointerp.runs.spend import Ledger
from autointerp.runs.steps import step
from autointerp.runs.store import RunStore
from autointerp.sampling import SampleSet, TokenDecoder
from autointerp.sampling.finalize import finalize
from autointerp.sampling.shards import broadcast_from_rank0, merge_on_rank0, torchrun_shard
from autointerp.sampling.stream import run_passes
from autointerp.scorers.orchestrate import (
    backend_for,
    ensure_foreign,
    judge_stages,
    run_reseeds,
    score_unit,
    spread_lines,
    stage_backend_spec,
    wants_foreign,
    write_reseed_spread,
)
from autointerp.secrets import redact_tree
from autointerp.types import Explanation, Record, UnitSamples, Usage

log = logging.getLogger(__name__)

JUDGE_STAGES = ("explain", "rubric", "simulate")


def say(message: str) -> None:
    """One-time fetch messages (a packaged model or corpus downloaded on first use), shown to the user."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class StageProgress:
    """Counts shown on a stage's progress bar (this invocation)."""

    done: int = 0
    failed: int = 0
    skipped: int = 0


# ------------------------------------------------------------------ sampling


def _sample_pass(
    subject: SubjectModel, bases: list[RunBasis], windows: Iterable[TokenWindow], config: RunConfig, progress: bool
) -> list[SampleSet]:
    """One forward pass over the corpus feeding one sampler state per basis.

    Under ``torchrun`` each rank reads its shard of the windows and rank 0 merges every rank's states exactly
    (the other ranks get None and are done)."""
    shard = torchrun_shard()
    if shard:
        windows = shard.take(windows)
    source = MultiSource(subject, [rb.basis for rb in bases], device=config.device, sparse=True)
    total = config.max_tokens if not shard else -(-config.max_tokens // shard.count)
    states = run_passes(source.batches, source.n_units, windows, config.sampler, progress=progress, total_tokens=total)
    if shard:
        states = merge_on_rank0(states)
        if states is None:
            return None
    return [finalize(state, basis=rb.name, unit_ids=list(rb.unit_ids)) for state, rb in zip(states, bases)]


def sample_worker(config: RunConfig) -> int:
    """A torchrun rank other than 0: sample this rank's shard for rank 0 when it needs samples; no store, no LLM."""
    if not broadcast_from_rank0(None):
        return 0
    subject = load_subject(config.model, device=resolve_device(config.device), dtype=resolve_dtype(config.dtype))
    bases = build_bases(config, subject)
    windows = token_windows(stream_corpus(config.corpus, config.text_field), subject.tokenizer, config.window,
                            config.max_tokens)
    _sample_pass(subject, bases, windows, config, progress=False)
    return 0


def ensure_samples(
    config: RunConfig,
    store: RunStore,
    subject: SubjectModel,
    bases: list[RunBasis],
    progress: bool = True,
    documents: Callable[[], Iterable[Document]] | None = None,
) -> list[UnitSamples]:
    """Sampled contexts of every unit: from the store when this sampling config already ran, else one pass.

    ``documents``: the corpus in memory (a fresh pass per call) instead of ``config.corpus``."""
    params = config.part_hash(*SAMPLING_FIELDS)
    wanted = [f"{rb.name}#{u}" for rb in bases for u in rb.unit_ids]
    have = store.latest("units", params)
    cached = all(k in have for k in wanted)
    if torchrun_shard():  # tell the other ranks whether to sample
        broadcast_from_rank0(not cached)
    if cached:
        return [have[k] for k in wanted]  # type: ignore[misc]
    with config_field("corpus"):
        docs = documents() if documents is not None else stream_corpus(config.corpus, config.text_field, progress=say)
    windows = token_windows(docs, subject.tokenizer, config.window, config.max_tokens)
    sets = _sample_pass(subject, bases, windows, config, progress)
    decoder = TokenDecoder(subject.tokenizer)
    if sets[0].n_tokens == 0:
        raise InputError(f"corpus {config.corpus}: produced no tokens")
    out = []
    for rb, ss in zip(bases, sets):
        ss.save(store.run_dir / "samples" / rb.name.replace(":", "_").replace("/", "_"))
        for uid in ss.units:
            us = ss.unit_samples(uid, decoder)
            store.append("units", us, params)
            out.append(us)
    return out


# ------------------------------------------------------------------ judging


class Judge:
    """Runs the three LLM stages over units with bounded concurrency, skipping finished work."""

    def __init__(
        self,
        config: RunConfig,
        store: RunStore,
        backends: dict[str, Backend],
        subject: SubjectModel | None,
        bases: dict[str, RunBasis],
        progress: bool,
        guard: RunGuard | None = None,
        on_record: Callable[[str, Record], None] | None = None,
    ):
        self.guard = guard or RunGuard(Ledger(store.run_dir), config.llm.max_cost, config.llm.api_key_env)
        backends = {stage: self.guard.wrap(stage, b) for stage, b in backends.items()}
        self.config, self.store, self.backends = config, store, backends
        self.subject, self.bases = subject, bases
        self.params = {s: config.part_hash(*STAGE_FIELDS[s]) for s in judge_stages(config)}
        self.latest = {s: store.latest(s, p) for s, p in self.params.items()}
        self.counts = {s: StageProgress() for s in self.params}
        self.foreign: dict = {}  # other units' contexts where each unit is silent (negatives, intruders)
        self.progress = progress
        self.bars: dict[str, tqdm] = {}
        self.on_record = on_record  # called with (stage, record) as each record is stored

    def _done(self, stage: str, key: str) -> Record | None:
        rec = self.latest[stage].get(key)
        return rec if rec is not None and getattr(rec, "ok", False) else None

    def _record(self, stage: str, rec: Record) -> None:
        self.store.append(stage, rec, self.params[stage])
        if self.on_record is not None:
            self.on_record(stage, rec)
        c = self.counts[stage]
        c.done += 1
        c.failed += 0 if getattr(rec, "ok", True) else 1
        self._tick(stage)

    def _tick(self, stage: str, n: int = 1) -> None:
        bar = self.bars.get(stage)
        if bar is not None:
            bar.update(n)
            cost = self.guard.ledger.spent
            bar.set_postfix(failed=self.counts[stage].failed, cost=f"${cost:.4f}", refresh=False)

    async def _stage(self, stage: str, key: str, make) -> Record:
        prev = self._done(stage, key)
        if prev is not None:
            self.counts[stage].skipped += 1
            self._tick(stage)
            return prev
        token = current_unit.set(key)  # the guard adds every answer's usage to this unit
        try:
            rec = await make()
        finally:
            current_unit.reset(token)
        rec = self._with_spent_usage(stage, key, rec)
        self._record(stage, rec)
        return rec

    def _with_spent_usage(self, stage: str, key: str, rec: Record) -> Record:
        """A failed record carries the tokens and cost of every answer its unit received (they were paid)."""
        if getattr(rec, "ok", True) or "usage" not in type(rec).model_fields:
            return rec
        spent = self.guard.usage_of_unit(stage, key)
        if spent.requests > rec.usage.requests or spent.cost_usd > rec.usage.cost_usd:  # type: ignore[attr-defined]
            return rec.model_copy(update={"usage": spent})
        return rec

    async def unit(self, us: UnitSamples) -> None:
        key, cfg, seed = us.unit.key, self.config, self.config.seed

        async def explain() -> Explanation:
            tokens, basis = None, self.bases.get(us.unit.basis)
            if self.subject is not None and basis is not None:
                tokens = logit_tokens(self.subject, basis, us.unit.index, cfg.explain.n_logit_tokens)
            change = None
            ev = getattr(self, "output_evidence", {}).get(key)
            if cfg.explain.output_evidence and ev is not None and ev.raised:
                up, down = (tuple(t.token for t in part) for part in (ev.raised, ev.lowered))
                change = LogitTokens(promoted=up, suppressed=down)
            return await explain_unit(us, self.backends["explain"], cfg.explain, logit_tokens=tokens,
                                      token_change=change, seed=seed)  # fmt: skip

        exp = await self._stage("explain", key, explain) if "explain" in self.params else None
        await score_unit(self, us, exp)  # every selected scorer (default: specificity and simulation)

    async def run(self, units: list[UnitSamples]) -> BudgetExceeded | None:
        """Judge every unit; the BudgetExceeded that stopped the run early, if any.

        A budget stop lets requests in flight finish (they are paid for) and sends no new ones; a
        RunHalted (auth, permission, unknown model) is raised once every unit task has stopped."""
        for i, stage in enumerate(self.params):
            self.bars[stage] = tqdm(
                total=len(units),
                desc=f"{stage:<8}",
                unit="unit",
                position=i,
                disable=not self.progress,
                dynamic_ncols=True,
            )
        limit = asyncio.Semaphore(max(1, self.config.llm.units_in_flight))

        async def one(us: UnitSamples) -> None:
            async with limit:
                await self.unit(us)

        tasks = [asyncio.ensure_future(one(us)) for us in units]
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for bar in self.bars.values():
                bar.close()
        if self.guard.halted is not None:
            raise self.guard.halted
        budget = None
        for result in results:
            if isinstance(result, BudgetExceeded):
                budget = budget or result
            elif isinstance(result, BaseException):
                raise result
        return budget


def build_backends(config: RunConfig) -> dict[str, Backend]:
    """One backend stack per distinct spec, shared by the stages that use it."""
    opts = config.llm.model_dump()
    opts["cache_dir"] = config.cache_dir
    built: dict[str, Backend] = {}
    out = {}
    for stage in judge_stages(config):
        spec = stage_backend_spec(config, stage)
        if spec is None:  # a scorer without an LLM (embedding)
            continue
        if spec not in built:
            with config_field(f"backends.{stage}" if stage in JUDGE_STAGES else f"{stage}.backend"):
                built[spec] = build_backend(spec, **opts)
        out[stage] = built[spec]
    return out


def write_run_metadata(config: RunConfig, run_dir: Path, unit_keys: list[str] | None = None) -> None:
    """config.yaml and run.json. Once the units are known, run.json also lists them and the stage params, so
    the report shows only those (a run folder reused with a changed config keeps older records unreported)."""
    save_config(config, run_dir / "config.yaml")
    meta = {
        "autointerp_version": __version__,
        "config_hash": config.config_hash(),
        "protocol": config.protocol_label.model_dump(mode="json"),
        "created": time.time(),
        "model": config.model,
        "sae": config.sae,
        "backends": redact_tree(config.backends.model_dump()),
    }
    if unit_keys is not None:
        meta["units"] = unit_keys
        meta["stage_params"] = {"units": config.part_hash(*SAMPLING_FIELDS)} | {
            s: config.part_hash(*STAGE_FIELDS[s]) for s in judge_stages(config)
        }
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def prepare(
    config: RunConfig, progress: bool = True, inputs: RunInputs | None = None
) -> tuple[SubjectModel, list[RunBasis], list[UnitSamples]]:
    """Load the subject model, build the bases and sample (or reload) every unit's contexts.

    ``inputs``: what the Python API hands over in memory (model, SAE, corpus) instead of the config's names."""
    inputs = inputs or RunInputs()
    store = RunStore(config.run_dir)
    subject = inputs.subject
    if subject is None:
        with config_field("model"), step("load the subject model", str(config.model), show=progress):
            subject = load_subject(
                config.model, device=resolve_device(config.device), dtype=resolve_dtype(config.dtype), progress=say
            )
    bases = build_bases(config, subject, inputs.sae)
    if not bases:
        raise InputError("nothing to score: set 'sae' (features) and/or 'neuron_site' (neurons)")
    with step("sample", f"{config.max_tokens:,} tokens", show=progress):
        units = ensure_samples(config, store, subject, bases, progress, inputs.documents)
    return subject, bases, units


def stage_params(config: RunConfig) -> dict[str, str]:
    """Params hash of each judging stage (the key of its records)."""
    return {s: config.part_hash(*STAGE_FIELDS[s]) for s in judge_stages(config)}


async def _judge(
    config: RunConfig,
    store: RunStore,
    subject,
    bases,
    units,
    progress,
    backend_factory: Callable[[RunConfig], dict[str, Backend]],
    guard: RunGuard,
    on_record: Callable[[str, Record], None] | None = None,
) -> tuple[BudgetExceeded | None, dict[str, Usage]]:
    backends = backend_factory(config)
    judge = Judge(config, store, backends, subject, {rb.name: rb for rb in bases}, progress, guard, on_record)
    if wants_foreign(config):
        judge.foreign = ensure_foreign(config, store, subject, bases, units, config.part_hash(*SAMPLING_FIELDS))
    if subject is not None and subject.is_decoder:  # output evidence: VocabProj + TokenChange, for the unit cards
        from autointerp.dictionaries.output import ensure_output_evidence

        params = config.part_hash(*SAMPLING_FIELDS, "intervention")
        with step("output evidence", f"{len(units)} units, once per run folder", show=progress):
            judge.output_evidence = ensure_output_evidence(store.run_dir, subject, bases, units,
                                                           config.intervention.steer.alpha_scale, params)  # fmt: skip
    if "intervention" in config.scorers and subject is not None:  # generation needs the subject model
        from autointerp.dictionaries.steer_run import ensure_steering

        params = config.part_hash(*SAMPLING_FIELDS, "intervention")
        judge.steering = ensure_steering(subject, bases, units, store, config.intervention.steer, params, progress)
    try:
        with step("judge", ", ".join(judge.params), show=progress):
            budget = await judge.run(units)
        if budget is None and config.reseeds > 1:
            budget = await run_reseeds(judge, units)
            spread = write_reseed_spread(store, config, judge.params, store.run_dir / "reseeds.json")
            say("spread across seeds (reseeds.json):\n  " + "\n  ".join(spread_lines(spread)))
    finally:
        for b in {id(b): b for b in backends.values()}.values():
            await b.aclose()
    used = {stage_backend_spec(config, s): backend_for(backends, s) for s in judge_stages(config)}
    usage = {spec: usage_of(b) for spec, b in used.items() if spec is not None and b is not None}
    return budget, usage


def unique_units(units: list[UnitSamples]) -> list[UnitSamples]:
    """Each unit once, first occurrence kept (``--features 3,3,5`` judges feature 3 once)."""
    return list({us.unit.key: us for us in reversed(units)}.values())[::-1]


@contextmanager
def opened_run(
    config: RunConfig, check: bool, report: Callable[[str], None] = say, reach: bool = True
) -> Iterator[Path]:
    """Before anything is sampled: validate every backend spec, with ``reach`` (or ``check``) connect to every
    backend on this machine or the local network, open and lock the run folder, and with ``check`` send one tiny
    request per remote backend; write failures inside are one-line StorageErrors. Without ``reach`` (a dry run,
    which sends nothing) the API keys are not needed either, unless ``check``."""
    validate_backends(config, need_keys=reach or check)
    if reach or check:
        reach_local_backends(config)
    run_dir = open_run_dir(config.results_dir, config.name)
    with RunLock(run_dir), storage_errors(f"results folder {config.results_dir}"):
        if check:
            for line in check_backends(config, run_dir):
                report(line)
        yield run_dir


def run(
    config: RunConfig,
    *,
    progress: bool = True,
    backend_factory: Callable[[RunConfig], dict[str, Backend]] = build_backends,
    check: bool = False,
    report: Callable[[str], None] = say,
    inputs: RunInputs | None = None,
    on_record: Callable[[str, Record], None] | None = None,
) -> RunOutcome:
    """The whole job for one config; safe to rerun (resumes).

    ``inputs``: model, SAE or corpus handed over in memory (the Python API); ``on_record(stage, record)`` is
    called as each judged record is stored. Works inside a running event loop (the judging then runs on a
    worker thread with its own loop).

    Backend specs are validated (and with ``check`` each remote backend answers one tiny request) before
    anything is sampled. The run folder is locked for the whole invocation; write failures (disk full,
    permissions) are one-line StorageErrors. A RunHalted (auth / permission / unknown model) propagates
    after the finished records are saved; a budget stop is returned in the outcome."""
    t0 = time.perf_counter()
    # backends handed over by the caller are not the config's URLs: nothing there to connect to beforehand
    with opened_run(config, check, report, reach=backend_factory is build_backends) as run_dir:
        if not (run_dir / "config.yaml").exists():  # a new folder says what it is from the start; an existing
            write_run_metadata(config, run_dir)  # one keeps its metadata until this config has passed sampling
        store = RunStore(run_dir)
        subject, bases, units = prepare(config, progress, inputs)
        units = unique_units(units)
        keys = [us.unit.key for us in units]
        write_run_metadata(config, run_dir, keys)
        write_logit_tokens(run_dir, subject, bases, keys)  # for the report's unit cards
        params = stage_params(config)
        ok_before = {s: store.done(s, p) for s, p in params.items()}
        ledger = Ledger(run_dir)
        guard = RunGuard(ledger, config.llm.max_cost, config.llm.api_key_env)
        halted: RunHalted | None = None
        budget, usage = None, {}
        try:
            budget, usage = run_sync(
                _judge(config, store, subject, bases, units, progress, backend_factory, guard, on_record)
            )
        except RunHalted as exc:
            halted = exc
        statuses = stage_statuses(store, params, keys, ok_before, dict(ledger.now), ledger.totals())
    return RunOutcome(
        run_dir=run_dir,
        n_units=len(units),
        stages=statuses,
        usage=usage,
        seconds=time.perf_counter() - t0,
        budget=budget,
        halted=halted,
    )
