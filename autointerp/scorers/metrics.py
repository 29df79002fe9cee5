"""Metrics of judged items and their chance levels (definitions and rules: ``docs/metrics.md``).

Each returns a :class:`~autointerp.scorers.records.Metric` with its n and chance level; a metric that
is undefined on the data (one class only, nothing answered) has value None and a note, never a
placeholder number. There is no plain ``accuracy`` beside ``balanced_accuracy`` for the classifiers
(delphi's field called ``accuracy`` *is* balanced accuracy); the one plain accuracy is the intruder's,
against chance 1 / (number of excerpts shown). :func:`mean_over_units` averages per-unit values with
each unit's own chance level.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from autointerp.scorers.records import Metric, ScoreItem

CHANCE_RULES: dict[str, str] = {
    "balanced_accuracy": "0.5 (a judge that cannot tell the classes apart, whatever the class mix)",
    "f1": "per unit: F1 of a judge answering yes to everything, 2 pos / (pos + answered)",
    "auroc": "0.5 (scores unrelated to the label)",
    "recall_level_": "per unit: the judge's false-positive rate on the unit's non-activating items",
    "accuracy": "1 / (number of choices)",
    "simulation_score": "0 (predictions unrelated to the true activations)",
    "steered_recall": "per unit: 1 - plain_rejected (the judge's rate of picking plain continuations)",
    "plain_rejected": "per unit: 1 - steered_recall",
    "n_positive": "none: a count, not a score",
    "n_negative": "none: a count, not a score",
    "mean_specificity": "none: a 0-3 rating; read it against mean_score_random",
    "mean_score_random": "none: a 0-3 rating",
    "mean_score_all": "none: a 0-3 rating",
}


def chance_rule(metric: str) -> str:
    """How a metric's chance level is set (a scorer may state its own: :meth:`Scorer.chance_rule`)."""
    if metric in CHANCE_RULES:
        return CHANCE_RULES[metric]
    prefix = next((p for p in CHANCE_RULES if p.endswith("_") and metric.startswith(p)), None)
    return CHANCE_RULES[prefix] if prefix else "not stated"


def _answered(items: Sequence[ScoreItem]) -> list[ScoreItem]:
    return [i for i in items if i.ok and i.predicted is not None]


def intruder_accuracy(items: Sequence[ScoreItem], n_shown: int, failed_as_wrong: bool = False) -> Metric:
    """Fraction of trials whose intruder was found; chance 1 / n_shown (n_shown = the activating excerpts plus the
    intruder, so 1 / (n_activating + 1)). Failed trials are left out, or with ``failed_as_wrong`` (delphi) counted
    as wrong answers; undefined when no trial was answered."""
    if n_shown < 1:
        raise ValueError(f"n_shown must be >= 1, got {n_shown}")
    chance = 1 / n_shown
    counted = list(items) if failed_as_wrong else _answered(items)
    if not _answered(items):
        return Metric(name="accuracy", value=None, chance=chance, n=len(counted), note="no trial answered")
    value = float(np.mean([bool(i.ok and i.predicted) for i in counted]))
    return Metric(name="accuracy", value=value, chance=chance, n=len(counted))


def balanced_accuracy(items: Sequence[ScoreItem]) -> Metric:
    """Mean of recall on positives and on negatives (chance 0.5 whatever the class balance)."""
    done = _answered(items)
    pos = [i for i in done if i.label]
    neg = [i for i in done if not i.label]
    if not pos or not neg:
        return Metric(name="balanced_accuracy", value=None, chance=0.5, n=len(done), note="needs both classes")
    tpr = np.mean([bool(i.predicted) for i in pos])
    tnr = np.mean([not i.predicted for i in neg])
    return Metric(name="balanced_accuracy", value=float((tpr + tnr) / 2), chance=0.5, n=len(done))


