"""SamplerConfig: every knob of the streaming sampler, typed and documented."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _power_of_two(value: int) -> int:
    if value < 2 or value & (value - 1):
        raise ValueError(f"must be a power of two >= 2, got {value}")
    return value


class SamplerConfig(BaseModel):
    """How many contexts of which kind the sampler keeps per unit, and how it splits windows."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    top_k: int = Field(default=20, ge=1, description="Top-activating contexts kept per unit, in each split.")
    n_bins: int = Field(default=10, ge=1, description="Activation levels of the activating (above-threshold) windows.")
    bins: Literal["width", "quantile"] = Field(
        default="width",
        description="'width': n_bins levels of equal width over [threshold * max, max] (Anthropic); 'quantile': "
        "n_bins levels of equal count over the activating windows (delphi). Both exact and mergeable.",
    )
    per_bin: int = Field(default=5, ge=1, description="Contexts kept per activation level, in each split.")
    signed: Literal["relu", "abs"] = Field(
        default="relu",
        description="How negative activations are read, for every unit alike: 'relu' (as OpenAI: a unit is active "
        "where it is > 0; negative values are kept in the contexts and shown as 0) or 'abs' (the unit is read as "
        "|activation| everywhere: sampling, statistics, contexts and scoring).",
    )
    threshold: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="A window is activating when its max exceeds threshold * the unit's max; others are 'below "
        "threshold' (level -1). The same rule for features and neurons. 'quantile' bins need 0.",
    )
    n_random: int = Field(
        default=10, ge=0, description="Random windows kept per unit for scoring: uniform over the held-out split, "
        "whatever the unit's activation (OpenAI's definition); the same windows for every unit."
    )
    n_random_explain: int = Field(
        default=2, ge=0, description="Random windows kept per unit in the explain split (uniform, as n_random)."
    )
    heldout_fraction: float = Field(
        default=0.5, gt=0, lt=1, description="Fraction of windows held out for scoring (never shown to the explainer)."
    )
    seed: int = Field(
        default=0, ge=0, description="Seed of the window keys (reservoir order and explain/held-out split)."
    )
    batch_size: int = Field(default=16, ge=1, description="Token windows per forward pass.")
    internal_bins: int | None = Field(
        default=None,
        ge=2,
        description="Streaming grid of 'width' level bins, re-cut into n_bins at the end (default and minimum: "
        "ceil(2 * n_bins / (1 - threshold))); more bins follow the final levels more closely but keep more contexts "
        "in memory.",
    )
    hist_bins: int = Field(default=64, description="Streaming grid of the activation histogram (power of two).")
    acts_dtype: Literal["float16", "float32"] = Field(
        default="float16", description="Precision of the stored per-token activations of kept contexts."
    )
    min_active_windows: int | None = Field(
        default=None,
        ge=1,
        description="Units active on fewer windows are flagged 'rare' "
        "(default: enough windows to fill the explain top-k, top_k / (1 - heldout_fraction)).",
    )

    _check_hist = field_validator("hist_bins")(classmethod(lambda cls, v: _power_of_two(v)))

    @model_validator(mode="after")
    def _grid_covers_levels(self) -> SamplerConfig:
        if self.internal_bins is not None and self.internal_bins < self.min_grid_bins:
            raise ValueError(f"internal_bins must be >= ceil(2 * n_bins / (1 - threshold)) = {self.min_grid_bins}, "
                             f"got {self.internal_bins}")
        if self.bins == "quantile" and self.threshold != 0:
            raise ValueError(f"threshold must be 0 with bins: quantile (levels are equal-count groups of the windows "
                             f"above 0), got {self.threshold}")
        return self

    @property
    def min_grid_bins(self) -> int:
        """Fewest grid bins such that a grid bin is never wider than an output level (so it straddles at most two)."""
        return math.ceil(2 * self.n_bins / (1.0 - self.threshold))

    @property
    def grid_bins(self) -> int:
        """Cells per unit of the streaming level grid ('width'); 'quantile' keeps one pool per unit instead."""
        if self.bins == "quantile":
            return 1
        return self.internal_bins if self.internal_bins is not None else self.min_grid_bins

    @property
    def cell_slots(self) -> int:
        """Random contexts kept per grid cell: per_bin ('width'), or the pool n_bins * per_bin ('quantile')."""
        return self.per_bin if self.bins == "width" else self.n_bins * self.per_bin

    @property
    def rare_threshold(self) -> int:
        """Active windows a unit needs not to be flagged 'rare'."""
        if self.min_active_windows is not None:
            return self.min_active_windows
        return math.ceil(self.top_k / (1.0 - self.heldout_fraction))

    def random_slots(self, split: int) -> int:
        """Random windows kept in split 0 (explain) or 1 (held-out)."""
        return self.n_random if split == 1 else self.n_random_explain
