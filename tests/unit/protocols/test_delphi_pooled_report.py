"""The report's pooled rows (delphi's aggregation) hold the fixture's pooled figures and name their protocol."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from autointerp.report.pooled import pooled_line, pooled_scores
from autointerp.scorers.records import ScoreResult
from autointerp.types import Provenance, UnitId
from tests.unit.protocols.delphi_inputs import JUDGE_ROWS
from tests.unit.protocols.delphi_units import fixture
from tests.unit.protocols.test_delphi_answers import _items


def _run(stage: str):
    prov = Provenance(backend="b", model="m", prompt_id="p", prompt_version="1", prompt_hash="h")
    recs = {}
    for latent in sorted({r["latent"] for r in JUDGE_ROWS}):
        unit = UnitId(basis="sae:x", index=latent)
        recs[unit.key] = ScoreResult(unit=unit, scorer=stage, ok=True, primary="balanced_accuracy", provenance=prov,
                                     items=tuple(_items([r for r in JUDGE_ROWS if r["latent"] == latent])))
    return SimpleNamespace(extra={stage: recs})


def test_pooled_rows_are_delphis_pooled_figures():
    peer = fixture()["aggregation"]["pooled"]
    (row,) = pooled_scores(_run("detection"), "delphi")
    assert (row.scorer, row.kind, row.protocol, row.n_units) == ("detection", "feature", "delphi", 4)
    assert row.metric("balanced_accuracy").value == pytest.approx(peer["accuracy"], abs=1e-9)
    assert row.metric("f1").value == pytest.approx(peer["f1_score"], abs=1e-9)
    assert row.metric("auroc").value == pytest.approx(peer["auc"], abs=1e-9)
    assert row.metric("n_failed").value == 2
    line = pooled_line((row,), "delphi")
    assert line.startswith("delphi protocol, pooled over units: detection features balanced accuracy 0.640")
    assert "(chance 0.50)" in line and "2 unanswered" in line


def test_a_scorer_the_preset_does_not_cover_is_labelled_ours():
    (row,) = pooled_scores(_run("detection"), "saebench")
    assert row.protocol == "ours" and pooled_line((row,), "saebench") == ""
