"""Typed records of the scorers (what is stored per unit, and the generic summary the report reads).

* :class:`ScoreItem` - one judged item: a context (detection, fuzzing, saebench, embedding) or one
  trial (intruder), with the truth, the judge's answer and, where the backend gives one, a score.
* :class:`ScoreResult` - everything one scorer produced for one unit (stored in ``<scorer>.jsonl``).
* :class:`Metric` / :class:`ScoreSummary` - scorer name, metric values, chance level and n: the
  common shape every scorer (the existing specificity and simulation records included) is reduced
  to by :func:`autointerp.scorers.summarise`, so tables and figures need no per-scorer code.
"""

from __future__ import annotations

from pydantic import Field

from autointerp.types import Context, ContextKind, Frozen, Provenance, Record, UnitId, Usage


class ScoreItem(Record):
    """One judged item of one unit."""

    item_id: str = Field(description="Id shown to the judge (c1, c2 ...) or the trial id (t1 ...).")
    context_ids: tuple[str, ...] = Field(description="Context(s) the item shows; for an intruder trial, all of them.")
    kind: ContextKind = Field(description="Sampling kind of the (target) context.")
    level: int = Field(description="Activation-level bin of the context (-1: non-activating).")
    true_activation: float = Field(description="Max activation of the unit in the context (0 for negatives).")
    group: str | None = Field(
        default=None, description="The scorer's class of the item where it has several (saebench: 'top', 'iw' "
        "importance-weighted, 'random').")
    source: str = Field(
        default="self",
        description="Where the context comes from: 'self' (the unit's own sample), 'neighbour:<i>' or 'unit:<i>' "
        "(another unit's context, checked to be non-activating for this unit); for an intruder trial whose intruder is "
        "one of the unit's own non-activating windows (intruder: random), 'random'.",
    )
    label: bool = Field(description="The truth: the context activates the unit / the highlight is correct / "
                        "for intruder trials always true (the intruder exists).")
    predicted: bool | None = Field(default=None, description="The judge's answer; None when it failed or none asked.")
    score: float | None = Field(
        default=None,
        description="Graded belief that label is true: P(yes) from logprobs, or a similarity (embedding); None if "
        "the backend gave none.",
    )
    answer: str | None = Field(default=None, description="What the judge answered, verbatim (e.g. 'c3' or 'yes').")
    ok: bool = True
    error: str | None = None


class Metric(Frozen):
    """One number about one unit, with what it means."""

    name: str = Field(description="e.g. 'balanced_accuracy', 'auroc', 'recall_level_3'.")
    value: float | None = Field(description="None when undefined (e.g. AUROC with one class only).")
    chance: float | None = Field(default=None, description="What a judge guessing (or answering 'none') scores.")
    n: int = Field(ge=0, description="Items the value is computed from.")
    note: str | None = Field(default=None, description="Why the value is undefined, if it is.")
    method: str | None = Field(
        default=None, description="How the value was estimated, where a scorer has several ways (simulation: "
        "'logprobs-all-at-once', 'logprobs-generated' or 'json-list'; only the first is OpenAI's estimator).",
    )

    @property
    def chance_corrected(self) -> float | None:
        """(value - chance) / (1 - chance): 0 at chance, 1 perfect; None where chance is not defined."""
        if self.value is None or self.chance is None or self.chance >= 1:
            return None
        return (self.value - self.chance) / (1 - self.chance)


class ScoreResult(Record):
    """One scorer's result for one unit (detection, fuzzing, saebench, embedding, intruder)."""

    unit: UnitId
    scorer: str = Field(description="Registered scorer name.")
    ok: bool
    error: str | None = None
    explanation: str | None = Field(default=None, description="The description judged (saebench: its own).")
    primary: str = Field(description="Name of the headline metric in `metrics`.")
    metrics: tuple[Metric, ...] = ()
    items: tuple[ScoreItem, ...] = ()
    provenance: Provenance
    usage: Usage = Usage()

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)


class ScoreSummary(Frozen):
    """The scorer-independent view of one unit's result that reports read."""

    unit: UnitId
    scorer: str
    ok: bool
    error: str | None = None
    primary: str = Field(description="Name of the headline metric.")
    metrics: tuple[Metric, ...] = ()
    seed: int = 0

    @property
    def value(self) -> float | None:
        m = next((m for m in self.metrics if m.name == self.primary), None)
        return None if m is None else m.value


class ForeignContext(Frozen):
    """A context where another unit of the same basis fires and this unit does not (checked by a forward pass)."""

    context: Context = Field(description="The window with THIS unit's activations (all <= 0), kind 'random', level -1.")
    source_unit: int = Field(description="Index of the unit whose held-out context it is.")
    similarity: float = Field(description="Cosine similarity of the two units' decoder (output) directions.")
    source_active: tuple[int, ...] = Field(description="Token positions where the source unit fires.")


class ForeignContexts(Record):
    """Other units' contexts on which this unit is silent: hard negatives and intruders, nearest units first."""

    unit: UnitId
    ok: bool = True
    contexts: tuple[ForeignContext, ...] = ()