def f1(items: Sequence[ScoreItem]) -> Metric:
    """F1 of the positive class; chance is that of a judge answering 'yes' to everything."""
    done = _answered(items)
    tp = sum(1 for i in done if i.label and i.predicted)
    fp = sum(1 for i in done if not i.label and i.predicted)
    fn = sum(1 for i in done if i.label and not i.predicted)
    n_pos = sum(1 for i in done if i.label)
    chance = 2 * n_pos / (n_pos + len(done)) if done else None
    if tp == 0:
        note = "no true positives" if done else "no answered items"
        value = 0.0 if (done and n_pos) else None
        return Metric(name="f1", value=value, chance=chance, n=len(done), note=None if value is not None else note)
    return Metric(name="f1", value=float(2 * tp / (2 * tp + fp + fn)), chance=chance, n=len(done))


def auroc(items: Sequence[ScoreItem]) -> Metric:
    """Area under the ROC curve of ``score`` (P(yes) or a similarity) against the label."""
    done = [i for i in items if i.ok and i.score is not None]
    labels = [i.label for i in done]
    if not done:
        return Metric(name="auroc", value=None, chance=0.5, n=0, note="the backend gave no probabilities")
    if all(labels) or not any(labels):
        return Metric(name="auroc", value=None, chance=0.5, n=len(done), note="needs both classes")
    return Metric(name="auroc", value=float(roc_auc_score(labels, [i.score for i in done])), chance=0.5, n=len(done))


def false_positive_rate(items: Sequence[ScoreItem]) -> float | None:
    """Fraction of the answered negatives the judge called activating (None without negatives)."""
    neg = [i for i in _answered(items) if not i.label]
    return float(np.mean([bool(i.predicted) for i in neg])) if neg else None


def recall_per_level(items: Sequence[ScoreItem]) -> list[Metric]:
    """Recall (fraction answered 'activating') of the positives at each activation level.

    Chance: the judge's false-positive rate on the unit's non-activating items - the recall of a judge that says
    yes at the same rate but cannot tell this level from non-activating text (a coin with P(yes) = q has recall q
    and false-positive rate q)."""
    by_level: dict[int, list[ScoreItem]] = defaultdict(list)
    for i in _answered(items):
        if i.label and i.level >= 0:
            by_level[i.level].append(i)
    chance = false_positive_rate(items)
    return [
        Metric(name=f"recall_level_{lv}", value=float(np.mean([bool(i.predicted) for i in its])), chance=chance,
               n=len(its))
        for lv, its in sorted(by_level.items())
    ]


def class_counts(items: Sequence[ScoreItem]) -> tuple[Metric, ...]:
    """How many items of each class the unit was scored on: the mix, so units (and kinds) can be compared on it.
    Counts, not scores: no chance level."""
    pos = sum(1 for i in items if i.label)
    return (Metric(name="n_positive", value=float(pos), n=len(items)),
            Metric(name="n_negative", value=float(len(items) - pos), n=len(items)))


def classifier_metrics(items: Sequence[ScoreItem]) -> tuple[Metric, ...]:
    """Everything detection and fuzzing report, and the class counts they were computed on."""
    return (balanced_accuracy(items), f1(items), auroc(items), *recall_per_level(items), *class_counts(items))


def expected_value(candidate_logprobs: Mapping[str, float]) -> float:
    """Expected value of integer candidates (keys '0'..'10'), probabilities renormalised over the candidates given."""
    if not candidate_logprobs:
        raise ValueError("no candidate logprobs")
    values = np.array([int(k) for k in candidate_logprobs], dtype=float)
    lps = np.array(list(candidate_logprobs.values()), dtype=float)
    if not np.isfinite(lps).any():
        raise ValueError("every candidate has probability 0")
    weights = np.exp(lps - lps[np.isfinite(lps)].max())
    return float((weights * values).sum() / weights.sum())


def pearson(true: Sequence[float], predicted: Sequence[float]) -> tuple[float | None, str | None]:
    """Pearson r, or ``(None, reason)`` when it is undefined (too few points, a constant side, non-finite values)."""
    x = np.asarray(true, dtype=float)
    y = np.asarray(predicted, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"length mismatch: {x.size} true vs {y.size} predicted values")
    if x.size < 2:
        return None, "fewer than 2 tokens"
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None, "non-finite values"
    if np.ptp(x) == 0:
        return None, "true activations are constant"
    if np.ptp(y) == 0:
        return None, "predictions are constant"
    r = float(np.corrcoef(x, y)[0, 1])
    return (r, None) if math.isfinite(r) else (None, "correlation is undefined")


