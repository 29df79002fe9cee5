"""Steering: the subject model with ``alpha x`` a unit's decoder direction added at its hook site.

* :func:`unit_direction` - what one unit writes at its site: ``decode(e_i) - decode(0)``
  (the decoder row of an SAE feature, the one-hot vector of a neuron).
* :func:`steering` - a context manager that adds a vector at a site, at every position
  (prompt and generated tokens alike), through a forward (pre-)hook.
* :func:`generate` - greedy continuations of several prompts in one left-padded batch.
* :func:`steer_unit` - steered and unsteered continuations of neutral prompts for one unit,
  with ``alpha = alpha_scale x`` the unit's typical activation (recorded in a :class:`SteeredSet`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources

import torch

from autointerp.activations.models import SubjectModel
from autointerp.activations.sae import Dictionary
from autointerp.activations.sites import HookSite
from autointerp.dictionaries.records import SteerConfig, SteeredSet
from autointerp.errors import ConfigError
from autointerp.types import UnitId


def unit_direction(dictionary: Dictionary, unit: int) -> torch.Tensor:
    """The vector unit ``unit`` adds to its site's activation per unit of activation."""
    if hasattr(dictionary, "write_direction"):  # decode's linear part, defined even when decode needs the input
        return dictionary.write_direction(int(unit)).detach().float().cpu()
    with torch.no_grad():
        one = torch.zeros(dictionary.d_sae)
        one[int(unit)] = 1.0
        return (dictionary.decode(one) - dictionary.decode(torch.zeros(dictionary.d_sae))).float()


def _add(value, vec: torch.Tensor):
    if isinstance(value, tuple):
        return (value[0] + vec.to(value[0].dtype), *value[1:])
    return value + vec.to(value.dtype)


@contextmanager
def steering(subject: SubjectModel, site: HookSite, vector: torch.Tensor | None) -> Iterator[None]:
    """Add ``vector`` to the activation at ``site`` (every position) while the block runs; ``None``: no change."""
    if vector is None:
        yield
        return
    tap = site.tap(subject)
    vec = vector.to(subject.device)
    if tap.side == "input":
        handle = tap.module.register_forward_pre_hook(lambda module, args: (_add(args[0], vec), *args[1:]))
    else:
        handle = tap.module.register_forward_hook(lambda module, args, output: _add(output, vec))
    try:
        yield
    finally:
        handle.remove()


def encode_batch(tokenizer, prompts: Sequence[str], side: str) -> dict:
    """Prompts as one padded batch (``side``: where the padding goes); a tokenizer without a pad token pads
    with its end-of-text token (masked out either way)."""
    saved = tokenizer.padding_side, tokenizer.pad_token
    tokenizer.padding_side = side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    try:
        return tokenizer(list(prompts), return_tensors="pt", padding=True)
    finally:
        tokenizer.padding_side, tokenizer.pad_token = saved


def generate(subject: SubjectModel, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    """Greedy continuations (text of the new tokens only), all prompts in one left-padded batch."""
    if not subject.is_decoder:
        raise ConfigError(f"steering needs a decoder (causal LM) subject model; {subject.name} is an encoder")
    tok = subject.tokenizer
    enc = encode_batch(tok, prompts, "left")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.inference_mode():
        out = subject.model.generate(
            input_ids=enc["input_ids"].to(subject.device),
            attention_mask=enc["attention_mask"].to(subject.device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
        )
    new = out[:, enc["input_ids"].shape[1] :]
    return [tok.decode(row, skip_special_tokens=True) for row in new]


@lru_cache(maxsize=1)
def neutral_prompts() -> tuple[str, ...]:
    """The packaged neutral prompts (autointerp/data/neutral_prompts.txt, one per line)."""
    text = resources.files("autointerp").joinpath("data", "neutral_prompts.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def steer_unit(
    subject: SubjectModel,
    site: HookSite,
    dictionary: Dictionary,
    unit: UnitId,
    typical_activation: float,
    config: SteerConfig,
    prompts: Sequence[str] | None = None,
) -> SteeredSet:
    """Continue the prompts with and without ``alpha x`` the unit's direction at its site."""
    prompts = list(prompts if prompts is not None else neutral_prompts()[: config.n_prompts])
    if not typical_activation > 0:
        return SteeredSet(
            unit=unit, site=str(site), typical_activation=float(typical_activation), alpha_scale=config.alpha_scale,
            alpha=0.0, prompts=tuple(prompts), steered=(), unsteered=(), ok=False,
            error="the unit never fired on the corpus: no typical activation to scale alpha by",
        )  # fmt: skip
    alpha = config.alpha_scale * float(typical_activation)
    unsteered = generate(subject, prompts, config.max_new_tokens)
    with steering(subject, site, alpha * unit_direction(dictionary, unit.index)):
        steered = generate(subject, prompts, config.max_new_tokens)
    return SteeredSet(
        unit=unit, site=str(site), typical_activation=float(typical_activation), alpha_scale=config.alpha_scale,
        alpha=alpha, prompts=tuple(prompts), steered=tuple(steered), unsteered=tuple(unsteered),
    )  # fmt: skip
