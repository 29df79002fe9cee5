"""Every score in the report names its protocol, its aggregation over units and its chance level; a run under a
preset shows the peer's headline number, in the peer's aggregation, first."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from autointerp.report import write_report
from autointerp.report.summary import summary_line
from autointerp.runs.store import RunStore
from autointerp.scorers import metrics
from autointerp.scorers.records import Metric, ScoreItem, ScoreResult
from autointerp.types import Provenance, UnitId
from tests.unit.report.synthetic import make_run

PROV = Provenance(backend="fake:m", model="m", prompt_id="detection", prompt_version="1", prompt_hash="h")
MODIFIED = {"name": "delphi", "modified": [{"field": "window", "value": "64", "preset": "32"}]}


def _item(k: int, label: bool, predicted: bool) -> ScoreItem:
    return ScoreItem(item_id=f"c{k}", context_ids=(f"w{k}",), kind="quantile" if label else "random",
                     level=1 if label else -1, true_activation=1.0 if label else 0.0, label=label, predicted=predicted)


# unit 0: 1 positive found, 3 negatives rejected (balanced accuracy 1);
# unit 1: 1 of 3 positives found, its 1 negative called positive (balanced accuracy 1/6).
# Pooled over both: recall 2/4, rejection 3/4 -> 0.625, not the units' mean or median 7/12.
ITEMS = {
    0: [_item(0, True, True)] + [_item(k, False, False) for k in (1, 2, 3)],
    1: [_item(0, True, True), _item(1, True, False), _item(2, True, False), _item(3, False, True)],
}


def _run(tmp_path, name: str, protocol: dict | None):
    run = tmp_path / name
    make_run(run, seed=0, n_features=4, n_neurons=3)
    if protocol is not None:
        meta = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**meta, "protocol": protocol}))
    store = RunStore(run)
    for index, items in ITEMS.items():
        store.append("detection", ScoreResult(unit=UnitId(basis="sae:toy", index=index), scorer="detection", ok=True,
                                              primary="balanced_accuracy", items=tuple(items),
                                              metrics=metrics.classifier_metrics(items), provenance=PROV))
    return run


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    run = _run(tmp_path_factory.mktemp("labels"), "run_ours", None)
    return run / "report", write_report(run, seed=0, n_resamples=99)


@pytest.fixture(scope="module")
def delphi(tmp_path_factory):
    run = _run(tmp_path_factory.mktemp("labels"), "run_delphi", MODIFIED)
    return run / "report", write_report(run, seed=0, n_resamples=99)


def test_every_metric_names_protocol_aggregation_and_chance(ours):
    out, summary = ours
    page = (out / "report.html").read_text()
    for spec in summary.scorers:
        assert spec.protocol == "ours" and spec.aggregation.startswith("median over units"), spec.name
        assert spec.chance_rule, spec.name  # a rule, or why there is none
        note = (f"Protocol: {spec.protocol}. Aggregation: {spec.aggregation}. Chance: "
                f"{spec.chance_rule}").replace("'", "&#x27;")
        assert note in page, spec.name
    assert "median over units [95% CI] (ours)" in page  # in every stats table's header
    verdict = page.split('id="verdict"', 1)[1].split("</section>", 1)[0]  # the report's first table
    assert "measure (scorer; protocol; chance)" in verdict and "features: median over units [95% CI]" in verdict
    assert "detection; ours; chance 0.5<" in verdict and "rubric; ours; chance none<" in verdict
    assert "detection; ours; chance features 0.63 (mean of units&#x27; own)<" in verdict  # F1: per unit


def test_a_per_unit_chance_is_shown_per_unit_and_as_the_groups_mean(ours):
    out, summary = ours
    f1 = next(s for s in summary.scorers if s.name == "detection_f1")
    assert f1.chance_varies and f1.chance is None and f1.chance_rule.startswith("per unit")
    units = pd.read_csv(out / "units.csv").set_index("unit")
    own = {i: metrics.f1(items).chance for i, items in ITEMS.items()}  # 2/5 and 6/7
    assert units.loc["sae:toy#0", "detection_f1_chance"] == pytest.approx(own[0])
    assert units.loc["sae:toy#1", "detection_f1_chance"] == pytest.approx(own[1])
    assert summary.metric("detection_f1", "feature").chance == pytest.approx(np.mean(list(own.values())))
    table = pd.read_csv(out / "comparison.csv")
    row = table[(table["metric"] == "detection_f1") & (table["group"] == "feature")].iloc[0]
    assert row["chance"] == pytest.approx(np.mean(list(own.values()))) and row["protocol"] == "ours"
    assert row["aggregation"].startswith("median over units") and row["chance_rule"].startswith("per unit")
    bal = table[(table["metric"] == "detection_balanced_accuracy") & (table["group"] == "feature")].iloc[0]
    assert bal["chance"] == 0.5


def test_simulation_numbers_carry_their_method(ours):
    out, summary = ours
    sim = next(s for s in summary.scorers if s.name == "simulation_score")
    assert sim.method == "json-list" and "not OpenAI's estimator" in sim.method_note
    assert set(pd.read_csv(out / "units.csv")["simulation_method"].dropna()) == {"json-list"}
    page = (out / "report.html").read_text()
    assert "method json-list" in page and "integer lists written by the judge" in page
    assert "simulation [json-list] " in summary_line(summary)
    assert summary_line(summary).startswith(f"{summary.run.name}: features (")  # ours: no peer number first
    assert "medians over units [95% CI], ours;" in summary_line(summary)
    import autointerp

    scores = autointerp.load(out.parent).scores
    assert set(scores.loc[scores["metric"] == "simulation_score", "method"]) == {"json-list"}
    assert set(scores.loc[scores["metric"] == "mean_specificity", "method"]) == {""}


def test_a_preset_run_shows_the_peers_pooled_number_first(delphi):
    out, summary = delphi
    (peer,) = [p for p in summary.peer_headline if p.kind == "feature"]
    assert (peer.scorer, peer.metric, peer.aggregation) == ("detection", "balanced_accuracy", "pooled")
    assert peer.value == pytest.approx((2 / 4 + 3 / 4) / 2) and peer.chance == 0.5
    assert peer.n_items == 8 and peer.n_units == 2
    assert peer.protocol == "delphi protocol, modified: window 64"
    ours_median = summary.metric("detection_balanced_accuracy", "feature").median
    assert ours_median == pytest.approx(7 / 12) != pytest.approx(peer.value)  # the aggregation matters
    headline = (out / "report.html").read_text().split('id="headline">', 1)[1]
    assert headline.startswith("delphi protocol, modified: window 64, pooled over units: detection features "
                               "balanced accuracy 0.625 (chance 0.50)")
    assert headline.index("0.625") < headline.index("Compared")
    line = summary_line(summary)
    assert line.startswith(f"{summary.run.name}: delphi protocol, modified: window 64: detection balanced_accuracy")
    assert "medians over units [95% CI], ours;" in line  # simulation and specificity are not delphi's
    specs = {s.name: s for s in summary.scorers}
    assert specs["detection_balanced_accuracy"].protocol == "delphi protocol, modified: window 64"
    assert specs["simulation_score"].protocol == "ours"  # a scorer the preset does not cover runs as ours


def test_saebench_preset_mean_over_units_with_each_units_floor(tmp_path):
    run = tmp_path / "run_sb"
    make_run(run, seed=0, n_features=3, n_neurons=0)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "protocol": {"name": "saebench"}}))
    store = RunStore(run)
    for i, (value, floor) in enumerate([(0.9, 0.5), (0.6, 0.8)]):
        store.append("saebench", ScoreResult(unit=UnitId(basis="sae:toy", index=i), scorer="saebench", ok=True,
                                             primary="accuracy", provenance=PROV,
                                             metrics=(Metric(name="accuracy", value=value, chance=floor, n=14),)))
    summary = write_report(run, seed=0, n_resamples=99)
    (peer,) = summary.peer_headline
    assert (peer.aggregation, peer.n_units) == ("mean", 2)
    assert peer.value == pytest.approx(0.75) and peer.chance == pytest.approx(0.65)
    assert peer.chance_corrected == pytest.approx(-0.1) and peer.sd == pytest.approx(np.std([0.9, 0.6], ddof=1))
    assert "mean over 2 units (sd 0.212)" in peer.line
    spec = next(s for s in summary.scorers if s.name == "saebench_accuracy")
    assert spec.protocol == "saebench protocol" and spec.chance_varies and "inactive documents" in spec.chance_rule


def test_recall_per_level_carries_its_chance(ours):
    out, summary = ours
    rows = {r.level: r for r in summary.level_recall if r.scorer == "detection" and r.kind == "feature"}
    # level 1: unit 0's positive (its judge's false-positive rate 0/3) and unit 1's three (rate 1/1), by items
    assert rows[1].total == 4 and rows[1].chance == pytest.approx((1 * 0.0 + 3 * 1.0) / 4)
    table = pd.read_csv(out / "recall_per_level.csv")
    assert table["chance"].tolist() == pytest.approx([0.75])


def test_compare_names_both_runs_labels_where_they_differ(ours, delphi, tmp_path):
    from autointerp.report import compare_runs

    summary = compare_runs(ours[0].parent, delphi[0].parent, tmp_path / "cmp", n_resamples=99)
    specs = {s.name: s for s in summary.scorers}
    assert specs["detection_balanced_accuracy"].protocol == "A: ours; B: delphi protocol, modified: window 64"
    assert specs["simulation_score"].protocol == "ours"
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "Protocol: A: ours; B: delphi protocol, modified: window 64." in page


def test_openai_preset_simulation_number_names_its_method(tmp_path):
    run = tmp_path / "run_oa"
    make_run(run, seed=0, n_features=4, n_neurons=0)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "protocol": {"name": "openai"}}))
    summary = write_report(run, seed=0, n_resamples=99)
    (peer,) = summary.peer_headline
    assert peer.scorer == "simulate" and peer.metric == "simulation_score" and peer.method == "json-list"
    assert peer.line.endswith("; method json-list)")  # not OpenAI's estimator, and it says which it is
