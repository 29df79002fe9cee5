"""Fuzzing (delphi, 'active' variant): are the marked tokens of each activating excerpt the ones described?

Every shown context activates the unit (``per_level`` per activation level, held out). A seeded half
mark the tokens where the unit fires (activation >= ``threshold`` x the context's max: label yes);
the other half mark as many tokens chosen at random among those where it is silent (label no);
the number of wrong marks is the rounded-up mean number of right marks, as in delphi.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from autointerp.scorers.base import ScoreInput, register
from autointerp.scorers.classifier import ClassifierConfig, ClassifierScorer, draw_per_level
from autointerp.scorers.judging import Shown
from autointerp.types import Context


class FuzzingConfig(ClassifierConfig):
    """Parameters of the fuzzing scorer."""

    threshold: float = Field(default=0.3, gt=0, le=1, description="Marked: tokens >= threshold x the context's max.")


def active_positions(c: Context, threshold: float) -> tuple[int, ...]:
    top = c.max_activation
    return tuple(i for i, a in enumerate(c.activations) if top > 0 and a >= threshold * top)


@register
class Fuzzing(ClassifierScorer):
    name = "fuzzing"
    description = "delphi fuzzing: judge says whether marked tokens are the activating ones (balanced acc., F1, AUROC)"
    reference = "Paulo et al. 2024, 'Automatically Interpreting Millions of Features in LLMs' (delphi)"
    stage = "fuzzing"
    config_field = "fuzzing"
    prompt_id = "fuzzing"
    salt = 202

    def select(self, inp: ScoreInput, config: FuzzingConfig, rng: np.random.Generator) -> list[Shown]:
        contexts = draw_per_level(inp.samples.heldout_contexts(), config.per_level, rng)
        if not contexts:
            return []
        right = [active_positions(c, config.threshold) for c in contexts]
        n_wrong = math.ceil(sum(map(len, right)) / len(right))
        wrong_half = set(rng.permutation(len(contexts))[: len(contexts) // 2].tolist())
        out = []
        for k, (c, marks) in enumerate(zip(contexts, right)):
            if k not in wrong_half:
                out.append(Shown(c, marks, True, true_activation=c.max_activation))
                continue
            silent = [i for i, a in enumerate(c.activations) if a <= 0]
            if not silent:  # the unit fires on every token: no wrong marks possible, show it correctly marked
                out.append(Shown(c, marks, True, true_activation=c.max_activation))
                continue
            pick = sorted(rng.choice(len(silent), size=min(n_wrong, len(silent)), replace=False).tolist())
            out.append(Shown(c, tuple(silent[i] for i in pick), False, true_activation=c.max_activation))
        return out
