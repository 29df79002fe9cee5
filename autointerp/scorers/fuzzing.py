"""Fuzzing (delphi): are the marked tokens of each excerpt the ones the description is about?

Three variants (``variant``):

* ``ours`` (default): every shown context activates the unit (``per_level`` per activation level, held out). A
  seeded half mark the tokens where the unit fires (activation >= ``threshold`` x the context's max: label yes);
  the other half mark as many tokens chosen at random among those where it is silent (label no); the number of
  wrong marks is the rounded-up mean number of right marks.
* ``default`` (delphi's default): the activating test contexts with their right marks (label yes) and
  ``n_negatives`` non-activating windows with wrong marks (label no).
* ``active`` (delphi's ``active``): every activating test context twice, once with its right marks (yes) and
  once with wrong marks (no).

In both delphi variants the number of wrong marks is the rounded-up mean number of firing tokens (activation > 0)
per test context; they go on tokens at or below ``threshold`` x the context's max (every token of a
non-activating window), chosen as delphi chooses them (:func:`delphi_wrong_marks`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from autointerp.scorers.base import ScoreInput, register
from autointerp.scorers.classifier import ClassifierConfig, ClassifierScorer, draw_test
from autointerp.scorers.detection import negatives
from autointerp.scorers.judging import Shown
from autointerp.types import Context

DELPHI_MARK_SEED = 22  # delphi re-seeds Python's generator with 22 before every wrong marking


class FuzzingConfig(ClassifierConfig):
    """Parameters of the fuzzing scorer."""

    threshold: float = Field(default=0.3, gt=0, le=1, description="Marked: tokens >= threshold x the context's max.")
    variant: Literal["ours", "default", "active"] = Field(
        default="ours",
        description="'ours': a seeded half of the activating contexts wrongly marked; delphi's 'default': "
        "activating contexts rightly marked plus non-activating windows wrongly marked; delphi's 'active': every "
        "activating context shown twice, rightly and wrongly marked.",
    )
    n_negatives: int = Field(default=10, ge=0, description="Non-activating windows shown (variant 'default' only).")


def active_positions(c: Context, threshold: float) -> tuple[int, ...]:
    top = c.max_activation
    return tuple(i for i, a in enumerate(c.activations) if top > 0 and a >= threshold * top)


def n_wrong_marks(contexts: Sequence[Context]) -> int:
    """delphi's count of wrong marks: the rounded-up mean number of firing tokens (activation > 0) per context."""
    return math.ceil(sum(sum(1 for a in c.activations if a > 0) for c in contexts) / len(contexts))


def delphi_wrong_marks(activations: Sequence[float], n: int, threshold: float) -> tuple[int, ...]:
    """The n tokens delphi marks wrongly: positions at or below threshold x max (all, if the window is silent).

    delphi always takes position ``len - len // 4`` when it is eligible (where its centred windows put the
    activating token) and the rest with Python's generator re-seeded at 22, so the choice is a function of the
    eligible positions alone. With exactly one eligible token delphi shows a fixed placeholder sentence instead
    of the excerpt; we mark that token.
    """
    top = max(activations, default=0.0)
    limit = threshold * top if top > 0 else 0.0
    eligible = [i for i, a in enumerate(activations) if (a if top > 0 else 0.0) <= limit]
    k = min(n, len(eligible))
    rng = random.Random(DELPHI_MARK_SEED)
    pos = len(activations) - len(activations) // 4
    if pos in eligible:
        rest = [i for i in eligible if i != pos]
        picked = [pos] + (rng.sample(rest, k - 1) if k > 1 else [])
    else:
        picked = rng.sample(eligible, k)
    return tuple(sorted(picked))


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
        contexts = draw_test(inp.samples.heldout_contexts(), config.selection, config.n_quantiles, config.per_level, rng)
        if not contexts:
            return []
        if config.variant != "ours":
            return self._delphi(inp, config, contexts, rng)
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

    @staticmethod
    def _delphi(inp: ScoreInput, config: FuzzingConfig, contexts: list[Context],
                rng: np.random.Generator) -> list[Shown]:
        n = n_wrong_marks(contexts)
        right = [Shown(c, active_positions(c, config.threshold), True, true_activation=c.max_activation)
                 for c in contexts]
        if config.variant == "active":
            wrong = [Shown(c, delphi_wrong_marks(c.activations, n, config.threshold), False,
                           true_activation=c.max_activation) for c in contexts]
        else:
            wrong = [Shown(s.context, delphi_wrong_marks([0.0] * len(s.context.tokens), n, config.threshold), False,
                           source=s.source)
                     for s in negatives(inp, config.n_negatives, rng, replace=config.negatives_replace)]
        return right + wrong
