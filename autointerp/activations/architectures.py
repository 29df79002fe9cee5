"""Where things live inside each supported transformers architecture.

One :class:`ArchSpec` per ``config.model_type``, in the ``ARCHITECTURES``
registry. Hook sites (``sites.py``) only ever go through these accessors.

Conventions, the same for every architecture:

- ``mlp``: the MLP hidden activation (the neurons), i.e. the input of the down projection (after the
  activation function and, for gated MLPs, the gate product).
- ``mlp_in`` / ``mlp_out``: what enters the MLP (after its pre-norm) and what the MLP adds to the residual
  stream (after any post-norm, e.g. Gemma 2/3's ``post_feedforward_layernorm``) — the pair a transcoder maps.
- ``attn_out``: what the attention sub-block adds to the residual stream (after any post-norm).
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
    side: Literal["input", "output"]  # "input": first positional arg (or hidden_states) of forward; "output": its output


Tap = Callable[[nn.Module], ModuleTap]  # block -> module tap


@dataclass(frozen=True)
class ArchSpec:
    """Accessors for one architecture; every callable takes the *base* model (``model.base_model``) or a block."""

    blocks: Callable[[nn.Module], Sequence[nn.Module]]  # the transformer blocks, in order
    mlp: Tap  # block -> the MLP hidden activation (the neurons)
    attn_out: Tap  # block -> what attention adds to the residual stream
    mlp_in: Tap  # block -> what enters the MLP (after its pre-norm)
    mlp_out: Tap  # block -> what the MLP adds to the residual stream
    d_mlp: Callable[[object], int]  # config -> width of the MLP hidden layer
    decoder: bool  # causal LM (has an unembedding) vs encoder


ARCHITECTURES: Registry[ArchSpec] = Registry("model architecture")


def _tap(path: str, side: Literal["input", "output"]) -> Tap:
    """``_tap("mlp.down_proj", "input")``: the block's sub-module at a dotted path."""

    def get(block: nn.Module) -> ModuleTap:
        return ModuleTap(block.get_submodule(path), side)

    return get


def _intermediate(cfg) -> int:
    return cfg.intermediate_size


def _decoder(
    *, attn: str, down: str, mlp: str = "mlp", post_attn: str | None = None, post_mlp: str | None = None
) -> ArchSpec:
    """A decoder-only model whose blocks live at ``base.layers``.

    ``post_attn`` / ``post_mlp`` name the norms applied to a sub-block's output before the residual add
    (Gemma 2/3, OLMo 2); without them the sub-block's projection output is what is added.
    """
    return ArchSpec(
        blocks=lambda base: base.layers,
        mlp=_tap(down, "input"),
        attn_out=_tap(post_attn, "output") if post_attn else _tap(attn, "output"),
        mlp_in=_tap(mlp, "input"),
        mlp_out=_tap(post_mlp, "output") if post_mlp else _tap(mlp, "output"),
        d_mlp=_intermediate,
        decoder=True,
    )


_LLAMA_LIKE = _decoder(attn="self_attn.o_proj", down="mlp.down_proj")
# llama, mistral, qwen2/3 and gemma (1) add o_proj / mlp outputs directly; phi3's gate_up_proj is fused, down_proj is not.
for _name in ("llama", "mistral", "qwen2", "qwen3", "gemma", "phi3"):
    ARCHITECTURES.add(_name, _LLAMA_LIKE)

# Gemma 2 / 3 normalise each sub-block's output (post_attention_layernorm, post_feedforward_layernorm) before the add.
_GEMMA2_LIKE = _decoder(
    attn="self_attn.o_proj",
    down="mlp.down_proj",
    post_attn="post_attention_layernorm",
    post_mlp="post_feedforward_layernorm",
)
for _name in ("gemma2", "gemma3_text"):
    ARCHITECTURES.add(_name, _GEMMA2_LIKE)
# OLMo 2 is post-norm only: the same two norms sit after attention and MLP (and there is no pre-norm).
ARCHITECTURES.add("olmo2", _GEMMA2_LIKE)

# GPT-NeoX (Pythia): parallel attention + MLP by default; each sub-block's output is added to the residual.
ARCHITECTURES.add("gpt_neox", _decoder(attn="attention.dense", down="mlp.dense_4h_to_h"))

ARCHITECTURES.add(
    "gpt2",
    ArchSpec(
        blocks=lambda base: base.h,
        mlp=_tap("mlp.c_proj", "input"),
        attn_out=_tap("attn.c_proj", "output"),
        mlp_in=_tap("mlp", "input"),
        mlp_out=_tap("mlp", "output"),
        d_mlp=lambda cfg: cfg.n_inner or 4 * cfg.n_embd,
        decoder=True,
    ),
)

ARCHITECTURES.add(
    "bert",
    ArchSpec(
        blocks=lambda base: base.encoder.layer,
        mlp=_tap("intermediate", "output"),  # after the activation function
        attn_out=_tap("attention.output.dense", "output"),  # before dropout/residual/LayerNorm
        mlp_in=_tap("intermediate", "input"),  # the attention sub-block's output after its LayerNorm
        mlp_out=_tap("output.dense", "output"),  # before dropout/residual/LayerNorm
        d_mlp=_intermediate,
        decoder=False,
    ),
)
