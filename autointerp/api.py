"""The Python face: :func:`evaluate` runs what ``autointerp run`` runs, on what a notebook has in memory, and
:func:`load` reads any run folder, both as :class:`~autointerp.report.results.Results`.

One path: ``autointerp run`` / ``demo`` and :func:`evaluate` both call :func:`run_and_report` (the pipeline, then
the report). Errors are the typed, one-line exceptions of :mod:`autointerp.errors` the CLI prints.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from torch import nn

from autointerp.activations.in_memory import (
    dictionary_from_object,
    documents_from,
    stated_site,
    subject_from_model,
)
from autointerp.errors import ConfigError
from autointerp.report import ReportSummary, write_report
from autointerp.report.results import Results
from autointerp.runs import pipeline
from autointerp.runs.config import RunConfig, backend_overrides, load_config
from autointerp.runs.inputs import RunInputs
from autointerp.runs.outcome import RunOutcome
from autointerp.types import Record

OnResult = Callable[[str, Record], None]
_OWN = ("tokenizer", "sae", "backend", "on_result", "progress", "check")


def run_and_report(
    config: RunConfig,
    *,
    inputs: RunInputs | None = None,
    progress: bool = True,
    check: bool = False,
    on_record: OnResult | None = None,
) -> tuple[RunOutcome, ReportSummary | None]:
    """Run ``config`` (resuming its run folder), then write its report; the report is None when a backend halted
    the run (auth, permission, unknown model): there is nothing new to report."""
    outcome = pipeline.run(config, progress=progress, check=check, inputs=inputs, on_record=on_record)
    if outcome.halted is not None:
        return outcome, None
    from autointerp.runs.steps import step

    with step("report", show=progress):
        return outcome, write_report(outcome.run_dir, seed=config.seed)


def _check_names(fields: dict[str, Any]) -> None:
    known = sorted({*RunConfig.model_fields, *_OWN})
    for name in fields:
        if name not in RunConfig.model_fields:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(known)}"
            raise ConfigError(f"evaluate: unknown field {name!r}{hint}")


def _is_name(value: object) -> bool:
    return isinstance(value, (str, os.PathLike))


@contextmanager
def _eval_mode(module: nn.Module | None) -> Iterator[None]:
    """Dropout off while the run reads the model; each submodule's own mode is restored after (training loops)."""
    if module is None:
        yield
        return
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def evaluate(
    model: str | os.PathLike | nn.Module = "smollm2-135m",
    *,
    tokenizer: Any = None,
    sae: Any = None,
    backend: str | None = None,
    on_result: OnResult | None = None,
    progress: bool = True,
    check: bool = False,
    **fields: Any,
) -> Results:
    """Run autointerp on ``model`` (and ``sae``) exactly as ``autointerp run`` does, and return the results.

    Args:
        model: a packaged name, a transformers folder or Hub id, or a loaded transformers model (then pass its
            ``tokenizer``).
        sae: a checkpoint path or Hub spec, or an SAE object: a SAELens ``SAE``, a sparsify ``Sae``, a
            dictionary_learning dictionary, or any ``nn.Module`` with ``encode(x)`` (``W_dec``/``decode`` where a
            scorer needs directions). None: neurons only. An object that states its hook (SAELens ``hook_name``)
            is read there unless ``sae_site`` is given.
        backend: one backend spec for every judge stage (as ``--backend``), e.g. ``"openai:gpt-4.1-mini"``.
        on_result: called as ``on_result(stage, record)`` each time a unit's explanation or score is stored.
        progress: progress bars (tqdm; notebook widgets in Jupyter).
        check: send one tiny request per remote backend before sampling (as ``--check``).
        **fields: any :class:`~autointerp.runs.config.RunConfig` field by its own name: ``sae_site``,
            ``features``, ``neuron_site``, ``neurons``, ``corpus`` (also an iterable of strings or a
            ``datasets.Dataset``), ``max_tokens``, ``window``, ``scorers``, ``protocol``, ``results_dir``,
            ``name``, and sections as dicts (``sampler={"top_k": 30}``).

    Results go to ``<results_dir>/<name>/`` like a CLI run's: locked, budgeted, resumable (the same call again
    resumes; a changed model, SAE or corpus is sampled afresh). A failed run raises the one-line error the CLI
    prints (:class:`~autointerp.errors.ConfigError`, ``InputError``, ``RunHalted``, ``BudgetExceeded``, ...);
    units that failed for good are a warning and rows with a failure reason in ``Results.scores``.
    """
    _check_names(fields)
    overrides: dict[str, Any] = {
        k: v.model_dump(exclude_unset=True) if isinstance(v, BaseModel) else v for k, v in fields.items()
    }
    subject = None
    if _is_name(model):
        if tokenizer is not None:
            raise ConfigError("evaluate: tokenizer= goes with a loaded model; a model given by name brings its own")
        overrides["model"] = str(model)
    else:
        subject, overrides["model"] = subject_from_model(model, tokenizer)
        overrides.setdefault("device", str(subject.device))  # the model stays where it is unless device= says
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        if dtype in ("float32", "bfloat16", "float16"):
            overrides.setdefault("dtype", dtype)
    dictionary = None
    if sae is not None and not _is_name(sae):
        dictionary, overrides["sae"] = dictionary_from_object(sae)
        site = stated_site(dictionary, None if subject is None else subject.arch)
        if site is not None:
            overrides.setdefault("sae_site", site)  # where the object says it was trained, unless sae_site= says
    elif sae is not None:
        overrides["sae"] = str(sae)
    documents = None
    corpus = overrides.get("corpus")
    if corpus is not None and not _is_name(corpus):
        documents, overrides["corpus"] = documents_from(corpus, overrides.get("text_field", "text"))
    elif corpus is not None:
        overrides["corpus"] = str(corpus)
    overrides.update(backend_overrides(backend))
    config = load_config(None, overrides, source="evaluate")
    inputs = RunInputs(subject=subject, sae=dictionary, documents=documents)
    with _eval_mode(None if subject is None else subject.model):
        outcome, _ = run_and_report(config, inputs=inputs, progress=progress, check=check, on_record=on_result)
    if outcome.halted is not None:
        raise outcome.halted
    if outcome.budget is not None:
        outcome.budget.results = Results(outcome.run_dir, seed=config.seed)  # what finished before the stop
        raise outcome.budget
    if outcome.failed:
        warnings.warn(f"{outcome.run_dir}: " + "; ".join(outcome.error_lines()), RuntimeWarning, stacklevel=2)
    return Results(outcome.run_dir, seed=config.seed)


def load(run_dir: str | os.PathLike) -> Results:
    """The results of a run folder, made by :func:`evaluate` or by ``autointerp run``."""
    return Results(Path(run_dir))
