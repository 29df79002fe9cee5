"""The 0-3 specificity rubric (Scaling Monosemanticity) as a registered scorer; the stage is autointerp.rubric."""

from __future__ import annotations

import math

from autointerp.backends.base import Backend
from autointerp.rubric import RubricConfig, score_specificity
from autointerp.scorers.base import ScoreInput, Scorer, register
from autointerp.scorers.records import Metric, ScoreSummary
from autointerp.types import Explanation, Provenance, Record, RubricResult


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
        exp = inp.explanation or Explanation(
            unit=inp.samples.unit, ok=False, error="no explanation",
            provenance=Provenance(backend="", model="", prompt_id="", prompt_version="", prompt_hash=""),
        )
        return await score_specificity(inp.samples, exp, backend, config, seed)

    def summarise(self, record: Record) -> ScoreSummary:
        assert isinstance(record, RubricResult)
        ok = [j for j in record.judgements if j.ok and j.score is not None]
        act = [j.score for j in ok if j.level >= 0]
        non = [j.score for j in ok if j.level < 0]
        mean = record.mean_score
        metrics = (
            Metric(name="mean_score", value=None if math.isnan(mean) else mean, n=len(ok)),
            Metric(name="mean_score_activating", value=_mean(act), n=len(act)),
            Metric(name="mean_score_nonactivating", value=_mean(non), n=len(non)),
        )
        return ScoreSummary(unit=record.unit, scorer=self.name, ok=record.ok, error=record.error,
                            primary="mean_score", metrics=metrics, seed=record.provenance.seed)
