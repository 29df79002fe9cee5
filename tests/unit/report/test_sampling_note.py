"""Comparison figures state whether the groups were sampled alike, and how they differ when not."""

from __future__ import annotations

import yaml

from autointerp.report import compare_runs
from autointerp.report.load import load_run
from autointerp.report.sampling import between_runs_note, config_differences, within_run_note
from tests.unit.report.synthetic import make_run


def test_config_differences_name_every_sampling_or_judging_key():
    a = {"corpus": "brown", "max_tokens": 1000, "sampler": {"n_random": 4, "top_k": 6}, "name": "a", "sae": "x"}
    b = {"corpus": "brown", "max_tokens": 2000, "sampler": {"n_random": 8, "top_k": 6}, "name": "b", "sae": "y"}
    assert config_differences(a, b) == [("max_tokens", 1000, 2000), ("sampler.n_random", 4, 8)]
    assert config_differences(a, a) == []


def test_notes_within_a_run_and_between_runs(run_a, tmp_path):
    data = load_run(run_a[0])
    note = within_run_note(data, ["feature", "neuron"])
    assert note.startswith("sampling: same held-out mix per unit for features and neurons (median 0/8/3")
    other = tmp_path / "run_c"
    make_run(other, seed=2)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    (other / "config.yaml").write_text(yaml.safe_dump({**cfg, "max_tokens": 99, "rubric": {"n_random": 9}}))
    note = between_runs_note(data, load_run(other))
    assert note == "sampling differs between A and B: max_tokens None vs 99; rubric.n_random None vs 9"
    summary = compare_runs(run_a[0], other, tmp_path / "cmp", n_resamples=99)
    assert summary.sampling_note == note
    assert note in (tmp_path / "cmp" / "compare.html").read_text()
    assert "sampling differs between A and B" in (tmp_path / "cmp" / "compare.svg").read_text()
