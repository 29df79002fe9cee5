"""The streaming sampler: top-k, activation-level bins, random negatives, split and statistics per unit.

``sample(source, windows, config, basis=..., unit_ids=...) -> SampleSet`` runs
one pass; :class:`SamplerState` is the mergeable streaming state behind it and
:func:`finalize` turns it into a sample set
(design notes in :mod:`autointerp.sampling.state`); :class:`SampleSet` saves,
reloads and serves ``UnitSamples``.

May import: activations and the shared records; never backends, judging or anything above.
"""

from autointerp.sampling.config import SamplerConfig
from autointerp.sampling.finalize import finalize
from autointerp.sampling.sampleset import SampleSet
from autointerp.sampling.state import SamplerState
from autointerp.sampling.stream import run_pass, sample
from autointerp.sampling.tokens import TokenDecoder

__all__ = ["SampleSet", "SamplerConfig", "SamplerState", "TokenDecoder", "finalize", "run_pass", "sample"]
