"""The scorer protocol, the registry and what every scorer is given.

A scorer is a small class registered in :data:`SCORERS` under its name. It declares where its
records go (``stage``: the store file), which RunConfig section holds its parameters
(``config_field``), whether it needs an explanation, an LLM, or other units' contexts, and it
implements ``score`` (one unit -> one typed record), ``summarise`` (record -> the generic
:class:`ScoreSummary`) and ``plan`` (the requests it would send, for ``--dry-run`` pricing; built by
the same code that builds the real requests).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from autointerp.backends.base import Backend, LLMRequest
from autointerp.dictionaries.records import SteeredSet
from autointerp.registry import Registry
from autointerp.scorers.metrics import chance_rule
from autointerp.scorers.records import ForeignContext, ForeignContexts, Metric, ScoreResult, ScoreSummary
from autointerp.types import Explanation, Provenance, Record, UnitSamples

Negatives = Literal["random", "neighbours"]


class ScorerConfig(BaseModel):
    """Fields every LLM scorer config has (all part of the scorer's params hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    backend: str | None = Field(
        default=None, description="Backend spec for this scorer; None: the specificity judge (backends.rubric)."
    )
    max_retries: int = Field(default=2, ge=0, description="Re-asks after a missing or unreadable answer.")
    temperature: float = Field(default=0.0, ge=0.0)


@dataclass(frozen=True)
class ScoreInput:
    """What a scorer may look at for one unit."""

    samples: UnitSamples
    explanation: Explanation | None = None
    foreign: ForeignContexts | None = None  # other units' contexts where this unit is silent
    negatives: Negatives = "random"
    steering: SteeredSet | None = None  # steered and plain continuations (intervention), made by the pipeline

    @property
    def explanation_text(self) -> str | None:
        e = self.explanation
        return e.text if e is not None and e.ok and e.text else None

    def explanation_or_missing(self) -> Explanation:
        """The unit's explanation, or a failed one saying there is none (the stages record that as the cause)."""
        if self.explanation is not None:
            return self.explanation
        return Explanation(unit=self.samples.unit, ok=False, error="no explanation",
                           provenance=Provenance(backend="", model="", prompt_id="", prompt_version="", prompt_hash=""))


@dataclass(frozen=True)
class PlannedCall:
    """One request a scorer would send, and how many tokens its answer may take."""

    request: LLMRequest
    expected_output_tokens: int


class Scorer:
    """Base of every scorer; subclasses set the class attributes and implement the three methods."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line for `autointerp scorers list`
    reference: ClassVar[str]
    stage: ClassVar[str]  # store stage (file) of its records
    config_field: ClassVar[str]  # RunConfig section holding its config
    needs_explanation: ClassVar[bool] = True
    uses_llm: ClassVar[bool] = True
    uses_foreign: ClassVar[bool] = False  # needs other units' contexts (negatives: neighbours, intruders)
    chance_rules: ClassVar[Mapping[str, str]] = {}  # metric -> how its chance level is set, where the scorer's own

    def chance_rule(self, metric: str) -> str:
        """How this scorer's ``metric`` gets its chance level (its own rule, else the metric's general one)."""
        return self.chance_rules.get(metric) or chance_rule(metric)

    def backend_spec(self, config: BaseModel, default: str) -> str | None:
        """The backend this scorer asks (None: it needs none)."""
        if not self.uses_llm:
            return None
        return getattr(config, "backend", None) or default

    def wants_foreign(self, negatives: Negatives) -> bool:
        return self.uses_foreign

    async def score(self, inp: ScoreInput, backend: Backend | None, config: Any, seed: int) -> Record:
        raise NotImplementedError

    def summarise(self, record: Record) -> ScoreSummary:
        assert isinstance(record, ScoreResult)
        return self.summary(record, record.primary, record.metrics)

    def summary(self, record: Any, primary: str, metrics: Sequence[Metric]) -> ScoreSummary:
        """The generic summary of one of this scorer's records: its outcome, ``metrics`` and the ``primary`` one."""
        return ScoreSummary(unit=record.unit, scorer=self.name, ok=record.ok, error=record.error, primary=primary,
                            metrics=tuple(metrics), seed=record.provenance.seed)  # fmt: skip

    def plan(self, inp: ScoreInput, config: Any, seed: int, capabilities: Any = None) -> list[PlannedCall]:
        """The calls :meth:`score` would make for this unit on the first attempt (no retries)."""
        return []


class StageScorer(Scorer):
    """A scorer that runs one judging stage: ``stage_fn(samples, explanation, backend, config, seed)``."""

    stage_fn: ClassVar[Callable[..., Awaitable[Record]]]

    async def score(self, inp: ScoreInput, backend: Backend | None, config: Any, seed: int) -> Record:
        if backend is None:
            raise ValueError(f"scorer {self.name!r} needs a backend")
        return await type(self).stage_fn(inp.samples, inp.explanation_or_missing(), backend, config, seed)


SCORERS: Registry[Scorer] = Registry("scorer")


def register(cls: type[Scorer]) -> type[Scorer]:
    SCORERS.add(cls.name, cls())
    return cls


def stand_in_foreign(samples: UnitSamples, n: int = 20) -> ForeignContexts:
    """For dry-run pricing before the foreign pool exists: n contexts shaped like the unit's own held-out ones."""
    own = [c for c in samples.heldout_contexts() if c.tokens]
    stand_ins = tuple(
        ForeignContext(
            context=own[k % len(own)].model_copy(update={"window_index": -(k + 1), "context_id": f"s{k}"}),
            source_unit=-1, similarity=0.0, source_active=(0,),
        )
        for k in range(n if own else 0)
    )
    return ForeignContexts(unit=samples.unit, contexts=stand_ins)


def too_rare(inp: ScoreInput, min_active_windows: int) -> str | None:
    """Why a unit is not scored under a minimum of active windows in the corpus (delphi's min_examples), or None."""
    n = inp.samples.stats.n_active_windows
    if n is not None and n < min_active_windows:
        return f"active in {n} windows, fewer than min_active_windows {min_active_windows}"
    return None


def unit_rng(seed: int, unit_index: int, salt: int) -> np.random.Generator:
    """The seeded generator of one scorer on one unit (salt keeps scorers' draws independent)."""
    return np.random.default_rng([seed, unit_index, salt])


def metric(metrics: Sequence[Metric], name: str) -> Metric | None:
    return next((m for m in metrics if m.name == name), None)
