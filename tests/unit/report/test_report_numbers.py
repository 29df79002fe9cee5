"""The report's numbers say what they are: failed judgements, the rubric's activating-vs-random contrast,
cost per stage, the headline, the Run/Provenance tables, and figures that name their statistic."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from autointerp.report import summary_line
from autointerp.report.summary import judgement_line
from tests.unit.report.synthetic import prompt_hash


def _latest_rubric(run_dir) -> dict:
    latest = {}
    for line in (run_dir / "rubric.jsonl").read_text().splitlines():
        w = json.loads(line)
        if w["ok"] or w["unit"] not in latest or not latest[w["unit"]]["ok"]:
            latest[w["unit"]] = w
    return latest


def test_summary_line_counts_failed_judgements_not_only_units(report_a):
    """Old main printed unit counts only, so 'rubric 32/32 ok (0 failed)' hid failed judgements."""
    _, summary, facts = report_a
    line = summary_line(summary)
    counts = {c.kind: c for c in summary.counts}
    total_failed = counts["feature"].n_judgements_failed + counts["neuron"].n_judgements_failed
    assert total_failed == facts["failed_judgements"] > 0
    for kind, c in counts.items():
        assert f"judgements {c.n_judgements}/{c.n_judgements + c.n_judgements_failed} ok " \
               f"({c.n_judgements_failed} failed)" in line, kind
    assert judgement_line(summary).startswith("rubric judgements: features ")
    assert "\n" not in line


def test_rubric_contrast_activating_vs_random_per_kind(run_a, report_a):
    """Per kind: mean over units of the per-unit mean rating on activating vs random contexts, with CIs."""
    _, summary, _ = report_a
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for key, w in _latest_rubric(run_a[0]).items():
        if not w["ok"]:
            continue
        js = [j for j in w["record"]["judgements"] if j["ok"] and j["score"] is not None]
        act = [j["score"] for j in js if j["kind"] != "random"]
        rand = [j["score"] for j in js if j["kind"] == "random"]
        if act and rand:
            by_kind.setdefault("neuron" if key.startswith("neurons") else "feature", []).append(
                (np.mean(act), np.mean(rand)))
    contrast = {c.kind: c for c in summary.contrast}
    assert set(contrast) == {"feature", "neuron"}
    for kind, pairs in by_kind.items():
        c = contrast[kind]
        act, rand = np.array(pairs).T
        assert c.n_units == len(pairs)
        assert c.activating_mean == pytest.approx(act.mean()) and c.random_mean == pytest.approx(rand.mean())
        assert c.difference_mean == pytest.approx((act - rand).mean())
        assert c.activating_ci[0] <= c.activating_mean <= c.activating_ci[1]
        assert c.random_ci[0] <= c.random_mean <= c.random_ci[1]
    page = (out_page := report_a[0] / "report.html").read_text()
    assert "Rubric: activating vs random contexts" in page and out_page.is_file()
    assert f"{contrast['feature'].activating_mean:.2f} [" in page


def test_cost_per_stage_and_total_counts_every_record(report_a):
    """Every attempt's usage counts, failed records included; the summary line and the page show it."""
    out, summary, facts = report_a
    costs = {c.stage: c for c in summary.costs}
    assert set(costs) == {"explain", "rubric", "simulate"}
    for stage, paid in facts["cost"].items():
        assert costs[stage].cost_usd == pytest.approx(sum(paid)) and costs[stage].requests == len(paid)
    assert costs["explain"].failed_records == 4  # units 2 and 3 of each kind failed once
    total = sum(sum(v) for v in facts["cost"].values())
    assert summary.total_cost == pytest.approx(total)
    assert f"total ${total:.4f}" in summary_line(summary)
    page = (out / "report.html").read_text()
    assert f"${costs['rubric'].cost_usd:.4f}" in page and f"${total:.4f}" in page


def test_headline_says_what_was_compared_n_results_failures_and_cost(report_a):
    out, summary, _ = report_a
    page = (out / "report.html").read_text()
    head = re.search(r'<p class="headline" id="headline">(.*?)</p>', page, re.DOTALL).group(1)
    sim_f = summary.metric("simulation_score", "feature")
    assert head.startswith("Compared 12 features and 10 neurons")
    assert f"features {sim_f.median:.2f} [{sim_f.ci_low:.2f}, {sim_f.ci_high:.2f}] (n={sim_f.n})" in head
    assert "Mann-Whitney (unpaired)" in head and "rank-biserial" in head
    assert "Failed:" in head and "1 of 121 rubric judgements" in head
    assert f"Cost ${summary.total_cost:.4f}" in head


def test_run_table_has_no_repeats_nor_python_dicts_and_hashes_wrap(report_a):
    """Old main: 'model: sae' and 'sae' both, backends as "{'explain': ...}", 64-hex hashes overflowing."""
    out, _, _ = report_a
    page = (out / "report.html").read_text()
    run_table = page.split("<h2>Run</h2>", 1)[1].split("</table>", 1)[0]
    fields = re.findall(r"<tr><td>([^<]*)</td>", run_table)
    assert len(fields) == len(set(fields)), fields
    assert not any(f.startswith("model:") for f in fields)
    assert {"backend (explain)", "backend (rubric)", "backend (simulate)"} <= set(fields)
    assert "{" not in run_table and "&#x27;explain&#x27;" not in run_table
    prov = page.split("<h3>Provenance</h3>", 1)[1].split("</table>", 1)[0]
    assert f'<code class="hash">{prompt_hash("rubric")}</code>' in prov
    assert "code.hash{font-size:.85em;word-break:break-all}" in page


