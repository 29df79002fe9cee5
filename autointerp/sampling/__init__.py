"""The streaming sampler: top-k, activation-level bins, random negatives, split and statistics per unit.

``sample(source, windows, config, basis=..., unit_ids=...) -> SampleSet`` runs
one pass; :class:`SamplerState` is the mergeable streaming state behind it
(design notes in :mod:`autointerp.sampling.state`); :class:`SampleSet` saves,
reloads and serves ``UnitSamples``.
"""

from autointerp.sampling.config import SamplerConfig
from autointerp.sampling.sampleset import SampleSet
from autointerp.sampling.state import SamplerState
from autointerp.sampling.stream import run_pass, sample
from autointerp.sampling.tokens import TokenDecoder

__all__ = ["SampleSet", "SamplerConfig", "SamplerState", "TokenDecoder", "run_pass", "sample"]
