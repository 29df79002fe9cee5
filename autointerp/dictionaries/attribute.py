"""Context ablation: which earlier tokens make a unit fire at its max token.

For one context (token ids) and the position ``m`` where the unit peaks, every
token that can influence position ``m`` is ablated in turn — every earlier token
for a decoder; every other token for an encoder — either *replaced* by a neutral
token or *removed* (the peak then sits one position earlier). The original and
all its ablations run as ONE batched forward pass (right-padded, masked), and
the attribution of token ``j`` is the drop of the unit's activation at its max
token: ``act(original) - act(without j)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from autointerp.activations.model_source import Basis, MultiSource
from autointerp.activations.models import SubjectModel
from autointerp.activations.source import TokenWindow
from autointerp.errors import ConfigError
from autointerp.types import Frozen

AblationMode = Literal["replace", "remove"]


class AttributeConfig(Frozen):
    """How tokens are ablated."""

    mode: AblationMode = Field(default="replace", description="'replace' with a neutral token, or 'remove' it.")
    neutral: str = Field(default=" the", description="Text of the neutral token (must be exactly one token).")
    n_contexts: int = Field(default=8, ge=1, description="Top contexts of the unit to attribute, strongest first.")


class TokenAttribution(Frozen):
    """The effect of ablating one token of a context."""

    position: int = Field(description="Index of the ablated token in the context.")
    token: str = Field(description="Its text.")
    activation: float = Field(description="The unit's activation at its max token with this token ablated.")
    drop: float = Field(description="Original activation minus the ablated one (> 0: the token helps the unit fire).")


class ContextAttribution(Frozen):
    """All single-token ablations of one context."""

    context_id: str
    window_index: int
    tokens: tuple[str, ...] = Field(description="Token texts of the context, up to the max token for decoders.")
    max_position: int = Field(description="Position of the unit's max token.")
    activation: float = Field(description="The unit's activation at the max token, unablated (recomputed).")
    tokens_attributed: tuple[TokenAttribution, ...] = Field(description="One entry per ablated position, in order.")

    def top(self) -> TokenAttribution | None:
        return max(self.tokens_attributed, key=lambda t: t.drop, default=None)


def neutral_token_id(tokenizer, text: str) -> int:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ConfigError(f"neutral token {text!r} is {len(ids)} tokens for this tokenizer; give text of exactly one")
    return int(ids[0])


def ablated_windows(
    ids: Sequence[int], m: int, mode: AblationMode, neutral_id: int, positions: Sequence[int]
) -> tuple[list[tuple[int, ...]], list[int]]:
    """The original and one ablated copy per position, with the max token's position in each."""
    seqs, peaks = [tuple(ids)], [m]
    for j in positions:
        if mode == "replace":
            seqs.append(tuple(neutral_id if k == j else t for k, t in enumerate(ids)))
            peaks.append(m)
        else:
            seqs.append(tuple(t for k, t in enumerate(ids) if k != j))
            peaks.append(m - 1 if j < m else m)
    return seqs, peaks


def attribute_context(
    subject: SubjectModel,
    basis: Basis,
    unit: int,
    token_ids: Sequence[int],
    token_texts: Sequence[str],
    config: AttributeConfig,
    *,
    context_id: str = "",
    window_index: int = 0,
    max_position: int | None = None,
) -> ContextAttribution:
    """Ablate each token that can reach the unit's max token, all in one batched forward pass."""
    if len(token_ids) != len(token_texts):
        raise ValueError("token_ids and token_texts differ in length")
    source = MultiSource(subject, [Basis(basis.site, basis.dictionary, (int(unit),))])
    if max_position is None:
        (batch,) = next(source.batches([TokenWindow(index=0, doc_id="", token_ids=tuple(token_ids))], 1))
        max_position = int(batch.dense()[0, : len(token_ids), 0].argmax())
    m = int(max_position)
    if subject.is_decoder:  # later tokens cannot reach position m
        token_ids, token_texts = token_ids[: m + 1], token_texts[: m + 1]
        positions = list(range(m))
    else:
        positions = [j for j in range(len(token_ids)) if j != m]
    neutral = neutral_token_id(subject.tokenizer, config.neutral)
    seqs, peaks = ablated_windows(token_ids, m, config.mode, neutral, positions)
    windows = [TokenWindow(index=i, doc_id="", token_ids=s) for i, s in enumerate(seqs)]
    (batch,) = next(source.batches(windows, len(windows)))  # one forward for the context and all its ablations
    dense = batch.dense()
    acts = [float(dense[row, peak, 0]) for row, peak in enumerate(peaks)]
    base = acts[0]
    return ContextAttribution(
        context_id=context_id,
        window_index=window_index,
        tokens=tuple(token_texts),
        max_position=m,
        activation=base,
        tokens_attributed=tuple(
            TokenAttribution(position=j, token=token_texts[j], activation=a, drop=base - a)
            for j, a in zip(positions, acts[1:])
        ),
    )
