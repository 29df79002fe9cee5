"""Detection (delphi): from the description alone, does each excerpt make the unit fire anywhere?

Shown, shuffled and unmarked: ``per_level`` held-out activating contexts from every activation level (above the
sampler's threshold), and up to ``n_negatives`` non-activating ones - the unit's random held-out windows below that
threshold (a dense unit may have fewer: every record states its counts as the ``n_positive``/``n_negative``
metrics, so a difference between kinds is visible in the report), or with
``negatives: neighbours`` other units' contexts nearest in decoder direction on which this unit is
silent (delphi's hard negatives; topped up with random ones if there are too few).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from autointerp.scorers.base import ScoreInput, register
from autointerp.scorers.classifier import ClassifierConfig, ClassifierScorer, draw_test
from autointerp.scorers.judging import Shown


class DetectionConfig(ClassifierConfig):
    """Parameters of the detection scorer."""

    n_negatives: int = Field(default=10, ge=0, description="Non-activating contexts shown.")


def negatives(inp: ScoreInput, k: int, rng: np.random.Generator, replace: bool = False) -> list[Shown]:
    """k non-activating contexts: nearest units' contexts first (negatives: neighbours), then random windows.

    The random windows are drawn for this unit with its own seeded generator from the held-out random windows
    where it is silent: without replacement (at most as many as there are), or with ``replace`` (delphi: k draws,
    a window may repeat; none when the unit is silent nowhere)."""
    out: list[Shown] = []
    if inp.negatives == "neighbours" and inp.foreign is not None:
        seen: set[int] = set()
        for fc in inp.foreign.contexts:  # nearest source units first
            if len(out) >= k:
                break
            if fc.context.window_index in seen:
                continue
            seen.add(fc.context.window_index)
            out.append(Shown(fc.context, (), False, source=f"neighbour:{fc.source_unit}"))
    # below the sampler's threshold (level -1): the same rule for every unit; a dense unit has fewer such windows,
    # which the n_negative metric of every record shows (and the report's features-vs-neurons table compares)
    pool = [c for c in inp.samples.heldout_contexts(("random",)) if c.tokens and c.level < 0]
    need = k - len(out) if replace and pool else min(k - len(out), len(pool))
    if need > 0:
        out += [Shown(pool[i], (), False) for i in sorted(rng.choice(len(pool), size=need, replace=replace))]
    return out


@register
class Detection(ClassifierScorer):
    name = "detection"
    description = "delphi detection: judge says which unmarked excerpts activate the unit (balanced acc., F1, AUROC)"
    reference = "Paulo et al. 2024, 'Automatically Interpreting Millions of Features in LLMs' (delphi)"
    stage = "detection"
    config_field = "detection"
    prompt_id = "detection"
    salt = 101

    def wants_foreign(self, negatives: str) -> bool:
        return negatives == "neighbours"

    def select(self, inp: ScoreInput, config: DetectionConfig, rng: np.random.Generator) -> list[Shown]:
        test = draw_test(inp.samples.heldout_contexts(), config.selection, config.n_quantiles, config.per_level, rng)
        pos = [Shown(c, (), True, true_activation=c.max_activation) for c in test]
        return pos + negatives(inp, config.n_negatives, rng, replace=config.negatives_replace)
