"""The 0-3 specificity rubric (Scaling Monosemanticity) as a registered scorer; the stage is autointerp.rubric."""

from __future__ import annotations

import math

from autointerp.backends.base import Backend
from autointerp.rubric import RubricConfig, score_specificity
from autointerp.scorers.base import ScoreInput, Scorer, register
from autointerp.scorers.records import Metric, ScoreSummary
from autointerp.types import Record, RubricResult


def _mean(xs: list[int]) -> float | None:
    return sum(xs) / len(xs) if xs else None


@register
class Specificity(Scorer):
    name = "specificity"
    description = "0-3 rubric of how precisely the explanation picks out highlighted held-out tokens, every level"
    reference = "Templeton et al. 2024, 'Scaling Monosemanticity' (specificity rubric)"
    stage = "rubric"
    config_field = "rubric"

    async def score(self, inp: ScoreInput, backend: Backend | None, config: RubricConfig, seed: int) -> Record:
        assert backend is not None
        return await score_specificity(inp.samples, inp.explanation_or_missing(), backend, config, seed)

    def summarise(self, record: Record) -> ScoreSummary:
        assert isinstance(record, RubricResult)
        act, rand = record.scores_of(random=False), record.scores_of(random=True)
        mean = record.mean_score
        metrics = (
            Metric(name="mean_score", value=None if math.isnan(mean) else mean, n=len(act) + len(rand)),
            Metric(name="mean_score_activating", value=_mean(act), n=len(act)),
            Metric(name="mean_score_random", value=_mean(rand), n=len(rand)),
        )
        return ScoreSummary(unit=record.unit, scorer=self.name, ok=record.ok, error=record.error,
                            primary="mean_score", metrics=metrics, seed=record.provenance.seed)
