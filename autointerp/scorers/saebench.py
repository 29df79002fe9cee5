"""SAEBench's autointerp scorer, so a number can be put beside SAEBench's leaderboard (and Neuronpedia's).

1. Explain: ``n_top_explain`` top documents + ``n_iw_explain`` importance-weighted ones, strongest first, the tokens
   above ``act_threshold_frac`` x the largest activation in the top documents marked. One short sentence.
2. Score: ``n_top_score`` top + ``n_iw_score`` importance-weighted + ``n_random_score`` random documents, shuffled.
   The judge lists the numbers it believes active. A top or importance-weighted document is active if any of its
   tokens exceeds the threshold; a random document is inactive by construction (SAEBench never looks at its
   activations; its true activation is kept in the item). Score = fraction of documents classified correctly;
   answering "None" scores the fraction of inactive documents, the unit's chance floor.

Documents (``buffer``): with a buffer ``b`` (SAEBench: 10) a document is the ``2b + 1`` tokens centred on one token
of a sampled window: the top documents are the largest token activations at least ``b`` from a window's ends, no two
in one window within ``b`` of each other; importance-weighted ones are tokens below the smallest top activation,
drawn without replacement with probability proportional to ``activation ** iw_power`` (SAEBench: 2) times the
corpus-to-sample ratio of their activation's histogram bin (the sampler keeps windows per level, SAEBench sees every
token: the ratio gives each activation level its corpus weight); random documents are a random token of a random
window, drawn anew for every unit. Without a buffer (ours) a document is a whole window, represented by its
strongest token.

Splits (``split``): ``random`` (SAEBench) pools both splits' windows and cuts the top and importance-weighted
documents at random into the explainer's and the judge's; ``heldout`` (ours) takes the explainer's documents from
the explain split and the judge's from the held-out split (in each, the strongest as top documents and weighted ones
below them).

Answers are read as SAEBench reads them (:func:`read_answer`): numbers separated by commas or "and", "None" for
none; numbers outside 1..n are ignored; any other answer is unreadable, and the unit is dropped from the mean
(a failed record saying so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.errors import BackendError, BudgetExceeded
from autointerp.judging import render
from autointerp.judging.answers import Indices
from autointerp.judging.prompts import PromptSpec, ask, build_request, load_prompt, provenance
from autointerp.scorers.base import PlannedCall, ScoreInput, Scorer, ScorerConfig, register
from autointerp.scorers.records import Metric, ScoreItem, ScoreResult
from autointerp.types import Context, UnitSamples, UnitStats, Usage

SALT = 303
DROPPED = "unreadable answer, dropped from the mean as SAEBench drops it"


class SaebenchConfig(ScorerConfig):
    """SAEBench autointerp settings (defaults: ours; ``protocol: saebench`` sets SAEBench's)."""

    explain_prompt: str = Field(default="saebench-explain", description="Prompt file of the explainer step.")
    prompt: str = Field(default="saebench", description="Prompt file of the scoring step.")
    n_top_explain: int = Field(default=10, ge=1, description="Top documents shown to the explainer.")
    n_iw_explain: int = Field(default=5, ge=0, description="Importance-weighted documents shown to the explainer.")
    n_top_score: int = Field(default=2, ge=0, description="Top documents in the scoring set.")
    n_iw_score: int = Field(default=2, ge=0, description="Importance-weighted documents in the scoring set.")
    n_random_score: int = Field(default=10, ge=0, description="Random documents in the scoring set (inactive).")
    act_threshold_frac: float = Field(
        default=0.01, ge=0, lt=1, description="A token is active above this fraction of the top documents' max.")
    explain_max_tokens: int = Field(default=60, ge=8, description="Answer limit of the explainer step.")
    answer_max_tokens: int | None = Field(
        default=None, ge=1, description="Answer limit of the scoring step (none: 4 per document + 8).")
    buffer: int | None = Field(
        default=None, ge=1, description="Documents are the 2*buffer+1 tokens centred on their token (SAEBench: 10); "
        "none: the sampler's whole window.")
    iw_power: float = Field(default=1.0, gt=0, description="Importance weights are activation ** iw_power "
                            "(SAEBench: 2).")
    split: Literal["heldout", "random"] = Field(
        default="heldout", description="'heldout': explainer documents from the explain split, scored ones from the "
        "held-out split; 'random' (SAEBench): both splits pooled, top and weighted documents cut at random.")
    min_firings: int = Field(
        default=0, ge=0, description="Units active on at most this many tokens are not scored (SAEBench: 15).")


# -- documents ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    """One document: tokens start..end of a context, chosen for its token ``centre``."""

    context: Context
    centre: int
    start: int
    end: int
    group: Literal["top", "iw", "random"]

    @property
    def activations(self) -> tuple[float, ...]:
        return self.context.activations[self.start : self.end]

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.context.tokens[self.start : self.end]

    @property
    def ref(self) -> str:
        c = self.context
        whole = self.start == 0 and self.end == len(c.tokens)
        return c.context_id if whole else f"{c.context_id}[{self.start}:{self.end}]"

    def active(self, threshold: float) -> bool:
        return any(a > threshold for a in self.activations)


def candidates(row: Sequence[float], buffer: int | None) -> list[int]:
    """Token positions a document may be centred on: ``buffer`` from either end, or the window's strongest token."""
    if buffer is None:
        return [int(np.argmax(row))] if len(row) else []
    return list(range(buffer, len(row) - buffer))


def span(length: int, centre: int, buffer: int | None) -> tuple[int, int]:
    return (0, length) if buffer is None else (centre - buffer, centre + buffer + 1)


def top_positions(rows: Sequence[Sequence[float]], k: int, buffer: int | None) -> list[tuple[int, int]]:
    """The k (row, token) positions of largest activation, largest first; no two in one row within ``buffer``."""
    cand = [(r, c) for r, row in enumerate(rows) for c in candidates(row, buffer)]
    if not cand:
        return []
    values = np.array([rows[r][c] for r, c in cand], dtype=float)
    order = np.argsort(-values, kind="stable")
    chosen: list[tuple[int, int]] = []
    taken: set[tuple[int, int]] = set()
    reach = buffer or 0
    for i in order:
        r, c = cand[i]
        if (r, c) in taken:
            continue
        chosen.append((r, c))
        taken.update((r, c + o) for o in range(-reach, reach + 1))
        if len(chosen) == k:
            break
    return chosen


def iw_weights(
    rows: Sequence[Sequence[float]], below: float, buffer: int | None, power: float,
    factor: Sequence[Sequence[float]] | None = None,
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Candidate (row, token) positions of importance-weighted documents and their unnormalised weights:
    ``activation ** power`` (times ``factor``) for activations below ``below``, 0 at or above it."""
    pos, w = [], []
    for r, row in enumerate(rows):
        for c in candidates(row, buffer):
            a = max(float(row[c]), 0.0)
            pos.append((r, c))
            w.append(0.0 if a >= below else a**power * (1.0 if factor is None else factor[r][c]))
    return pos, np.array(w, dtype=float)


def corpus_factors(stats: UnitStats, rows: Sequence[Sequence[float]]) -> list[list[float]]:
    """Per token: corpus tokens / sampled tokens in its activation-histogram bin (1 where either is unknown)."""
    edges, counts = np.asarray(stats.histogram_edges, float), np.asarray(stats.histogram_counts, float)
    if len(edges) < 2 or not len(counts):
        return [[1.0] * len(row) for row in rows]
    width = edges[1] - edges[0]

    def bin_of(a: float) -> int:
        return min(int(a / width), len(counts) - 1)

    seen = np.zeros(len(counts))
    for row in rows:
        for a in row:
            if a > 0:
                seen[bin_of(a)] += 1
    ratio = np.divide(counts, seen, out=np.ones_like(counts), where=seen > 0)
    return [[float(ratio[bin_of(a)]) if a > 0 else 1.0 for a in row] for row in rows]


@dataclass(frozen=True)
class Pool:
    """What one pool of windows gives: its top and importance-weighted documents, largest top first."""

    top: list[Doc]
    iw: list[Doc]
    error: str | None = None


def pool_docs(contexts: Sequence[Context], stats: UnitStats, n_top: int, n_iw: int, config: SaebenchConfig,
              rng: np.random.Generator) -> Pool:
    """Top and importance-weighted documents of one pool of activating windows."""
    rows = [c.activations for c in contexts]
    b = config.buffer
    top = [(r, c) for r, c in top_positions(rows, n_top, b) if rows[r][c] > 0]
    if not top:
        return Pool([], [], "no activating windows")
    docs = [Doc(contexts[r], c, *span(len(rows[r]), c, b), "top") for r, c in top]
    below = min(rows[r][c] for r, c in top)
    factor = corpus_factors(stats, rows) if b is not None else None
    pos, w = iw_weights(rows, below, b, config.iw_power, factor)
    below_top = [a if (a := max(float(rows[r][c]), 0.0)) < below else 0.0 for r, c in pos]
    if n_iw and b is not None and max(below_top, default=0.0) < 1e-6:  # (whole windows: fewer documents)
        return Pool(docs, [], "no importance-weighted documents below the top ones (SAEBench skips such a unit)")
    k = min(n_iw, int((w > 0).sum()))
    picked = rng.choice(len(w), size=k, replace=False, p=w / w.sum()).tolist() if k else []
    iw = [Doc(contexts[pos[i][0]], pos[i][1], *span(len(rows[pos[i][0]]), pos[i][1], b), "iw") for i in picked]
    return Pool(docs, iw)


def random_docs(contexts: Sequence[Context], n: int, buffer: int | None, rng: np.random.Generator) -> list[Doc]:
    """n random documents: a random token of a window drawn with replacement (buffer), or n distinct windows."""
    if buffer is None:
        idx = rng.choice(len(contexts), size=min(n, len(contexts)), replace=False).tolist() if contexts else []
        return [Doc(contexts[i], 0, 0, len(contexts[i].tokens), "random") for i in sorted(idx)]
    usable = [c for c in contexts if len(c.tokens) >= 2 * buffer + 1]
    if not usable:
        return []
    rows = rng.integers(0, len(usable), size=n)
    out = []
    for r in rows.tolist():
        centre = int(rng.integers(buffer, len(usable[r].tokens) - buffer))
        out.append(Doc(usable[r], centre, *span(len(usable[r].tokens), centre, buffer), "random"))
    return out


@dataclass(frozen=True)
class Draw:
    """Every seeded choice for one unit: the explainer's documents, the judge's (shuffled), the threshold."""

    explain: list[Doc]
    score: list[Doc]
    threshold: float
    example: list[int]
    error: str | None = None


def _activating(contexts: Sequence[Context]) -> list[Context]:
    """Windows of the top and level samples, each once."""
    seen: dict[int, Context] = {}
    for c in contexts:
        if c.kind != "random" and c.tokens and c.window_index not in seen:
            seen[c.window_index] = c
    return list(seen.values())


def draw(samples: UnitSamples, config: SaebenchConfig, seed: int) -> Draw:
    """The documents of one unit, in a fixed order of seeded choices (pools, splits, randoms, shuffle, example)."""
    rng = np.random.default_rng([seed, samples.unit.index, SALT])
    if samples.stats.n_active_tokens <= config.min_firings:
        return Draw([], [], 0.0, [], f"fired on {samples.stats.n_active_tokens} tokens, not more than "
                    f"min_firings={config.min_firings}: not scored (as SAEBench)")
    n_top, n_iw = config.n_top_explain + config.n_top_score, config.n_iw_explain + config.n_iw_score
    if config.split == "random":
        pool = pool_docs(_activating(samples.explain + samples.heldout), samples.stats, n_top, n_iw, config, rng)
        if pool.error:
            return Draw([], [], 0.0, [], pool.error)
        pt, pi = rng.permutation(len(pool.top)).tolist(), rng.permutation(len(pool.iw)).tolist()
        top_e, top_s = [pool.top[i] for i in pt[: config.n_top_explain]], [pool.top[i] for i in pt[config.n_top_explain:]]
        iw_e, iw_s = [pool.iw[i] for i in pi[: config.n_iw_explain]], [pool.iw[i] for i in pi[config.n_iw_explain:]]
        tops = pool.top
        randoms = [c for c in samples.explain + samples.heldout if c.kind == "random"]
    else:
        pe = pool_docs(_activating(samples.explain), samples.stats, config.n_top_explain, config.n_iw_explain,
                       config, rng)
        ph = pool_docs(_activating(samples.heldout), samples.stats, config.n_top_score, config.n_iw_score, config,
                       rng)
        if pe.error or ph.error:
            return Draw([], [], 0.0, [], pe.error or ph.error)
        top_e, iw_e, top_s, iw_s = pe.top, pe.iw, ph.top, ph.iw
        tops = pe.top + ph.top
        randoms = [c for c in samples.heldout if c.kind == "random"]
    threshold = config.act_threshold_frac * max(max(d.activations) for d in tops)
    explain = sorted(top_e + iw_e, key=lambda d: -max(d.activations))
    score = top_s + iw_s + random_docs(randoms, config.n_random_score, config.buffer, rng)
    score = [score[i] for i in rng.permutation(len(score)).tolist()]
    n_correct = min(config.n_top_score + config.n_iw_score, len(score))
    example = sorted(rng.choice(np.arange(1, len(score) + 1), size=n_correct, replace=False).tolist()) if score else []
    return Draw(explain, score, threshold, example)


# -- answers and scores ---------------------------------------------------------------------------------------


def read_answer(text: str) -> tuple[int, ...]:
    """The document numbers in a judge's answer, read as SAEBench reads them (the ``indices`` parser): numbers
    separated by commas or "and", "None" for none, anything else a :class:`ParseError`. Numbers outside the shown
    range are kept here and ignored by :func:`accuracy`."""
    return Indices().parse(text)


def accuracy(predicted: Sequence[int], labels: Sequence[bool]) -> float:
    """Fraction of documents 1..n classified correctly (listed = active); listed numbers outside 1..n are ignored."""
    listed = set(predicted)
    return sum((k in listed) == lab for k, lab in enumerate(labels, 1)) / len(labels)


@dataclass(frozen=True)
class Aggregate:
    """SAEBench's headline: mean (and sample std) over units with a score; units without one are dropped."""

    mean: float
    std: float
    n: int
    n_dropped: int


def aggregate(scores: Sequence[float | None]) -> Aggregate:
    kept = np.array([s for s in scores if s is not None], dtype=float)
    mean = float(kept.mean()) if len(kept) else float("nan")
    std = float(kept.std(ddof=1)) if len(kept) > 1 else float("nan")
    return Aggregate(mean=mean, std=std, n=len(kept), n_dropped=len(scores) - len(kept))


# -- requests -------------------------------------------------------------------------------------------------


def numbered(docs: Sequence[Doc], threshold: float | None) -> str:
    """'1. text' per document; tokens above the threshold marked (explainer step only)."""
    return "\n".join(
        f"{k}. {render.highlight(d.tokens, [] if threshold is None else [i for i, a in enumerate(d.activations) if a > threshold])}"
        for k, d in enumerate(docs, 1)
    )


def explain_request(spec: PromptSpec, d: Draw, config: SaebenchConfig) -> LLMRequest:
    user = spec.user_template.format(contexts=numbered(d.explain, d.threshold)).strip()
    return build_request(spec, [], user, max_tokens=config.explain_max_tokens, temperature=config.temperature)


def score_request(spec: PromptSpec, explanation: str, d: Draw, config: SaebenchConfig) -> LLMRequest:
    user = spec.user_template.format(
        explanation=render.safe_text(explanation), contexts=numbered(d.score, None), n_contexts=len(d.score),
        example_answer=", ".join(map(str, d.example)),
    ).strip()
    limit = config.answer_max_tokens or 4 * len(d.score) + 8
    return build_request(spec, [], user, max_tokens=limit, temperature=config.temperature)


@register
class Saebench(Scorer):
    name = "saebench"
    description = "SAEBench autointerp: own explanation, judge lists active docs among 14 (accuracy, floor: inactive share)"
    reference = "Karvonen et al. 2025, 'SAEBench' (sae_bench/evals/autointerp)"
    stage = "saebench"
    config_field = "saebench"
    chance_rules: ClassVar[dict[str, str]] = {"accuracy": "per unit: the share of inactive documents (what answering 'None' scores)"}
    needs_explanation = False

    def plan(self, inp: ScoreInput, config: SaebenchConfig, seed: int, capabilities=None) -> list[PlannedCall]:
        d = draw(inp.samples, config, seed)
        if d.error:
            return []
        spec_e, spec = load_prompt(config.explain_prompt, stage="saebench_explain"), load_prompt(config.prompt, stage="saebench")
        return [PlannedCall(explain_request(spec_e, d, config), 25), PlannedCall(score_request(spec, "x" * 100, d, config), 12)]

    async def score(self, inp: ScoreInput, backend: Backend | None, config: SaebenchConfig, seed: int) -> ScoreResult:
        assert backend is not None
        spec_e = load_prompt(config.explain_prompt, stage="saebench_explain")
        spec = load_prompt(config.prompt, stage="saebench")
        prov = provenance(spec, backend, config, seed)
        base = {"unit": inp.samples.unit, "scorer": self.name, "primary": "accuracy"}
        d = draw(inp.samples, config, seed)
        if d.error:
            return ScoreResult(ok=False, error=d.error, provenance=prov, **base)
        if not d.explain:
            return ScoreResult(ok=False, error="no documents for the explainer", provenance=prov, **base)
        if not d.score:
            return ScoreResult(ok=False, error="no documents to score", provenance=prov, **base)
        e_parser, s_parser = spec_e.build_parser(), spec.build_parser()
        usage, model = Usage(), ""
        try:
            expl = await ask(backend, explain_request(spec_e, d, config), lambda r: e_parser.parse(r.text),
                             retries=config.max_retries, retry_template=spec_e.retry_template)
            usage, model = usage + expl.usage, expl.model
            if expl.value is None:
                return ScoreResult(ok=False, error=f"explainer: {expl.error}", provenance=prov, usage=usage, **base)

            def parse(r: LLMResponse) -> tuple[int, ...]:
                return s_parser.parse(r.text, len(d.score))

            answer = await ask(backend, score_request(spec, expl.value, d, config), parse,
                               retries=config.max_retries, retry_template=spec.retry_template)
        except BudgetExceeded:
            raise
        except BackendError as exc:
            return ScoreResult(ok=False, error=f"backend error: {exc}", provenance=prov, usage=usage, **base)
        usage, model = usage + answer.usage, answer.model or model
        prov = provenance(spec, backend, config, seed, model=model)
        if answer.value is None:
            return ScoreResult(ok=False, error=f"judge: {DROPPED} ({answer.error})", explanation=expl.value,
                               provenance=prov, usage=usage, **base)
        listed = set(answer.value)
        labels = [d_.group != "random" and d_.active(d.threshold) for d_ in d.score]
        items = tuple(
            ScoreItem(item_id=str(k), context_ids=(doc.ref,), kind=doc.context.kind, group=doc.group,
                      level=doc.context.level, true_activation=max(doc.activations), label=lab, predicted=k in listed,
                      answer="listed" if k in listed else "not listed")
            for k, (doc, lab) in enumerate(zip(d.score, labels), 1)
        )
        floor = sum(not lab for lab in labels) / len(labels)
        acc = accuracy(answer.value, labels)
        return ScoreResult(
            ok=True, explanation=expl.value, metrics=(Metric(name="accuracy", value=acc, chance=floor, n=len(items)),),
            items=items, provenance=prov, usage=usage, **base,
        )
