"""Frozen records that flow between stages.

Every record is a pydantic model (frozen, extra fields forbidden) carrying a
``schema_version``, so results on disk are typed, validated on reload, and
have an exportable JSON schema (``Model.model_json_schema()``).

Flow: ``UnitSamples`` (sampler) -> ``Explanation`` (explainer) ->
``RubricResult`` (specificity scorer) and ``Simulation`` (simulator).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

ContextKind = Literal["top", "quantile", "random"]


class Frozen(BaseModel):
    """Base of every typed value passed between modules: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Record(Frozen):
    """Base of every stage record: frozen, strict about unknown fields, versioned."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="Version of this record's schema.")


class UnitId(Record):
    """One unit: a feature of an SAE, or a neuron (the identity dictionary) at a hook site."""

    basis: str = Field(description="Name of the basis, e.g. 'sae:my_sae' or 'neurons:layers.6.mlp'.")
    index: int = Field(ge=0, description="Index of the unit within its basis.")

    @property
    def key(self) -> str:
        """Stable string key, used in stores, tables and file names."""
        return f"{self.basis}#{self.index}"

    @property
    def kind(self) -> Literal["feature", "neuron"]:
        return "neuron" if self.basis.startswith("neurons") else "feature"


class Context(Record):
    """One token window of the corpus with one unit's activation on every token."""

    context_id: str = Field(description="Stable id of the window within the run, e.g. 'w123'.")
    window_index: int = Field(ge=0, description="Index of the token window in the corpus stream.")
    doc_id: str = Field(default="", description="Id of the corpus document the window comes from.")
    tokens: tuple[str, ...] = Field(description="Decoded token strings, in order.")
    activations: tuple[float, ...] = Field(description="The unit's activation on each token (same length as tokens).")
    kind: ContextKind = Field(description="Why it was sampled: top-k, an activation-level sample, or a uniformly random window.")
    level: int = Field(
        description="Activation-level bin of the window's max activation (0..n_bins-1); -1 below the sampler's threshold."
    )

    @property
    def max_activation(self) -> float:
        return max(self.activations, default=0.0)

    @property
    def argmax(self) -> int:
        return max(range(len(self.activations)), key=self.activations.__getitem__) if self.activations else 0


class UnitStats(Record):
    """Activation statistics of one unit over the whole sampled corpus."""

    n_tokens: int = Field(ge=0, description="Tokens seen.")
    n_windows: int = Field(ge=0, description="Token windows seen.")
    n_active_tokens: int = Field(ge=0, description="Tokens with activation > 0.")
    n_active_windows: int | None = Field(
        default=None, ge=0, description="Windows with an activation > 0 anywhere (None in records made before it "
        "was stored).")
    firing_frequency: float = Field(ge=0, le=1, description="n_active_tokens / n_tokens.")
    max_activation: float = Field(description="Largest activation seen.")
    mean_activation: float = Field(description="Mean activation over all tokens.")
    mean_active_activation: float = Field(description="Mean activation over active tokens (0 if none).")
    histogram_edges: tuple[float, ...] = Field(description="Edges of the activation histogram of active tokens.")
    histogram_counts: tuple[int, ...] = Field(description="Counts per histogram bin (len(edges) - 1).")
    flags: tuple[Literal["dead", "rare"], ...] = Field(
        default=(), description="'dead': never fired; 'rare': fired on fewer windows than the sampler needs."
    )


class UnitSamples(Record):
    """Everything the judging stages may see about one unit.

    ``explain`` contexts are the only ones shown to the explainer; ``heldout``
    contexts are the only ones scored. The two never share a window.
    """

    unit: UnitId
    stats: UnitStats
    bin_edges: tuple[float, ...] = Field(description="Edges of the activation-level bins (n_bins + 1), 0..max.")
    explain: tuple[Context, ...] = Field(description="Contexts for the explainer (top-k and quantile bins).")
    heldout: tuple[Context, ...] = Field(description="Contexts for scoring: every activation level plus random negatives.")

    def explain_contexts(self, kinds: tuple[ContextKind, ...] = ("top", "quantile")) -> list[Context]:
        return [c for c in self.explain if c.kind in kinds]

    def heldout_contexts(self, kinds: tuple[ContextKind, ...] = ("top", "quantile", "random")) -> list[Context]:
        return [c for c in self.heldout if c.kind in kinds]

    def interleaved_top(self, part: int, n_parts: int = 4) -> list[Context]:
        """OpenAI's split of the top-activating windows: those of both splits ranked together (strongest first) and
        dealt in turn to ``n_parts`` parts; part ``part`` gets ranks part, part + n_parts, ... (0-based). OpenAI's
        parts are train, calibration, valid and test: the explainer reads part 0, the simulator part 2."""
        tops = sorted((c for c in self.explain + self.heldout if c.kind == "top" and c.tokens),
                      key=lambda c: -c.max_activation)
        return tops[part::n_parts]


