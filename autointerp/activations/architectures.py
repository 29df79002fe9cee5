"""Where things live inside each supported transformers architecture.

One :class:`ArchSpec` per ``config.model_type``, in the ``ARCHITECTURES``
registry. Hook sites (``sites.py``) only ever go through these accessors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from torch import nn

from autointerp.registry import Registry


@dataclass(frozen=True)
class ModuleTap:
    """A module plus which side of it carries the activation."""

    module: nn.Module
    side: Literal["input", "output"]  # "input": first positional arg of forward; "output": its (first) output


@dataclass(frozen=True)
class ArchSpec:
    """Accessors for one architecture; every callable takes the *base* model (``model.base_model``) or a block."""

    blocks: Callable[[nn.Module], Sequence[nn.Module]]  # the transformer blocks, in order
    mlp: Callable[[nn.Module], ModuleTap]  # block -> where the MLP hidden activation (the neurons) is read
    attn_out: Callable[[nn.Module], ModuleTap]  # block -> where the attention output (before the residual add) is read
    d_mlp: Callable[[object], int]  # config -> width of the MLP hidden layer
    decoder: bool  # causal LM (has an unembedding) vs encoder


ARCHITECTURES: Registry[ArchSpec] = Registry("model architecture")

_LLAMA_LIKE = ArchSpec(
    blocks=lambda base: base.layers,
    mlp=lambda block: ModuleTap(block.mlp.down_proj, "input"),
    attn_out=lambda block: ModuleTap(block.self_attn.o_proj, "output"),
    d_mlp=lambda cfg: cfg.intermediate_size,
    decoder=True,
)
for _name in ("llama", "mistral", "qwen2", "qwen3"):
    ARCHITECTURES.add(_name, _LLAMA_LIKE)

ARCHITECTURES.add(
    "bert",
    ArchSpec(
        blocks=lambda base: base.encoder.layer,
        mlp=lambda block: ModuleTap(block.intermediate, "output"),  # after the activation function
        attn_out=lambda block: ModuleTap(block.attention.output.dense, "output"),  # before dropout/residual/LayerNorm
        d_mlp=lambda cfg: cfg.intermediate_size,
        decoder=False,
    ),
)

ARCHITECTURES.add(
    "gpt2",
    ArchSpec(
        blocks=lambda base: base.h,
        mlp=lambda block: ModuleTap(block.mlp.c_proj, "input"),
        attn_out=lambda block: ModuleTap(block.attn.c_proj, "output"),
        d_mlp=lambda cfg: cfg.n_inner or 4 * cfg.n_embd,
        decoder=True,
    ),
)
