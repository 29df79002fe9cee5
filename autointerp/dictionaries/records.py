"""Typed records of the dictionary tools that other packages read (light: pydantic only, no torch)."""

from __future__ import annotations

from pydantic import Field

from autointerp.types import Frozen, Record, UnitId


class SteerConfig(Frozen):
    """How a unit is steered (every field is part of the intervention scorer's params)."""

    alpha_scale: float = Field(
        default=4.0, gt=0, description="alpha = alpha_scale x the unit's typical activation (its max on the corpus)."
    )
    n_prompts: int = Field(default=6, ge=1, description="Neutral prompts continued, with and without steering.")
    max_new_tokens: int = Field(default=16, ge=1, description="Tokens generated per continuation (greedy).")


class SteeredSet(Record):
    """Steered and unsteered continuations of the same neutral prompts for one unit."""

    unit: UnitId
    site: str = Field(description="Hook site the direction was added at.")
    typical_activation: float = Field(description="The unit's typical activation (max over the sampled corpus).")
    alpha_scale: float = Field(description="alpha / typical_activation.")
    alpha: float = Field(description="Multiple of the unit's direction added at every position.")
    prompts: tuple[str, ...]
    steered: tuple[str, ...] = Field(description="Continuation of each prompt with the unit added.")
    unsteered: tuple[str, ...] = Field(description="Continuation of each prompt without it.")
    ok: bool = Field(default=True, description="False when the unit could not be steered (then see error).")
    error: str | None = Field(default=None, description="Why not, e.g. the unit never fired on the corpus.")


def unit_folder_name(key: str) -> str:
    """A unit key as a folder name (attributions/<name>/)."""
    return key.replace(":", "_").replace("/", "_").replace("#", "_")