class Usage(Record):
    """Token usage of one or more LLM calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    requests: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            requests=self.requests + other.requests,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class Provenance(Record):
    """What produced a judgement: enough to reproduce or invalidate it."""

    backend: str = Field(description="Backend spec string, e.g. 'openai:gpt-4.1-mini' (never a key).")
    model: str = Field(description="Model name reported by the backend.")
    prompt_id: str = Field(description="Id of the rubric/prompt file used.")
    prompt_version: str = Field(description="Version of that rubric/prompt file.")
    prompt_hash: str = Field(description="Content hash of the rubric/prompt file.")
    config_hash: str = Field(default="", description="Hash of the stage parameters of the run config.")
    seed: int = Field(default=0, description="Seed used for any random choice in the stage.")


class Explanation(Record):
    """The explainer's description of one unit."""

    unit: UnitId
    ok: bool
    text: str | None = Field(default=None, description="The description; None when ok is false.")
    error: str | None = Field(default=None, description="Why it failed, when ok is false.")
    provenance: Provenance
    usage: Usage = Usage()


class RubricJudgement(Record):
    """One 0-3 specificity rating of a held-out context."""

    context_id: str
    window_index: int
    kind: ContextKind
    true_activation: float = Field(description="Max activation of the unit in the context.")
    level: int = Field(description="Activation-level bin (-1 below the sampler's threshold).")
    score: int | None = Field(default=None, ge=0, le=3, description="0-3 rating; None when it failed.")
    ok: bool = True
    error: str | None = None


def _mean(xs: list[int]) -> float | None:
    return sum(xs) / len(xs) if xs else None


class RubricResult(Record):
    """All specificity ratings of one unit's held-out contexts."""

    unit: UnitId
    ok: bool
    error: str | None = None
    explanation: str | None = Field(default=None, description="The description that was rated.")
    judgements: tuple[RubricJudgement, ...] = ()
    provenance: Provenance
    usage: Usage = Usage()

    @property
    def mean_specificity(self) -> float | None:
        """The headline: mean 0-3 rating over the *activating* held-out contexts (the ones drawn per activation
        level), None if none was rated. Random windows are left out whatever their activation, so every unit -
        sparse feature or dense neuron - is averaged over the same kind and count of contexts."""
        return _mean(self.scores_of(random=False))

    @property
    def mean_score_random(self) -> float | None:
        """Mean rating on the uniform random windows (kind ``random``): lower than ``mean_specificity`` means the
        explanation tells the unit's contexts from ordinary text. None if none was rated."""
        return _mean(self.scores_of(random=True))

    @property
    def mean_score_all(self) -> float | None:
        """Mean rating over every ok judgement, activating and random together (depends on the mix drawn; not a
        headline). None if none was rated."""
        return _mean([j.score for j in self.judgements if j.ok and j.score is not None])

    def scores_of(self, random: bool) -> list[int]:
        """Ok ratings of the activating contexts drawn per level (``random=False``) or of the uniform random
        windows (``random=True``), split by how a context was sampled, not by its level, so every unit - sparse
        or dense - is averaged over the same kinds and counts of contexts."""
        return [j.score for j in self.judgements if j.ok and j.score is not None and (j.kind == "random") == random]


class ContextSimulation(Record):
    """Simulated vs true activations on one held-out context."""

    context_id: str
    kind: ContextKind
    true: tuple[float, ...]
    predicted: tuple[float, ...] = Field(description="Predicted activation (0-10 scale) per token.")
    correlation: float | None = Field(default=None, description="Pearson r; None when either side is constant.")


class Simulation(Record):
    """The simulator's predictions for one unit and the resulting score."""

    unit: UnitId
    ok: bool
    error: str | None = None
    explanation: str | None = None
    method: str = Field(default="", description="'logprobs-all-at-once', 'logprobs-generated' or 'json-list'.")
    score: float | None = Field(
        default=None, description="Pearson r pooled over all tokens of all held-out contexts; None if undefined."
    )
    score_note: str | None = Field(default=None, description="Why the score is undefined (e.g. constant prediction).")
    contexts: tuple[ContextSimulation, ...] = ()
    provenance: Provenance
    usage: Usage = Usage()


class ModifiedField(Frozen):
    """One field a run sets differently from its protocol preset."""

    field: str = Field(description="Dotted RunConfig field, e.g. 'window' or 'sampler.bins'.")
    value: str = Field(description="The run's value, as shown.")
    preset: str = Field(description="The preset's value, as shown.")


class ProtocolLabel(Frozen):
    """Which protocol preset a run follows ('ours' = autointerp's defaults) and which of its fields it changed."""

    name: str = Field(default="ours", description="Preset name: ours, delphi, saebench or openai.")
    modified: tuple[ModifiedField, ...] = Field(default=(), description="Preset fields the run set otherwise.")

    @property
    def exact(self) -> bool:
        """The preset as published, no field changed."""
        return not self.modified

    def __str__(self) -> str:
        text = f"{self.name} protocol"
        if self.modified:
            text += ", modified: " + ", ".join(f"{m.field} {m.value}" for m in self.modified)
        return text
