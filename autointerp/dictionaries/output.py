"""Output-side evidence of a unit (after Gur-Arieh et al. 2025, output-centric feature descriptions).

* **VocabProj** - the unit's write direction in the residual stream, read through the unembedding: the tokens
  whose logits it raises and lowers most on the direct path (no later layers).
* **TokenChange** - the tokens whose next-token probability changes most when the unit is amplified
  (``alpha x`` its direction added at its site, :mod:`autointerp.dictionaries.steer`), averaged over every
  position of the neutral prompts. Unlike VocabProj it goes through all the layers after the site.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from pydantic import Field

from autointerp.activations.models import SubjectModel
from autointerp.activations.sae import Dictionary
from autointerp.activations.sites import HookSite
from autointerp.dictionaries.steer import encode_batch, neutral_prompts, steering, unit_direction
from autointerp.types import Frozen, UnitId


class TokenScore(Frozen):
    token: str
    value: float


class OutputEvidence(Frozen):
    """A unit's strongest effects on the model's output, two ways."""

    unit: UnitId
    site: str
    promoted: tuple[TokenScore, ...] = Field(default=(), description="VocabProj: logit raised most (direct path).")
    suppressed: tuple[TokenScore, ...] = Field(default=(), description="VocabProj: logit lowered most.")
    raised: tuple[TokenScore, ...] = Field(default=(), description="TokenChange: mean probability gained.")
    lowered: tuple[TokenScore, ...] = Field(default=(), description="TokenChange: mean probability lost.")
    alpha: float = Field(default=0.0, description="Multiple of the direction added for TokenChange.")
    note: str | None = Field(default=None, description="Why a part is missing (e.g. an encoder has no unembedding).")


def residual_direction(subject: SubjectModel, site: HookSite, dictionary: Dictionary, unit: int) -> torch.Tensor | None:
    """What the unit adds to the residual stream: its direction, through the MLP's down projection for neurons.

    None when the dictionary has no directions (an in-memory module with only ``encode``)."""
    if not getattr(dictionary, "has_directions", True):
        return None
    vec = unit_direction(dictionary, unit)
    if site.kind != "mlp":
        return vec.float()
    tap = site.tap(subject)
    if tap.side != "input" or not isinstance(tap.module, torch.nn.Linear):
        return None
    return (tap.module.weight.float() @ vec.float().to(tap.module.weight.device)).cpu()


def _names(subject: SubjectModel, values: torch.Tensor, ids: torch.Tensor) -> tuple[TokenScore, ...]:
    return tuple(TokenScore(token=subject.tokenizer.decode([int(i)]), value=float(values[i])) for i in ids)


def vocab_proj(
    subject: SubjectModel, site: HookSite, dictionary: Dictionary, unit: int, n: int = 10
) -> tuple[tuple[TokenScore, ...], tuple[TokenScore, ...]]:
    """(promoted, suppressed): the n tokens whose logits the unit's residual direction raises / lowers most."""
    if subject.unembed is None:
        return (), ()
    vec = residual_direction(subject, site, dictionary, unit)
    if vec is None:
        return (), ()
    with torch.no_grad():
        logits = vec.to(subject.unembed.device) @ subject.unembed.float()
    logits = logits.cpu()
    return _names(subject, logits, logits.topk(n).indices), _names(subject, logits, (-logits).topk(n).indices)


def next_token_probs(subject: SubjectModel, prompts: Sequence[str] | None = None, groups: int = 1) -> torch.Tensor:
    """Mean next-token probability over every position of the prompts (default: the neutral prompts).

    ``groups`` > 1: the prompts run ``groups`` times in one batch (for as many steering vectors, one per group, see
    :func:`token_changes`) and the result is ``[groups, vocab]``, one mean per group."""
    prompts = list(prompts if prompts is not None else neutral_prompts())
    enc = encode_batch(subject.tokenizer, prompts, "right")
    ids, mask = enc["input_ids"].to(subject.device), enc["attention_mask"].to(subject.device)
    ids, mask = ids.repeat(groups, 1), mask.repeat(groups, 1)
    with torch.inference_mode():
        logits = subject.model(input_ids=ids, attention_mask=mask).logits.float()
    p = (logits.softmax(-1) * mask.unsqueeze(-1)).unflatten(0, (groups, len(prompts)))
    means = p.sum((1, 2)).cpu() / mask[: len(prompts)].sum().cpu()
    return means[0] if groups == 1 else means


def token_change(
    subject: SubjectModel,
    site: HookSite,
    dictionary: Dictionary,
    unit: int,
    alpha: float,
    prompts: Sequence[str] | None = None,
    n: int = 10,
    base: torch.Tensor | None = None,
) -> tuple[tuple[TokenScore, ...], tuple[TokenScore, ...]]:
    """(raised, lowered): mean change of next-token probability over all prompt positions when amplified.

    ``base``: :func:`next_token_probs` of the same prompts, when already computed (it is the same for every unit)."""
    if base is None:
        base = next_token_probs(subject, prompts)
    with steering(subject, site, alpha * unit_direction(dictionary, unit)):
        amplified = next_token_probs(subject, prompts)
    delta = amplified - base
    return _names(subject, delta, delta.topk(n).indices), _names(subject, delta, (-delta).topk(n).indices)


