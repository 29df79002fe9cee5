"""Every scorer with records in a run gets its table, test, figure, unit-card scores and (classifiers) recall per
level in the report, from the generic record shape alone: no report code names detection or embedding."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from autointerp.report import write_report
from autointerp.runs.store import RunStore
from autointerp.scorers.records import Metric, ScoreResult
from autointerp.types import Provenance, UnitId
from tests.unit.report.synthetic import make_run

PROV = Provenance(backend="fake:m", model="m", prompt_id="detection", prompt_version="1", prompt_hash="h")


def _add_scorers(run_dir, rng) -> dict:
    """Detection (balanced accuracy + recall per level) and embedding (AUROC) records for every unit."""
    store = RunStore(run_dir)
    truth = {"detection": {}, "embedding": {}, "recall": {}}
    for kind, basis, n in (("feature", "sae:toy", 12), ("neuron", "neurons:layers.0.mlp", 10)):
        for i in range(n):
            unit = UnitId(basis=basis, index=i)
            if i == 9:  # a failed detection record: excluded, counted as failed
                store.append("detection", ScoreResult(unit=unit, scorer="detection", ok=False, error="judge down",
                                                      primary="balanced_accuracy", provenance=PROV))  # fmt: skip
            else:
                bal = float(np.clip(rng.normal(0.8 if kind == "feature" else 0.6, 0.08), 0, 1))
                hits = [(lv, int(rng.integers(0, 5)), 4) for lv in range(4)]
                metrics = (Metric(name="balanced_accuracy", value=bal, chance=0.5, n=20),
                           Metric(name="f1", value=None, chance=None, n=20, note="no positives"),
                           *(Metric(name=f"recall_level_{lv}", value=h / t, n=t) for lv, h, t in hits))  # fmt: skip
                store.append("detection", ScoreResult(unit=unit, scorer="detection", ok=True,
                                                      primary="balanced_accuracy", metrics=metrics, provenance=PROV))
                truth["detection"][unit.key] = bal
                for lv, h, t in hits:
                    agg = truth["recall"].setdefault((kind, lv), [0, 0])
                    agg[0] += h
                    agg[1] += t
            auroc = float(rng.uniform(0.5, 1.0))
            store.append("embedding", ScoreResult(unit=unit, scorer="embedding", ok=True, primary="auroc",
                                                  metrics=(Metric(name="auroc", value=auroc, chance=0.5, n=30),),
                                                  provenance=PROV))  # fmt: skip
            truth["embedding"][unit.key] = auroc
    return truth


@pytest.fixture(scope="module")
def scored_report(tmp_path_factory):
    run = tmp_path_factory.mktemp("scorers") / "run_s"
    make_run(run, seed=0)
    truth = _add_scorers(run, np.random.default_rng(5))
    summary = write_report(run, seed=0, n_resamples=299)
    return run / "report", summary, truth


def test_every_scorer_gets_stats_tests_and_columns(scored_report):
    out, summary, truth = scored_report
    names = [m.name for m in summary.scorers]
    assert names[:2] == ["simulation_score", "mean_specificity"]
    assert {"detection_balanced_accuracy", "detection_f1", "embedding_auroc"} <= set(names)
    assert not any("recall_level" in n for n in names)
    spec = next(m for m in summary.scorers if m.name == "detection_balanced_accuracy")
    assert (spec.scorer, spec.chance, spec.limits) == ("detection", 0.5, (0.0, 1.0))
    g = summary.metric("detection_balanced_accuracy", "feature")
    feats = np.array([v for k, v in truth["detection"].items() if k.startswith("sae")])
    assert (g.n, g.n_failed, g.median) == (11, 1, pytest.approx(np.median(feats)))
    f1 = summary.metric("detection_f1", "feature")
    assert (f1.n, f1.n_undefined) == (0, 11)  # defined nowhere: counted, not a silent zero
    test = summary.test("embedding_auroc")
    a = np.array([v for k, v in truth["embedding"].items() if k.startswith("sae")])
    b = np.array([v for k, v in truth["embedding"].items() if k.startswith("neurons")])
    assert not test.paired and test.p_value == pytest.approx(stats.mannwhitneyu(a, b).pvalue)
    units = pd.read_csv(out / "units.csv").set_index("unit")
    assert units["embedding_auroc"].to_dict() == pytest.approx(truth["embedding"])
    assert set(pd.read_csv(out / "comparison.csv")["metric"]) >= {"detection_balanced_accuracy", "embedding_auroc"}


def test_recall_per_level_beside_the_specificity_histogram(scored_report):
    out, summary, truth = scored_report
    recall = pd.read_csv(out / "recall_per_level.csv")
    for (kind, level), (hits, total) in truth["recall"].items():
        row = recall[(recall["kind"] == kind) & (recall["level"] == level)].iloc[0]
        assert (row["hits"], row["total"]) == (hits, total) and row["recall"] == pytest.approx(hits / total)
    assert len(summary.level_recall) == len(truth["recall"])
    page = (out / "report.html").read_text()
    figs = page.split('<div class="figs">', 1)[1]
    assert "Specificity by activation level" in figs.split("</div>", 1)[0] and "Recall per activation level" in figs


def test_scorer_sections_and_card_attributes_in_the_page(scored_report):
    out, _, truth = scored_report
    page = (out / "report.html").read_text()
    for scorer in ("simulate", "rubric", "detection", "embedding"):
        assert f'id="scorer-{scorer}"' in page
    assert page.count('alt="detection: features vs neurons"') == 1
    assert 'data-m-embedding-auroc="' in page and '<option value="m-detection-balanced-accuracy">' in page
    key = "sae:toy#4"
    card = page.split(f'id="{key}"', 1)[1].split('class="unit"', 1)[0]
    assert f'data-m-embedding-auroc="{truth["embedding"][key]!r}"' in card


def test_spread_across_reseeds(tmp_path):
    """Seeds repeated with ``reseeds`` (params '<p>~s<k>') give each scorer's per-seed mean, sd and the
    chance-corrected score; the run's own tables use seed offset 0 only."""
    run = tmp_path / "run_r"
    make_run(run, seed=0, n_features=4, n_neurons=3)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "stage_params": {"detection": "P"}}))
    store = RunStore(run)
    values = {0: [0.9, 0.7, 0.8, 0.6], 1: [0.5, 0.7, 0.6, 0.6], 2: [1.0, 0.8, 0.9, 0.7]}
    for k, vals in values.items():
        for i, v in enumerate(vals):
            rec = ScoreResult(unit=UnitId(basis="sae:toy", index=i), scorer="detection", ok=True,
                              primary="balanced_accuracy", provenance=PROV,
                              metrics=(Metric(name="balanced_accuracy", value=v, chance=0.5, n=10),))  # fmt: skip
            store.append("detection", rec, "P" if k == 0 else f"P~s{k}")
    store.append("detection", ScoreResult(unit=UnitId(basis="sae:toy", index=0), scorer="detection", ok=True,
                                          primary="balanced_accuracy", provenance=PROV,
                                          metrics=(Metric(name="balanced_accuracy", value=0.0, chance=0.5, n=1),)),
                 "OLD")  # an earlier config's record: not reported  # fmt: skip
    summary = write_report(run, seed=0, n_resamples=99)
    spread = next(s for s in summary.seed_spread if s.scorer == "detection" and s.kind == "feature")
    means = [float(np.mean(v)) for v in values.values()]
    assert spread.seed_offsets == (0, 1, 2) and spread.mean_per_seed == pytest.approx(means)
    assert spread.sd == pytest.approx(np.std(means, ddof=1)) and spread.range == pytest.approx(max(means) - min(means))
    assert spread.chance_corrected_per_seed == pytest.approx([(m - 0.5) / 0.5 for m in means])
    assert summary.metric("detection_balanced_accuracy", "feature").median == pytest.approx(np.median(values[0]))
    assert "Spread across seeds" in (run / "report" / "report.html").read_text()
