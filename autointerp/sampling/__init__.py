"""The streaming sampler (work in progress: config first)."""

from autointerp.sampling.config import SamplerConfig

__all__ = ["SamplerConfig"]