def token_changes(
    subject: SubjectModel,
    site: HookSite,
    dictionary: Dictionary,
    units: Sequence[tuple[int, float]],
    prompts: Sequence[str] | None = None,
    n: int = 10,
    base: torch.Tensor | None = None,
    chunk: int = 4,
) -> list[tuple[tuple[TokenScore, ...], tuple[TokenScore, ...]]]:
    """:func:`token_change` of several ``(unit, alpha)`` at once: ``chunk`` units' steered passes share one batch
    (each unit's copy of the prompts gets its own steering vector), which a CPU runs several times faster than one
    small pass per unit. Equal to the one-unit results up to float rounding."""
    prompts = list(prompts if prompts is not None else neutral_prompts())
    if base is None:
        base = next_token_probs(subject, prompts)
    out = []
    for i in range(0, len(units), chunk):
        part = units[i : i + chunk]
        vecs = torch.stack([alpha * unit_direction(dictionary, unit) for unit, alpha in part])  # [k, d]
        rows = vecs.repeat_interleave(len(prompts), 0).unsqueeze(1)  # [k * prompts, 1, d]: one vector per row
        with steering(subject, site, rows):
            amplified = next_token_probs(subject, prompts, groups=len(part)).reshape(len(part), -1)
        for delta in amplified - base:
            out.append((_names(subject, delta, delta.topk(n).indices), _names(subject, delta, (-delta).topk(n).indices)))
    return out


def output_evidence(
    subject: SubjectModel,
    site: HookSite,
    dictionary: Dictionary,
    unit: UnitId,
    typical_activation: float,
    alpha_scale: float = 4.0,
    n: int = 10,
    prompts: Sequence[str] | None = None,
    base: torch.Tensor | None = None,
    change: tuple[tuple[TokenScore, ...], tuple[TokenScore, ...]] | None = None,
) -> OutputEvidence:
    """VocabProj and TokenChange of one unit; TokenChange needs a decoder and a unit that fired. ``change``: the
    TokenChange already computed (:func:`token_changes`, several units in one batch)."""
    promoted, suppressed = vocab_proj(subject, site, dictionary, unit.index, n)
    notes = [] if subject.unembed is not None else ["no unembedding (encoder model)"]
    raised = lowered = ()
    alpha = alpha_scale * float(typical_activation)
    if not subject.is_decoder:
        notes.append("TokenChange needs a decoder model")
    elif alpha <= 0:
        notes.append("TokenChange skipped: the unit never fired, so there is no typical activation to scale by")
    else:
        raised, lowered = change or token_change(subject, site, dictionary, unit.index, alpha, prompts, n, base)
    return OutputEvidence(unit=unit, site=str(site), promoted=promoted, suppressed=suppressed, raised=raised,
                          lowered=lowered, alpha=alpha if raised else 0.0, note="; ".join(notes) or None)  # fmt: skip


OUTPUT_EVIDENCE_FILE = "output_evidence.json"


def run_output_evidence(subject: SubjectModel, bases: Sequence, units: Sequence, alpha_scale: float, n: int = 10):
    """unit key -> OutputEvidence for every sampled unit of a run (bases: RunBasis; units: UnitSamples)."""
    by_name = {rb.name: rb for rb in bases}
    base = next_token_probs(subject) if subject.is_decoder else None  # unsteered: the same for every unit
    out = {}
    for name, rb in by_name.items():
        mine = [us for us in units if us.unit.basis == name]
        steered = [us for us in mine if subject.is_decoder and alpha_scale * float(us.stats.max_activation) > 0]
        changes = token_changes(subject, rb.basis.site, rb.basis.dictionary,
                                [(us.unit.index, alpha_scale * float(us.stats.max_activation)) for us in steered],
                                n=n, base=base) if steered else []  # fmt: skip
        change = dict(zip((us.unit.key for us in steered), changes))
        for us in mine:
            out[us.unit.key] = output_evidence(subject, rb.basis.site, rb.basis.dictionary, us.unit,
                                               us.stats.max_activation, alpha_scale, n, base=base,
                                               change=change.get(us.unit.key))  # fmt: skip
    return {us.unit.key: out[us.unit.key] for us in units if us.unit.key in out}


def read_output_evidence(run_dir, params: str) -> dict[str, OutputEvidence] | None:
    """The run folder's output evidence when it was computed with ``params`` (else None: compute it)."""
    path = Path(run_dir) / OUTPUT_EVIDENCE_FILE
    stamp = path.with_suffix(".params")
    try:
        if stamp.read_text(encoding="utf-8").strip() != params:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return {k: OutputEvidence.model_validate(v) for k, v in data.items()}
    except (OSError, ValueError):
        return None


def ensure_output_evidence(run_dir, subject: SubjectModel, bases: Sequence, units: Sequence, alpha_scale: float,
                           params: str) -> dict[str, OutputEvidence]:  # fmt: skip
    """Output evidence of every unit, computed once per run folder and parameters (``params``: a hash of what it
    depends on): a rerun reads ``output_evidence.json`` back instead of steering every unit again."""
    have = read_output_evidence(run_dir, params)
    if have is not None and all(us.unit.key in have for us in units):
        return have
    evidence = run_output_evidence(subject, bases, units, alpha_scale)
    write_output_evidence(run_dir, evidence)
    Path(run_dir, OUTPUT_EVIDENCE_FILE).with_suffix(".params").write_text(params + "\n", encoding="utf-8")
    return evidence


def write_output_evidence(run_dir, evidence: dict[str, OutputEvidence]) -> Path:
    """``<run>/output_evidence.json``: unit key -> VocabProj and TokenChange tokens (for the unit report cards)."""
    path = Path(run_dir) / OUTPUT_EVIDENCE_FILE
    tmp = path.with_suffix(".json.tmp")
    data = {k: v.model_dump(mode="json") for k, v in evidence.items()}
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path
