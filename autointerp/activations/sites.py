"""Readable hook sites and activation capture with an early stop.

Sites (``i`` is a block index, 0-based)::

    layers.{i}.resid_pre    input of block i (the residual stream before it; layer 0: the embeddings)
    layers.{i}.resid_post   output of block i (the residual stream after it)
    layers.{i}.mlp          MLP hidden activation = the neurons (input of down_proj for LLaMA,
                            output of ``intermediate`` after the activation function for BERT)
    layers.{i}.attn_out     what attention adds to the residual stream (after any post-norm)
    layers.{i}.mlp_in       what enters the MLP (after its pre-norm): a transcoder's input
    layers.{i}.mlp_out      what the MLP adds to the residual stream (after any post-norm): a transcoder's target

:func:`capture` runs the model on a batch and stops the forward pass as soon
as every requested site has been read: blocks above the deepest site never run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from autointerp.activations.architectures import ModuleTap
from autointerp.activations.models import SubjectModel
from autointerp.errors import ConfigError
from autointerp.registry import Registry


@dataclass(frozen=True)
class SiteKind:
    """One kind of hook site: where it is read and how wide it is."""

    tap: Callable[[SubjectModel, nn.Module], ModuleTap]  # (subject, block) -> module tap
    width: Callable[[SubjectModel], int]


SITE_KINDS: Registry[SiteKind] = Registry("hook site kind")
SITE_KINDS.add("resid_pre", SiteKind(lambda s, block: ModuleTap(block, "input"), lambda s: s.d_model))
SITE_KINDS.add("resid_post", SiteKind(lambda s, block: ModuleTap(block, "output"), lambda s: s.d_model))
SITE_KINDS.add("mlp", SiteKind(lambda s, block: s.spec.mlp(block), lambda s: s.d_mlp))
SITE_KINDS.add("attn_out", SiteKind(lambda s, block: s.spec.attn_out(block), lambda s: s.d_model))
SITE_KINDS.add("mlp_in", SiteKind(lambda s, block: s.spec.mlp_in(block), lambda s: s.d_model))
SITE_KINDS.add("mlp_out", SiteKind(lambda s, block: s.spec.mlp_out(block), lambda s: s.d_model))

_SITE_RE = re.compile(r"^layers\.(\d+)\.([a-z_]+)$")


def valid_sites(subject: SubjectModel) -> str:
    """Human-readable summary of the valid sites of a model, for error messages."""
    return f"layers.{{0..{subject.n_layers - 1}}}.{{{','.join(SITE_KINDS.names())}}}"


@dataclass(frozen=True, order=True)
class HookSite:
    """A parsed hook site such as ``layers.6.mlp``."""

    layer: int
    kind: str

    @classmethod
    def parse(cls, text: str) -> HookSite:
        m = _SITE_RE.match(str(text).strip())
        if not m:
            raise ConfigError(
                f"bad hook site {text!r}; expected 'layers.<i>.<kind>' with kind one of: "
                f"{', '.join(SITE_KINDS.names())}"
            )
        site = cls(int(m.group(1)), m.group(2))
        if site.kind not in SITE_KINDS:
            raise ConfigError(
                f"unknown kind {site.kind!r} in hook site {text!r}; expected one of: {', '.join(SITE_KINDS.names())}"
            )
        return site

    def __str__(self) -> str:
        return f"layers.{self.layer}.{self.kind}"

    def validate(self, subject: SubjectModel) -> HookSite:
        """Check the site exists in this model; return it."""
        if not 0 <= self.layer < subject.n_layers:
            raise ConfigError(
                f"hook site {self} is out of range for {subject.name} ({subject.n_layers} layers); "
                f"valid sites: {valid_sites(subject)}"
            )
        return self

    def width(self, subject: SubjectModel) -> int:
        """Number of dimensions of the activation at this site."""
        self.validate(subject)
        return SITE_KINDS.get(self.kind).width(subject)

    def tap(self, subject: SubjectModel) -> ModuleTap:
        block = subject.spec.blocks(subject.base)[self.validate(subject).layer]
        return SITE_KINDS.get(self.kind).tap(subject, block)


def as_site(site: HookSite | str) -> HookSite:
    return site if isinstance(site, HookSite) else HookSite.parse(site)


class _StopForward(Exception):
    """Raised from a hook once every requested site has been captured."""


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def capture(
    subject: SubjectModel,
    sites: Sequence[HookSite | str],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> dict[HookSite, torch.Tensor]:
    """Run ``subject`` on a batch and return ``{site: activation [B, T, width]}``, stopping after the last site."""
    parsed = [as_site(s).validate(subject) for s in sites]
    if not parsed:
        raise ConfigError("capture needs at least one hook site")
    wanted = set(parsed)
    out: dict[HookSite, torch.Tensor] = {}
    handles = []

    def make_hook(site: HookSite, side: str):
        def record(value):
            out[site] = _first(value).detach()
            if len(out) == len(wanted):
                raise _StopForward

        if side == "input":  # blocks may get hidden_states as a keyword argument
            return lambda module, args, kwargs: record(args if args else kwargs["hidden_states"])
        return lambda module, args, output: record(output)

    try:
        for site in wanted:
            tap = site.tap(subject)
            hook = make_hook(site, tap.side)
            if tap.side == "input":
                handles.append(tap.module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(tap.module.register_forward_hook(hook))
        device = subject.device
        kwargs = {"input_ids": input_ids.to(device)}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(device)
        try:
            with torch.inference_mode():
                subject.base(**kwargs, use_cache=False) if subject.is_decoder else subject.base(**kwargs)
        except _StopForward:
            pass
    finally:
        for h in handles:
            h.remove()
    missing = wanted - out.keys()
    if missing:
        raise RuntimeError(f"hook sites never fired: {sorted(map(str, missing))}")
    return {site: out[site] for site in parsed}
