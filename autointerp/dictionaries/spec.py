"""A dictionary named on the command line: an SAE checkpoint path, or ``neurons:MODEL@SITE``.

:func:`load_directions` turns either into unit-norm decoder and encoder directions
``[n_units, d_in]`` (rows), which is all compare-dicts needs. Neurons are the
identity dictionary, so both their directions are the standard basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autointerp.activations.sae import IdentityDict, SparseAutoencoder
from autointerp.activations.sae_formats import load_sae
from autointerp.errors import InputError

NEURON_PREFIX = "neurons:"


@dataclass(frozen=True)
class NeuronSpec:
    """``neurons:MODEL@SITE``: every dimension of a hook site of a subject model is a unit."""

    model: str
    """The subject model: a packaged name, a local folder or ``hf:REPO``."""
    site: str
    """The hook site whose dimensions are the units, e.g. ``layers.6.mlp``."""

    @classmethod
    def parse(cls, text: str) -> NeuronSpec:
        body = text[len(NEURON_PREFIX) :]
        model, sep, site = body.rpartition("@")
        if not sep or not model or not site:
            raise InputError(
                f"bad neuron basis {text!r}: expected 'neurons:MODEL@SITE', e.g. neurons:smollm2-135m@layers.6.mlp"
            )
        return cls(model, site)

    def width(self) -> int:
        from autointerp.activations.models import load_subject
        from autointerp.activations.sites import HookSite

        subject = load_subject(self.model)
        return HookSite.parse(self.site).width(subject)


def load_dictionary(spec: str, format: str | None = None) -> SparseAutoencoder | IdentityDict:
    """An SAE checkpoint (any supported format) or a neuron basis; errors name the spec."""
    if spec.startswith(NEURON_PREFIX):
        return IdentityDict(NeuronSpec.parse(spec).width())
    return load_sae(spec, None if format in (None, "auto") else format)


@dataclass
class Directions:
    """Unit-norm directions of one dictionary, one row per unit (``None`` when the checkpoint lacks them)."""

    name: str
    decoder: torch.Tensor | None  # [n_units, d_in]
    encoder: torch.Tensor | None  # [n_units, d_in]

    @property
    def n_units(self) -> int:
        return int(next(t for t in (self.decoder, self.encoder) if t is not None).shape[0])

    @property
    def d_in(self) -> int:
        return int(next(t for t in (self.decoder, self.encoder) if t is not None).shape[1])


def _unit_rows(rows: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm in place (float32; an all-zero row stays zero, so its cosine is 0)."""
    rows = rows.float()
    norms = rows.norm(dim=1, keepdim=True)
    return rows.div_(norms.clamp_min(1e-12))


def directions(dictionary: SparseAutoencoder | IdentityDict, name: str) -> Directions:
    """Decoder rows and encoder columns of a dictionary as unit-norm rows. The dictionary's own weight tensors
    are reused (and normalised in place) where possible, so a 65k-unit SAE is not held twice in memory."""
    if isinstance(dictionary, IdentityDict):
        eye = torch.eye(dictionary.d_in)
        return Directions(name, eye, eye)
    dec = None if dictionary.W_dec is None else _unit_rows(dictionary.W_dec)
    enc = _unit_rows(dictionary.W_enc.T.contiguous())
    dictionary.W_enc = None  # type: ignore[assignment]  # the transposed copy replaces it
    return Directions(name, dec, enc)


def load_directions(spec: str, format: str | None = None) -> Directions:
    return directions(load_dictionary(spec, format), spec)
