import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from autointerp.report import ReportSummary, compare_runs, summary_line
from autointerp.report.comparison import compare_groups
from autointerp.report.load import load_run, units_frame
from autointerp.report.summary import CompareSummary, compare_line
from tests.unit.report.synthetic import make_run


def test_every_output_exists_and_parses(report_a):
    out, summary, _ = report_a
    for name in summary.files:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".csv"):
            pd.read_csv(path)
        elif name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        elif name.endswith(".svg"):
            assert ET.parse(path).getroot().tag.endswith("svg")
        elif name.endswith(".json"):
            json.loads(path.read_text())
    expected = {"specificity.png", "specificity.svg", "comparison.svg", "units.parquet", "report.html"}
    assert expected <= set(summary.files)
    assert sum(f.startswith("per_unit/") and f.endswith(".png") for f in summary.files) == 19  # units with judgements
    reloaded = ReportSummary.model_validate_json((out / "summary.json").read_text())
    assert reloaded == summary
    schema = json.loads((out / "summary.schema.json").read_text())
    assert "metrics" in schema["properties"] and "GroupStats" in schema["$defs"]


def test_per_unit_table_csv_and_parquet_agree(report_a):
    out, _, facts = report_a
    csv, parquet = pd.read_csv(out / "units.csv"), pd.read_parquet(out / "units.parquet")
    assert list(csv.columns) == list(parquet.columns) and len(csv) == len(parquet) == 22
    assert {"explanation", "simulation_score", "mean_specificity", "n_judgements", "firing_frequency",
            "max_activation", "flags", "ok", "errors"} <= set(parquet.columns)  # fmt: skip
    sims = parquet.set_index("unit")["simulation_score"].dropna().to_dict()
    assert sims == pytest.approx(facts["sim"])