@dataclass(frozen=True)
class UnitMean:
    """A mean over units of one per-unit metric, each unit against its own chance level."""

    value: float | None  # mean of the defined values
    chance: float | None  # mean of those units' chance levels (None if any is undefined)
    chance_corrected: float | None  # mean over units of (value - chance) / (1 - chance), each with its own chance
    n: int  # units with a defined value


def mean_over_units(values: Sequence[float | None], chances: Sequence[float | None]) -> UnitMean:
    """Mean of per-unit values, the mean chance, and the mean of per-unit chance-corrected values.

    Units whose value is None or not finite are left out (with their chance). The chance-corrected mean uses each
    unit's own chance (saebench's floor, F1's class mix vary by unit): it is None when any kept unit has no chance
    level or a chance of 1.
    """
    if len(values) != len(chances):
        raise ValueError(f"length mismatch: {len(values)} values vs {len(chances)} chance levels")
    kept = [(float(v), c) for v, c in zip(values, chances) if v is not None and math.isfinite(v)]
    if not kept:
        return UnitMean(value=None, chance=None, chance_corrected=None, n=0)
    value = float(np.mean([v for v, _ in kept]))
    if any(c is None for _, c in kept):
        return UnitMean(value=value, chance=None, chance_corrected=None, n=len(kept))
    chance = float(np.mean([c for _, c in kept]))
    corrected = (float(np.mean([(v - c) / (1 - c) for v, c in kept])) if all(c < 1 for _, c in kept)
                 else None)  # fmt: skip
    return UnitMean(value=value, chance=chance, chance_corrected=corrected, n=len(kept))


@dataclass(frozen=True)
class Confusion:
    """Counts of answered items (a failed answer is in none of them, only in ``failed``)."""

    tp: int
    tn: int
    fp: int
    fn: int
    failed: int

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.tn + self.fp

    @property
    def balanced_accuracy(self) -> float:
        """delphi's ``accuracy`` field: (TPR + TNR) / 2, a rate of an absent class counted as 0."""
        tpr = self.tp / self.positives if self.positives else 0.0
        tnr = self.tn / self.negatives if self.negatives else 0.0
        return (tpr + tnr) / 2

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def confusion(items: Sequence[ScoreItem]) -> Confusion:
    """The confusion matrix of the answered items (delphi's ``compute_confusion``)."""
    done = _answered(items)
    return Confusion(
        tp=sum(1 for i in done if i.label and i.predicted), tn=sum(1 for i in done if not i.label and not i.predicted),
        fp=sum(1 for i in done if not i.label and i.predicted), fn=sum(1 for i in done if i.label and not i.predicted),
        failed=len(items) - len(done),
    )


def delphi_metrics(items: Sequence[ScoreItem]) -> tuple[Metric, ...]:
    """delphi's analysis (``log/result_analysis.py``) of a set of items: of one unit, or pooled over every unit.

    One confusion matrix over the answered items gives balanced accuracy (delphi calls it ``accuracy``) and F1
    (0 where delphi's formula divides by zero, a missing class's rate counted as 0, as delphi does; the note says
    so); one ROC over the items with a probability gives the AUROC. Chance levels as :func:`balanced_accuracy`,
    :func:`f1` and :func:`auroc`.
    """
    c = confusion(items)
    n = c.positives + c.negatives
    one_class = None if c.positives and c.negatives else "one class only: delphi counts the missing class's rate as 0"
    if n == 0:
        done: tuple[Metric, ...] = (
            Metric(name="balanced_accuracy", value=None, chance=0.5, n=0, note="no answered items"),
            Metric(name="f1", value=None, chance=None, n=0, note="no answered items"))
    else:
        done = (Metric(name="balanced_accuracy", value=c.balanced_accuracy, chance=0.5, n=n, note=one_class),
                Metric(name="f1", value=c.f1, chance=2 * c.positives / (c.positives + n), n=n,
                       note=None if c.tp else "no true positives: delphi's F1 is 0"))
    return (*done, auroc(items), Metric(name="n_positive", value=float(c.positives), n=n),
            Metric(name="n_negative", value=float(c.negatives), n=n),
            Metric(name="n_failed", value=float(c.failed), n=len(items)))
