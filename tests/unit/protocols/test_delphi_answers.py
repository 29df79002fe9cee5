"""Reading the judge's answer and aggregating, held against delphi's ``Classifier._parse`` and
``log/result_analysis.py`` (compute_confusion, compute_classification_metrics, compute_auc), at 1e-9."""

from __future__ import annotations

import pytest

from autointerp.backends.base import LLMResponse, TokenLogprobs
from autointerp.judging.answers import BinaryList
from autointerp.scorers import metrics
from autointerp.scorers.records import ScoreItem
from tests.unit.protocols.delphi_inputs import JUDGE_ROWS
from tests.unit.protocols.delphi_units import fixture

CASES = fixture()["parse"]
IDS = [f"c{k}" for k in range(1, 6)]


def _response(case) -> LLMResponse:
    lps = None
    if case.get("logprobs") is not None:
        lps = tuple(TokenLogprobs(token=t, logprob=dict(top).get(t, top[0][1]), top=dict(top))
                    for t, top in case["logprobs"])
    return LLMResponse(text=case["text"], logprobs=lps)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_answers_are_read_as_delphi_reads_them(case):
    got = BinaryList().parse(_response(case), IDS)
    if "error" in case:  # delphi leaves the whole batch without predictions
        assert not got.values and set(got.problems) == set(IDS)
        return
    assert not got.problems
    assert [got.values[i][0] for i in IDS] == case["predictions"]
    for i, want in zip(IDS, case["probabilities"]):
        if want is None:
            assert got.values[i][1] is None
        else:
            assert got.values[i][1] == pytest.approx(want, abs=1e-9)


def test_an_entry_other_than_0_or_1_is_refused():
    """delphi 0.1.3 reads any JSON value by its truth (2 -> yes); we refuse it (documented in the fixture README)."""
    got = BinaryList().parse(LLMResponse(text="[2, 0, 0, 0, 0]"), IDS)
    assert not got.values and "neither 0 nor 1" in got.problems["c1"]


def _items(rows) -> list[ScoreItem]:
    return [ScoreItem(item_id=f"i{k}", context_ids=(f"x{k}",), kind="random", level=-1, true_activation=0.0,
                      label=r["activating"], predicted=r["prediction"], score=r["probability"],
                      ok=r["prediction"] is not None, error=None if r["prediction"] is not None else "no verdict")
            for k, r in enumerate(rows)]


def _check(ours, peer):
    m = {x.name: x for x in ours}
    assert m["balanced_accuracy"].value == pytest.approx(peer["accuracy"], abs=1e-9)  # delphi's 'accuracy'
    assert m["f1"].value == pytest.approx(peer["f1_score"], abs=1e-9)
    assert m["n_positive"].value == peer["total_positives"] and m["n_negative"].value == peer["total_negatives"]
    if isinstance(peer["auc"], float):
        assert m["auroc"].value == pytest.approx(peer["auc"], abs=1e-9)
    else:
        assert m["auroc"].value is None  # one class only: delphi's sklearn call gives nan


def test_pooled_scores_are_delphis():
    """One confusion matrix and one ROC over every item of every latent (failed answers left out)."""
    _check(metrics.delphi_metrics(_items(JUDGE_ROWS)), fixture()["aggregation"]["pooled"])
    c = metrics.confusion(_items(JUDGE_ROWS))
    peer = fixture()["aggregation"]["pooled"]
    assert (c.tp, c.tn, c.fp, c.fn) == (peer["true_positives"], peer["true_negatives"], peer["false_positives"],
                                        peer["false_negatives"])
    assert c.precision == pytest.approx(peer["precision"], abs=1e-9)
    assert c.recall == pytest.approx(peer["recall"], abs=1e-9)
    assert c.failed == 2  # delphi's own failed_count is always 0 (it subtracts the answered count from itself)


@pytest.mark.parametrize("latent", ["0", "1", "2", "3"])
def test_per_unit_scores_are_delphis(latent):
    rows = [r for r in JUDGE_ROWS if str(r["latent"]) == latent]
    _check(metrics.delphi_metrics(_items(rows)), fixture()["aggregation"]["per_latent"][latent])


def test_pooled_is_not_the_mean_of_units():
    """The asymmetric units make the pooled balanced accuracy differ from the mean of the per-unit ones."""
    peer = fixture()["aggregation"]
    mean = sum(v["accuracy"] for v in peer["per_latent"].values()) / len(peer["per_latent"])
    assert abs(mean - peer["pooled"]["accuracy"]) > 0.05
