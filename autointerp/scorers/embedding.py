"""Embedding score: how much closer the explanation sits to activating contexts than to silent ones.

A real sentence-embedding model (default the packaged ``minilm-l6``: sentence-transformers'
all-MiniLM-L6-v2, mean pooling over the attention mask, then L2 normalisation) embeds the
explanation and every held-out context; the score is the AUROC of cosine similarity for activating
contexts (``per_level`` per activation level) against non-activating ones (random windows, or with
``negatives: neighbours`` other units' nearest contexts where this unit is silent). No LLM.
"""

from __future__ import annotations

import asyncio
import threading
from functools import lru_cache

import numpy as np
import torch
from pydantic import ConfigDict, Field

from autointerp.backends.base import Backend
from autointerp.judging import render
from autointerp.judging.prompts import config_hash
from autointerp.scorers import metrics
from autointerp.scorers.base import ScoreInput, Scorer, register, too_rare
from autointerp.scorers.classifier import ContextSelection, draw_test
from autointerp.scorers.detection import negatives
from autointerp.scorers.records import ScoreItem, ScoreResult
from autointerp.types import Context, Provenance

SALT = 404


class EmbeddingConfig(ContextSelection):
    """Parameters of the embedding scorer."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str = Field(default="minilm-l6", description="Sentence-embedding model: packaged name or a BERT-like folder.")
    per_level: int = Field(default=3, ge=0, description="Held-out activating contexts per activation level.")
    n_negatives: int = Field(default=10, ge=0, description="Non-activating contexts.")
    span: int | None = Field(
        default=None,
        ge=1,
        description="Embed only this many tokens of each context: around the max-activating token, or a seeded "
        "window of a non-activating one (None: the whole context, as delphi).",
    )
    batch_size: int = Field(default=32, ge=1, description="Texts per forward pass.")
    query_prefix: str = Field(
        default="", description="Text put before the explanation when it is embedded (delphi: an instruction to the "
        "embedding model to retrieve related sentences).")
    negatives_replace: bool = Field(
        default=False, description="Draw the non-activating windows with replacement (delphi: a window may repeat).")


class Embedder:
    """Mean-pooled, L2-normalised sentence embeddings from a transformers encoder (thread-safe)."""

    def __init__(self, model: str):
        from autointerp.activations.models import load_subject

        self.name = model
        self.subject = load_subject(model)
        self.lock = threading.Lock()

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        tok, base = self.subject.tokenizer, self.subject.base
        out = []
        with self.lock:
            for i in range(0, len(texts), batch_size):
                enc = tok(texts[i : i + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt")
                enc = {k: v.to(self.subject.device) for k, v in enc.items()}
                hidden = base(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


@lru_cache(maxsize=2)
def embedder(model: str) -> Embedder:
    return Embedder(model)


def context_text(tokens) -> str:
    return "".join(render.clean_token(t) for t in tokens).strip()


def span_of(c: Context, span: int | None, rng: np.random.Generator) -> tuple[str, ...]:
    """The tokens embedded: all, or ``span`` around the max-activating token (a seeded window if none fires)."""
    if span is None or len(c.tokens) <= span:
        return c.tokens
    last = len(c.tokens) - span
    start = min(max(c.argmax - span // 2, 0), last) if c.max_activation > 0 else int(rng.integers(last + 1))
    return c.tokens[start : start + span]


@register
class Embedding(Scorer):
    name = "embedding"
    description = "explanation-context cosine similarity with a sentence-embedding model (AUROC); no LLM"
    reference = "Paulo et al. 2024 (delphi embedding scorer); all-MiniLM-L6-v2 (Reimers & Gurevych 2019)"
    stage = "embedding"
    config_field = "embedding"
    uses_llm = False

    def wants_foreign(self, negatives: str) -> bool:
        return negatives == "neighbours"

    async def score(self, inp: ScoreInput, backend: Backend | None, config: EmbeddingConfig, seed: int) -> ScoreResult:
        prov = Provenance(backend="embedding", model=config.model, prompt_id="", prompt_version="", prompt_hash="",
                          config_hash=config_hash(config), seed=seed)
        base = {"unit": inp.samples.unit, "scorer": self.name, "primary": "auroc", "provenance": prov}
        text = inp.explanation_text
        if text is None:
            return ScoreResult(ok=False, error="no explanation to score", **base)
        rare = too_rare(inp, config.min_active_windows)
        if rare:
            return ScoreResult(ok=False, error=rare, explanation=text, **base)
        rng = np.random.default_rng([seed, inp.samples.unit.index, SALT])
        pos = draw_test(inp.samples.heldout_contexts(), config.selection, config.n_quantiles, config.per_level, rng)
        neg = negatives(inp, config.n_negatives, rng, replace=config.negatives_replace)
        if not pos or not neg:
            return ScoreResult(ok=False, error="needs activating and non-activating held-out contexts",
                               explanation=text, **base)
        shown = [(c, True, "self") for c in pos] + [(s.context, False, s.source) for s in neg]
        model = embedder(config.model)
        texts = [context_text(span_of(c, config.span, rng)) for c, _, _ in shown]
        vecs = await asyncio.to_thread(model.encode, [config.query_prefix + text] + texts,
                                       config.batch_size)
        sims = vecs[1:] @ vecs[0]
        items = tuple(
            ScoreItem(item_id=f"e{k}", context_ids=(c.context_id,), kind=c.kind, level=c.level,
                      true_activation=max(c.max_activation, 0.0), source=src, label=label, score=float(s))
            for k, ((c, label, src), s) in enumerate(zip(shown, sims), 1)
        )
        return ScoreResult(ok=True, explanation=text, metrics=(metrics.auroc(items), *metrics.class_counts(items)),
                           items=items, **base)
