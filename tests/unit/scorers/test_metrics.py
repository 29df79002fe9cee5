"""Metrics of judged items: values on hand-computed cases, None (with a note) when undefined."""

from __future__ import annotations

import pytest

from autointerp.scorers import metrics
from autointerp.scorers.records import Metric, ScoreItem


def item(label: bool, predicted: bool | None, level: int = 0, score: float | None = None, ok: bool = True):
    return ScoreItem(item_id="x", context_ids=("w1",), kind="top", level=level if label else -1,
                     true_activation=1.0 if label else 0.0, label=label, predicted=predicted, score=score, ok=ok)


def test_balanced_accuracy_is_mean_of_class_recalls():
    items = [item(True, True), item(True, False), item(False, False), item(False, False), item(False, True)]
    m = metrics.balanced_accuracy(items)
    assert m.value == pytest.approx((0.5 + 2 / 3) / 2) and m.n == 5 and m.chance == 0.5


def test_balanced_accuracy_undefined_with_one_class():
    m = metrics.balanced_accuracy([item(True, True)])
    assert m.value is None and m.note == "needs both classes"


def test_f1_and_failed_items_are_skipped():
    items = [item(True, True), item(True, False), item(False, True), item(False, None, ok=False)]
    m = metrics.f1(items)
    assert m.value == pytest.approx(2 * 1 / (2 * 1 + 1 + 1)) and m.n == 3


def test_auroc_needs_scores():
    assert metrics.auroc([item(True, True), item(False, False)]).value is None
    m = metrics.auroc([item(True, True, score=0.9), item(False, False, score=0.1), item(False, True, score=0.95)])
    assert m.value == pytest.approx(0.5)


def test_recall_per_level():
    items = [item(True, True, level=2), item(True, False, level=2), item(True, True, level=5), item(False, True)]
    got = {m.name: m.value for m in metrics.recall_per_level(items)}
    assert got == {"recall_level_2": 0.5, "recall_level_5": 1.0}


def test_chance_corrected():
    assert Metric(name="a", value=0.75, chance=0.5, n=4).chance_corrected == pytest.approx(0.5)
    assert Metric(name="a", value=0.75, chance=None, n=4).chance_corrected is None