def test_comparison_figure_names_statistic_effect_size_n_and_sampling(report_a):
    """Old main wrote 'Mann-Whitney p=.., r=..' beside an axis named 'Pearson r'."""
    out, summary, _ = report_a
    # matplotlib's SVG draws text as glyph paths and keeps each string in a comment beside it
    raw = (out / "comparison.svg").read_text()
    ET.fromstring(raw)
    assert "rank-biserial" in raw and "Mann-Whitney (unpaired)" in raw and "r=+" not in raw
    sim = summary.metric("simulation_score", "feature")
    assert f"n={sim.n}" in raw and "sampling: same held-out mix" in raw


def test_cost_comes_from_the_spend_ledger_when_the_run_has_one(tmp_path):
    """Requests answered before a kill have no record but are in spend.jsonl: the ledger is the run's spend."""
    from autointerp.report import write_report
    from autointerp.runs.spend import Ledger
    from autointerp.types import Usage
    from tests.unit.report.synthetic import make_run

    run = tmp_path / "run_l"
    make_run(run, n_features=3, n_neurons=3)
    ledger = Ledger(run)
    for k in range(5):
        ledger.add("rubric", f"sae:toy#{k % 3}", "openai:gpt-4.1-mini", "gpt-4.1-mini",
                   Usage(input_tokens=200, output_tokens=20, requests=1, cost_usd=0.01))
    ledger.add("explain", "sae:toy#0", "openai:gpt-4.1-mini", "gpt-4.1-mini", Usage(requests=1, cost_usd=0.5))
    summary = write_report(run, n_resamples=99)
    costs = {c.stage: c for c in summary.costs}
    assert {c.source for c in summary.costs} == {"ledger"}
    assert (costs["rubric"].requests, costs["rubric"].input_tokens) == (5, 1000)
    assert costs["rubric"].cost_usd == pytest.approx(0.05) and costs["simulate"].cost_usd == 0
    assert summary.total_cost == pytest.approx(0.55)
    assert "spending ledger" in (run / "report" / "report.html").read_text()


def test_random_side_is_the_uniform_windows_whatever_their_activation():
    """A dense neuron's random windows mostly activate (level >= 0): they still count as its random side, and not
    in its specificity, so features and neurons are averaged over the same kinds and counts of contexts."""
    import pandas as pd

    from autointerp.report.contrast import rubric_contrast

    rows = []
    for kind, random_level in (("feature", -1), ("neuron", 4)):
        for u in range(3):
            for i, (ckind, level, score) in enumerate(
                [("top", 9, 3), ("quantile", 5, 2), ("random", random_level, 1), ("random", random_level, 0)]
            ):
                rows.append({"unit": f"{kind}{u}", "kind": kind, "context_id": f"c{i}", "context_kind": ckind,
                             "level": level, "true_activation": 1.0, "score": score, "ok": True})
    contrast = {c.kind: c for c in rubric_contrast(pd.DataFrame(rows), ["feature", "neuron"], n_resamples=200)}
    for kind in ("feature", "neuron"):
        assert contrast[kind].n_units == 3
        assert contrast[kind].activating_mean == pytest.approx(2.5) and contrast[kind].random_mean == pytest.approx(0.5)
        assert contrast[kind].n_ratings_random == 6


def test_specificity_summary_splits_by_context_kind_like_the_report():
    """The scorer's per-unit summary (used for seed spreads) and the report agree: a dense neuron's random windows
    above threshold are its random side, not activating contexts."""
    from autointerp.report.load import mean_score_random, mean_specificity
    from autointerp.scorers import SCORERS
    from autointerp.types import Provenance, RubricJudgement, RubricResult, UnitId

    judgements = tuple(RubricJudgement(context_id=f"c{i}", window_index=i, kind=kind, true_activation=1.0,
                                       level=level, score=score)
                       for i, (kind, level, score) in enumerate([("top", 9, 3), ("quantile", 4, 2),
                                                                 ("random", 4, 1), ("random", -1, 0)]))
    result = RubricResult(unit=UnitId(basis="neurons:layers.1.mlp", index=0), ok=True, judgements=judgements,
                          provenance=Provenance(backend="t", model="t", prompt_id="p", prompt_version="1",
                                                prompt_hash="h"))
    summary = SCORERS.get("specificity").summarise(result)
    metrics = {m.name: m.value for m in summary.metrics}
    assert summary.primary == "mean_specificity" and summary.value == pytest.approx(2.5)  # one headline, one name
    assert metrics["mean_specificity"] == mean_specificity(result) == pytest.approx(2.5)
    assert metrics["mean_score_random"] == mean_score_random(result) == pytest.approx(0.5)
    assert metrics["mean_score_all"] == pytest.approx(6 / 4)
    assert set(metrics) == {"mean_specificity", "mean_score_random", "mean_score_all"}
