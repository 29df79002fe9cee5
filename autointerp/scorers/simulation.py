"""The activation simulator (OpenAI's all-at-once score) as a registered scorer; the stage is autointerp.simulate."""

from __future__ import annotations

from autointerp.backends.base import Backend
from autointerp.scorers.base import ScoreInput, Scorer, register
from autointerp.scorers.records import Metric, ScoreSummary
from autointerp.simulate import SimulateConfig, simulate_unit
from autointerp.types import Record, Simulation


@register
class SimulationScorer(Scorer):
    name = "simulation"
    description = "simulate per-token activations from the explanation; Pearson r with the true ones (all at once)"
    reference = "Bills et al. 2023, 'Language models can explain neurons in language models'"
    stage = "simulate"
    config_field = "simulate"

    async def score(self, inp: ScoreInput, backend: Backend | None, config: SimulateConfig, seed: int) -> Record:
        assert backend is not None
        return await simulate_unit(inp.samples, inp.explanation_or_missing(), backend, config, seed)

    def summarise(self, record: Record) -> ScoreSummary:
        assert isinstance(record, Simulation)
        n = sum(len(c.true) for c in record.contexts)
        m = Metric(name="correlation", value=record.score, chance=0.0, n=n, note=record.score_note)
        return ScoreSummary(unit=record.unit, scorer=self.name, ok=record.ok, error=record.error,
                            primary="correlation", metrics=(m,), seed=record.provenance.seed)
