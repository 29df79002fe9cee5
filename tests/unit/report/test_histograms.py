import json
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autointerp.report.histograms import TABLE_COLUMNS, level_infos, specificity_table
from autointerp.report.load import JUDGEMENT_COLUMNS, judgements_frame, load_run


def _hand_count(run_dir) -> Counter:
    """Count ok judgements per (kind, level, score) straight from rubric.jsonl (latest record per unit)."""
    latest = {}
    for line in (run_dir / "rubric.jsonl").read_text().splitlines():
        wrapped = json.loads(line)
        if wrapped["ok"] or wrapped["unit"] not in latest or not latest[wrapped["unit"]]["ok"]:
            latest[wrapped["unit"]] = wrapped
    counts = Counter()
    for key, wrapped in latest.items():
        if not wrapped["ok"]:  # ratings of a failed rubric record are excluded
            continue
        kind = "neuron" if key.startswith("neurons") else "feature"
        for j in wrapped["record"]["judgements"]:
            if j["ok"] and j["score"] is not None:
                counts[(kind, j["level"], j["score"])] += 1
    return counts


def test_table_counts_match_hand_count_and_fractions_sum_to_one(run_a):
    path, _ = run_a
    table = specificity_table(judgements_frame(load_run(path)))
    assert list(table.columns) == TABLE_COLUMNS
    hand = _hand_count(path)
    got = {(r.kind, r.level, r.score): r.count for r in table.itertuples() if r.count}
    assert got == dict(hand)
    sums = table.groupby(["kind", "level"])["fraction"].sum()
    assert sums.to_numpy() == pytest.approx(1.0)
    n_in = table.groupby(["kind", "level"]).agg(n=("n_in_level", "first"), c=("count", "sum"))
    assert (n_in["n"] == n_in["c"]).all()
    assert len(table) == 4 * len(n_in)  # every score present per (kind, level), zeros included
    assert list(table["kind"].drop_duplicates()) == ["feature", "neuron"]


def test_empty_judgements_give_empty_table():
    table = specificity_table(pd.DataFrame(columns=JUDGEMENT_COLUMNS).astype({"ok": bool}))
    assert table.empty and list(table.columns) == TABLE_COLUMNS


def test_level_labels(run_a):
    path, _ = run_a
    run = load_run(path)
    infos = level_infos([-1, 0, 3, 9], run.units.values())
    assert [i.label for i in infos] == ["below threshold", "0-25%", "75-100%", "bin 9"]
    assert infos[2].frac_low == pytest.approx(0.75) and infos[2].frac_high == pytest.approx(1.0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["feature", "neuron"]), st.integers(-1, 4), st.integers(0, 3), st.booleans()),
                min_size=1, max_size=60))  # fmt: skip
def test_table_invariants_on_any_judgements(rows):
    frame = pd.DataFrame(
        [{"unit": "u#0", "kind": k, "context_id": "c", "context_kind": "quantile", "level": lv, "true_activation": 1.0,
          "score": s if ok else None, "ok": ok} for k, lv, s, ok in rows],
        columns=JUDGEMENT_COLUMNS,
    )
    table = specificity_table(frame)
    assert table["count"].sum() == sum(ok for *_, ok in rows)
    if len(table):
        assert table.groupby(["kind", "level"])["fraction"].sum().to_numpy() == pytest.approx(1.0)
        assert (table["fraction"].between(0, 1)).all()
