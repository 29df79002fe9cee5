"""Metrics of binary judgements: accuracy, balanced accuracy, F1, AUROC, recall per activation level.

Each returns a :class:`~autointerp.scorers.records.Metric` with its n and chance level; a metric that
is undefined on the data (one class only, nothing answered) has value None and a note, never a
placeholder number.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from autointerp.scorers.records import Metric, ScoreItem


def _answered(items: Sequence[ScoreItem]) -> list[ScoreItem]:
    return [i for i in items if i.ok and i.predicted is not None]


def accuracy(items: Sequence[ScoreItem], chance: float | None = None, name: str = "accuracy") -> Metric:
    done = _answered(items)
    if not done:
        return Metric(name=name, value=None, chance=chance, n=0, note="no answered items")
    return Metric(name=name, value=float(np.mean([i.predicted == i.label for i in done])), chance=chance, n=len(done))


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


def recall_per_level(items: Sequence[ScoreItem]) -> list[Metric]:
    """Recall (fraction answered 'activating') of the positives at each activation level."""
    by_level: dict[int, list[ScoreItem]] = defaultdict(list)
    for i in _answered(items):
        if i.label and i.level >= 0:
            by_level[i.level].append(i)
    return [
        Metric(name=f"recall_level_{lv}", value=float(np.mean([bool(i.predicted) for i in its])), n=len(its))
        for lv, its in sorted(by_level.items())
    ]


def class_counts(items: Sequence[ScoreItem]) -> tuple[Metric, ...]:
    """How many items of each class the unit was scored on: the mix, so units (and kinds) can be compared on it."""
    pos = sum(1 for i in items if i.label)
    return (Metric(name="n_positive", value=float(pos), n=len(items)),
            Metric(name="n_negative", value=float(len(items) - pos), n=len(items)))


def classifier_metrics(items: Sequence[ScoreItem]) -> tuple[Metric, ...]:
    """Everything detection and fuzzing report, and the class counts they were computed on."""
    return (balanced_accuracy(items), f1(items), auroc(items), accuracy(items), *recall_per_level(items),
            *class_counts(items))


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
