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
    n_bins: int = Field(default=10, ge=1, description="Activation-level bins of equal width over [0, unit max].")
    per_bin: int = Field(default=5, ge=1, description="Contexts kept per activation-level bin, in each split.")
    n_random: int = Field(default=10, ge=0, description="Random non-activating contexts kept per unit for scoring.")
    n_random_explain: int = Field(
        default=2, ge=0, description="Random non-activating contexts kept per unit in the explain split."
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
        description="Streaming grid of level bins, re-cut into n_bins at the end (default and minimum: 2 * n_bins); "
        "more bins follow the final levels more closely but keep more contexts in memory.",
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
        if self.internal_bins is not None and self.internal_bins < 2 * self.n_bins:
            raise ValueError(f"internal_bins must be >= 2 * n_bins = {2 * self.n_bins}, got {self.internal_bins}")
        return self

    @property
    def grid_bins(self) -> int:
        """Bins of the streaming level grid (a grid bin then straddles at most two output levels)."""
        return self.internal_bins if self.internal_bins is not None else 2 * self.n_bins

    @property
    def rare_threshold(self) -> int:
        """Active windows a unit needs not to be flagged 'rare'."""
        if self.min_active_windows is not None:
            return self.min_active_windows
        return math.ceil(self.top_k / (1.0 - self.heldout_fraction))

    def random_slots(self, split: int) -> int:
        """Random non-activating contexts kept in split 0 (explain) or 1 (held-out)."""
        return self.n_random if split == 1 else self.n_random_explain
