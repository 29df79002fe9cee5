"""compare-dicts: exact against numpy across checkpoint formats, 1.0 against itself, planted splits, --runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from autointerp.cli import main
from autointerp.dictionaries.compare import max_cosine, split_units
from autointerp.runs.store import RunStore
from autointerp.types import Explanation, Provenance, Simulation, UnitId
from tests.unit.dictionaries.ckpt import write_saelens, write_sparsify

D = 24


def _weights(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "W_enc": torch.randn(D, n, generator=g),
        "b_enc": torch.randn(n, generator=g) * 0.1,
        "W_dec": torch.randn(n, D, generator=g) * 3,  # not unit norm: compare-dicts must normalise
        "b_dec": torch.randn(D, generator=g),
    }


def _saelens(folder, w) -> str:
    return write_saelens(folder, w)


def _sparsify(folder, w) -> str:
    return write_sparsify(folder, w)


def _numpy_max_cos(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    s = x @ y.T
    return s.max(1), s.argmax(1)


def test_two_formats_match_numpy(tmp_path):
    wa, wb = _weights(37, 1), _weights(53, 2)
    a, b = _saelens(tmp_path / "a", wa), _sparsify(tmp_path / "b", wb)
    out = tmp_path / "cmp"
    assert main(["compare-dicts", a, b, "--out", str(out), "--chunk", "8", "--no-progress"]) == 0  # blocks cross edges
    fa, fb = pd.read_csv(out / "max_cosine.csv"), pd.read_csv(out / "max_cosine_b.csv")
    assert list(fa.columns[:4]) == ["unit_a", "unit_b", "cos_decoder", "cos_encoder"]
    assert len(fa) == 37 and len(fb) == 53
    dec = (wa["W_dec"].double().numpy(), wb["W_dec"].double().numpy())
    enc = (wa["W_enc"].T.double().numpy(), wb["W_enc"].T.double().numpy())
    for frame, (x, y), col, idx in (
        (fa, dec, "cos_decoder", "unit_b"),
        (fa, enc, "cos_encoder", "unit_b_encoder"),
        (fb, dec[::-1], "cos_decoder", "unit_a"),
        (fb, enc[::-1], "cos_encoder", "unit_a_encoder"),
    ):
        best, arg = _numpy_max_cos(x, y)
        np.testing.assert_allclose(frame[col].to_numpy(), best, atol=1e-6, rtol=0)
        assert (frame[idx].to_numpy() == arg).all()
    for name in ("histogram.csv", "histogram.png", "histogram.svg", "splits.csv", "summary.json"):
        assert (out / name).is_file()
    hist = pd.read_csv(out / "histogram.csv")
    assert hist.groupby("series")["count"].sum().to_dict() == {
        "a_to_b_decoder": 37, "a_to_b_encoder": 37, "b_to_a_decoder": 53, "b_to_a_encoder": 53,
    }  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    best, _ = _numpy_max_cos(*dec)
    assert summary["counts_above"]["a_to_b_decoder"][">0.5"] == int((best > 0.5).sum())


def test_sae_against_itself_is_one_everywhere(tmp_path):
    a = _saelens(tmp_path / "a", _weights(40, 3))
    out = tmp_path / "cmp"
    assert main(["compare-dicts", a, a, "--out", str(out), "--chunk", "16", "--no-progress"]) == 0
    frame = pd.read_csv(out / "max_cosine.csv")
    np.testing.assert_allclose(frame["cos_decoder"], 1.0, atol=1e-6)
    np.testing.assert_allclose(frame["cos_encoder"], 1.0, atol=1e-6)
    assert (frame["unit_b"] == frame["unit_a"]).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts_above"]["a_to_b_decoder"][">0.9"] == 40


def test_planted_split_feature_is_listed(tmp_path):
    rng = np.random.default_rng(0)
    wa, wb = _weights(30, 4), _weights(60, 5)
    v = wa["W_dec"][7] / wa["W_dec"][7].norm()
    for j, scale in ((11, 0.3), (42, -0.25)):  # two units of B close to unit 7 of A (cos ~0.96)
        noise = torch.tensor(rng.normal(size=D), dtype=torch.float32)
        noise -= (noise @ v) * v
        wb["W_dec"][j] = v + scale * noise / noise.norm()
    out = tmp_path / "cmp"
    a, b = _saelens(tmp_path / "a", wa), _saelens(tmp_path / "b", wb)
    assert main(["compare-dicts", a, b, "--out", str(out), "--split-threshold", "0.9", "--no-progress"]) == 0
    splits = pd.read_csv(out / "splits.csv", dtype={"units_b": str})
    assert splits["unit_a"].tolist() == [7]
    assert set(splits["units_b"][0].split(";")) == {"11", "42"}


def test_max_cosine_keeps_first_index_on_ties():
    a = torch.eye(3)
    b = torch.cat([torch.eye(3), torch.eye(3)])  # every unit of A matched twice, exactly
    mc = max_cosine(a, b, chunk=2, pair_threshold=0.99)
    assert mc.arg_a.tolist() == [0, 1, 2]
    assert [s.units_b for s in split_units(mc.pairs)] == [(0, 3), (1, 4), (2, 5)]


def test_neuron_basis_against_sae(tmp_path, tiny_llama_dir):
    g = torch.Generator().manual_seed(9)
    w32 = {"W_enc": torch.randn(32, 20, generator=g), "b_enc": torch.zeros(20), "W_dec": torch.randn(20, 32, generator=g),
           "b_dec": torch.zeros(32)}  # fmt: skip
    a = _saelens(tmp_path / "a", w32)
    out = tmp_path / "cmp"
    assert main(["compare-dicts", a, f"neurons:{tiny_llama_dir}@layers.1.resid_post", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    frame = pd.read_csv(out / "max_cosine.csv")
    best, arg = _numpy_max_cos(w32["W_dec"].double().numpy(), np.eye(32))
    np.testing.assert_allclose(frame["cos_decoder"], best, atol=1e-6)
    assert (frame["unit_b"] == arg).all()


def test_width_mismatch_is_one_line_error(tmp_path, capsys):
    a = _saelens(tmp_path / "a", _weights(10, 1))
    g = torch.Generator().manual_seed(0)
    b = _saelens(tmp_path / "b", {"W_enc": torch.randn(16, 8, generator=g), "b_enc": torch.zeros(8),
                                  "W_dec": torch.randn(8, 16, generator=g), "b_dec": torch.zeros(16)})  # fmt: skip
    assert main(["compare-dicts", a, b, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autointerp: error: compare-dicts needs dictionaries of the same width") and "\n" not in err
    assert main(["compare-dicts", a, "neurons:nomodel", "--out", str(tmp_path / "o")]) == 2
    assert "expected 'neurons:MODEL@SITE'" in capsys.readouterr().err


def _run(folder, basis: str, scores: dict[int, float]) -> str:
    store = RunStore(folder)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text("{}")
    prov = Provenance(backend="fake:m", model="m", prompt_id="p", prompt_version="1", prompt_hash="h")
    for i, s in scores.items():
        u = UnitId(basis=basis, index=i)
        store.append("explain", Explanation(unit=u, ok=True, text=f"{basis} unit {i}", provenance=prov))
        store.append("simulate", Simulation(unit=u, ok=True, score=s, provenance=prov))
    return str(folder)


def test_runs_side_by_side(tmp_path):
    wa = _weights(12, 7)
    wb = {k: v.clone() for k, v in wa.items()}
    perm = torch.tensor(np.random.default_rng(1).permutation(12))
    wb["W_dec"], wb["W_enc"] = wa["W_dec"][perm], wa["W_enc"][:, perm]  # B = A with its units shuffled
    inv = torch.argsort(perm).tolist()  # unit a of A is unit inv[a] of B
    a, b = _saelens(tmp_path / "a", wa), _saelens(tmp_path / "b", wb)
    run_a = _run(tmp_path / "ra", "sae:a", {0: 0.5, 1: 0.4, 2: 0.9})
    other = next(j for j in range(12) if j not in (inv[0], inv[1], inv[2]))  # scored in B, its match not in A
    run_b = _run(tmp_path / "rb", "sae:b", {other: 0.3, inv[0]: 0.55, inv[1]: 0.0})
    out = tmp_path / "cmp"
    assert main(["compare-dicts", a, b, "--out", str(out), "--runs", run_a, run_b, "--no-progress"]) == 0
    m = pd.read_csv(out / "matched_explanations.csv")
    assert sorted(zip(m.unit_a, m.unit_b)) == [(0, inv[0]), (1, inv[1])]
    row = m[m.unit_a == 0].iloc[0]
    assert row.explanation_a == "sae:a unit 0" and row.explanation_b == f"sae:b unit {inv[0]}"
    assert row.simulation_score_a == 0.5 and row.simulation_score_b == 0.55
    assert row.cos_decoder == pytest.approx(1.0, abs=1e-6)
