"""From a RunConfig to the unit bases of a run: SAE features and the neuron baseline, on the same footing.

Both are a :class:`~autointerp.activations.model_source.Basis` (a dictionary read
at a hook site); neurons are the identity dictionary, so they go through exactly
the code path features do. Errors name the config field they come from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from autointerp.activations.model_source import Basis
from autointerp.activations.models import SubjectModel
from autointerp.activations.sae import Dictionary, IdentityDict, check_width
from autointerp.activations.sae_formats import check_sae_site, load_sae
from autointerp.activations.sites import HookSite
from autointerp.dictionaries.output import residual_direction
from autointerp.errors import AutointerpError
from autointerp.judging.explain import LogitTokens
from autointerp.runs.config import RunConfig, select_units


@contextmanager
def field(name: str) -> Iterator[None]:
    """Re-raise a user error with the config field it concerns."""
    try:
        yield
    except AutointerpError as exc:
        if str(exc).startswith(f"field '{name}'"):
            raise
        raise type(exc)(f"field '{name}': {exc}") from None


@dataclass(frozen=True)
class RunBasis:
    """One basis of a run: its name (the UnitId.basis of its units), kind and what to read."""

    name: str  # e.g. 'sae:my_sae' or 'neurons:layers.6.mlp'
    kind: str  # 'feature' or 'neuron'
    basis: Basis  # site + dictionary + selected unit indices

    @property
    def unit_ids(self) -> tuple[int, ...]:
        return self.basis.units or ()


def build_bases(config: RunConfig, subject: SubjectModel, sae: Dictionary | None = None) -> list[RunBasis]:
    """Features (if an SAE is given) then neurons (if a neuron site is given), units selected with the run seed.

    ``sae``: the dictionary itself (in memory), read at ``sae_site`` instead of loading ``config.sae``."""
    out: list[RunBasis] = []
    if config.sae is not None:
        with field("sae_site"):
            site = HookSite.parse(config.sae_site).validate(subject)
            width = site.width(subject)
        with field("sae"):
            if sae is None:
                sae = load_sae(config.sae, None if config.sae_format == "auto" else config.sae_format)
            check_width(sae, width, str(site))
            check_sae_site(sae, str(site), model_type=subject.arch, allow_mismatch=config.sae_site_override)
        units = select_units(config.features, sae.d_sae, config.seed, "features")
        name = f"sae:{Path(config.sae).name}"
        out.append(RunBasis(name, "feature", Basis(site, sae, tuple(units))))
    if config.neuron_site is not None:
        with field("neuron_site"):
            site = HookSite.parse(config.neuron_site).validate(subject)
            width = site.width(subject)
        units = select_units(config.neurons, width, config.seed + 1, "neurons")
        out.append(RunBasis(f"neurons:{site}", "neuron", Basis(site, IdentityDict(width), tuple(units))))
    return out


def logit_tokens(subject: SubjectModel, rb: RunBasis, unit: int, n: int) -> LogitTokens | None:
    """Tokens whose logits the unit's direction raises / lowers most (direct path through the unembedding)."""
    if n <= 0 or subject.unembed is None:
        return None
    with torch.no_grad():
        vec = residual_direction(subject, rb.basis.site, rb.basis.dictionary, unit)
        if vec is None or vec.shape[-1] != subject.unembed.shape[0]:
            return None
        logits = vec.float() @ subject.unembed.float()
        tok = subject.tokenizer

        def names(ids: torch.Tensor) -> tuple[str, ...]:
            return tuple(tok.decode([int(i)]) for i in ids)

        return LogitTokens(promoted=names(logits.topk(n).indices), suppressed=names((-logits).topk(n).indices))