def test_summary_statistics_match_scipy(report_a):
    _, summary, facts = report_a
    feats = np.array([v for k, v in facts["sim"].items() if k.startswith("sae")])
    neurs = np.array([v for k, v in facts["sim"].items() if k.startswith("neurons")])
    g = summary.metric("simulation_score", "feature")
    ref = stats.bootstrap((feats,), np.median, n_resamples=999, method="percentile", rng=np.random.default_rng(3))
    assert (g.n, g.median) == (len(feats), pytest.approx(np.median(feats)))
    assert (g.ci_low, g.ci_high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert (g.n_failed, g.n_undefined, g.n_missing) == (2, 1, 0)  # explain failure (unit 2), unit 6; unit 7 undefined
    test = summary.test("simulation_score")
    mw = stats.mannwhitneyu(feats, neurs, alternative="two-sided")
    assert (test.statistic, test.n_a, test.n_b) == (mw.statistic, len(feats), len(neurs))
    assert test.p_value == pytest.approx(mw.pvalue)
    counts = {c.kind: c for c in summary.counts}
    assert counts["feature"].n_judgements_failed + counts["neuron"].n_judgements_failed == facts["failed_judgements"]
    assert sum(r.count for r in summary.histogram) == counts["feature"].n_judgements + counts["neuron"].n_judgements
    assert {p.stage for p in summary.provenance} == {"explain", "rubric", "simulate"}
    assert summary.run.config_hash == "cfg123" and summary.run.seed == 7
    assert summary.run.created == "2025-01-01T00:00:00+00:00"
    assert summary.run.models == {"subject model": "tiny", "sae": "sae.safetensors", "explain backend": "fake:m"}
    line = summary_line(summary)
    assert "\n" not in line and line.startswith("run_a: features (12 units)") and "p=" in line


def test_html_is_self_contained_and_escaped(report_a):
    out, _, _ = report_a
    page = (out / "report.html").read_text()
    assert page.lower().count("<script") == 1 and "<script>alert" not in page  # only the page's own inline script
    assert "&lt;script&gt;" in page  # the corpus token and the explanation, escaped
    assert "&lt;b&gt;feature&lt;/b&gt;" in page
    assert 'src="data:image/png;base64,' in page
    for remote in ('src="http', "src='http", 'href="http', "url(", "@import", "<link", "<iframe"):
        assert remote not in page.lower(), remote  # self-contained: nothing loaded from elsewhere
    assert "hunter2" not in page and "user:***@host" in page  # a password in a backend URL is redacted
    assert page.count('class="unit"') == 22
    assert 'class="a10"' in page  # top token shaded at full intensity


def test_bootstrap_is_seeded(run_a):
    units = units_frame(load_run(run_a[0]))
    groups = {k: units[units["kind"] == k] for k in ("feature", "neuron")}
    first = compare_groups(groups, [("feature", "neuron")], seed=9, n_resamples=299)
    assert compare_groups(groups, [("feature", "neuron")], seed=9, n_resamples=299) == first


def test_compare_runs_with_shared_units_is_paired(run_a, run_b, tmp_path):
    """run_a and run_b score the same unit ids (e.g. two explainers on one SAE): Wilcoxon signed-rank, not
    Mann-Whitney (old main tested them as independent samples)."""
    summary = compare_runs(run_a[0], run_b[0], tmp_path / "cmp", seed=1, n_resamples=499)
    assert [(t.metric, t.group_a, t.group_b) for t in summary.tests] == [
        ("simulation_score", "A:feature", "B:feature"), ("simulation_score", "A:neuron", "B:neuron"),
        ("mean_specificity", "A:feature", "B:feature"), ("mean_specificity", "A:neuron", "B:neuron"),
    ]  # fmt: skip
    assert all(t.paired and t.test == "wilcoxon-signed-rank" for t in summary.tests)
    shared = sorted(k for k in run_a[1]["sim"] if k in run_b[1]["sim"] and k.startswith("sae"))
    a = np.array([run_a[1]["sim"][k] for k in shared])
    b = np.array([run_b[1]["sim"][k] for k in shared])
    ref = stats.wilcoxon(a, b)
    test = summary.tests[0]
    assert (test.n_a, test.statistic) == (len(shared), ref.statistic) and test.p_value == pytest.approx(ref.pvalue)
    d = a - b
    ranks = stats.rankdata(np.abs(d))
    assert test.rank_biserial == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())
    assert test.median_difference == pytest.approx(np.median(d))
    assert test.diff_ci_low <= test.median_difference <= test.diff_ci_high
    for name in summary.files:
        assert (tmp_path / "cmp" / name).is_file()
    assert CompareSummary.model_validate_json((tmp_path / "cmp" / "compare.json").read_text()) == summary
    assert pd.read_csv(tmp_path / "cmp" / "compare.csv")["group"].tolist()[:4] == [
        "A:feature", "B:feature", "A:neuron", "B:neuron"]  # fmt: skip
    line = compare_line(summary)
    assert line.startswith("A=run_a vs B=run_b: simulation_score feature:") and "Wilcoxon (paired)" in line
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "Wilcoxon signed-rank (paired)" in page and 'src="data:image/png;base64,' in page


def test_compare_runs_with_disjoint_units_is_unpaired(run_a, tmp_path):
    other = tmp_path / "run_c"
    facts = make_run(other, seed=1, shift=0.7, sae="other_sae", neuron_site="layers.1.mlp")
    summary = compare_runs(run_a[0], other, tmp_path / "cmp", seed=1, n_resamples=499)
    assert summary.tests and all(not t.paired and t.test == "mann-whitney-u" for t in summary.tests)
    a = np.array([v for k, v in run_a[1]["sim"].items() if k.startswith("sae")])
    b = np.array([v for k, v in facts["sim"].items() if k.startswith("sae")])
    mw = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert summary.tests[0].statistic == mw.statistic and summary.tests[0].p_value == pytest.approx(mw.pvalue)
    assert "Mann-Whitney U (unpaired)" in (tmp_path / "cmp" / "compare.html").read_text()


def test_same_unit_ids_of_different_saes_are_not_paired(run_a, tmp_path):
    """Unit ids carry only the SAE's folder name: two SAEs saved in same-named folders must not be paired."""
    import yaml

    other = tmp_path / "run_d"
    make_run(other, seed=1, shift=0.7)  # the same unit ids as run_a
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    (other / "config.yaml").write_text(yaml.safe_dump({**cfg, "sae": "elsewhere/sae.safetensors"}))
    summary = compare_runs(run_a[0], other, tmp_path / "cmp", seed=1, n_resamples=99)
    by_kind = {t.group_a: t for t in summary.tests if t.metric == "simulation_score"}
    assert not by_kind["A:feature"].paired and by_kind["A:feature"].test == "mann-whitney-u"
    assert by_kind["A:neuron"].paired  # the same neurons of the same model: paired
