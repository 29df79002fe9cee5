import json

import pytest

from autointerp.errors import InputError
from autointerp.report.load import judgements_frame, load_run, read_stage, units_frame
from autointerp.types import Explanation


def test_latest_record_per_unit_and_statuses(run_a):
    path, facts = run_a
    run = load_run(path)
    # unit 3 failed then succeeded: the ok record wins; unit 2 only failed
    assert run.explanations["sae:toy#3"].ok
    assert not run.explanations["sae:toy#2"].ok
    units = units_frame(run).set_index("unit")
    assert list(units.index[:12]) == [f"sae:toy#{i}" for i in range(12)]  # features first, by index
    assert units.loc["sae:toy#2", "explanation_status"] == "failed"
    assert units.loc["sae:toy#2", "simulation_status"] == "failed"  # upstream failure propagates
    assert not units.loc["sae:toy#2", "ok"] and "explain: malformed answer" in units.loc["sae:toy#2", "errors"]
    assert units.loc["sae:toy#7", "simulation_status"] == "undefined"
    assert units.loc["neurons:layers.0.mlp#4", "specificity_status"] == "failed"
    assert units.loc["sae:toy#1", "flags"] == "rare"
    ok_sim = units[units["simulation_status"] == "ok"]["simulation_score"].to_dict()
    assert ok_sim == pytest.approx(facts["sim"])


def test_mean_specificity_uses_activating_ok_judgements_only(run_a):
    path, facts = run_a
    units = units_frame(load_run(path)).set_index("unit")
    got = units.loc[units["specificity_status"] == "ok", "mean_specificity"].to_dict()
    assert got == pytest.approx(facts["spec"])
    assert units.loc["sae:toy#5", "n_judgements_failed"] == 1


def test_judgements_frame_counts(run_a):
    path, facts = run_a
    j = judgements_frame(load_run(path))
    assert (~j["ok"]).sum() == facts["failed_judgements"]
    assert j.loc[~j["ok"], "score"].isna().all()
    assert set(j["level"]) == {-1, 0, 1, 2, 3}


def _line(unit: str, record: dict, ok: bool = True) -> str:
    return json.dumps({"unit": unit, "params": "p", "ok": ok, "record": record}) + "\n"


def test_latest_rule_last_ok_else_last_failed(tmp_path):
    prov = {"backend": "b", "model": "m", "prompt_id": "p", "prompt_version": "1", "prompt_hash": "h"}
    unit = {"basis": "sae:x", "index": 0}
    ok = {"unit": unit, "ok": True, "text": "first", "provenance": prov}
    later_ok = {**ok, "text": "second"}
    failed = {"unit": unit, "ok": False, "error": "e1", "provenance": prov}
    path = tmp_path / "explanations.jsonl"
    path.write_text(_line("sae:x#0", ok) + _line("sae:x#0", later_ok) + _line("sae:x#0", failed, ok=False))
    run = load_run(tmp_path)
    assert run.explanations["sae:x#0"].text == "second"
    path.write_text(_line("sae:x#0", failed, ok=False) + _line("sae:x#0", {**failed, "error": "e2"}, ok=False))
    assert load_run(tmp_path).explanations["sae:x#0"].error == "e2"


def test_corrupt_line_names_file_and_line(tmp_path):
    path = tmp_path / "explanations.jsonl"
    path.write_text('\n{"unit": "a#0", "ok": true, "record": {}}\n')
    with pytest.raises(InputError, match=r"explanations\.jsonl:2: invalid Explanation record: field unit"):
        read_stage(path, Explanation)
    path.write_text('{"unit": "a#0", ok: true, "record": {}}\n')
    with pytest.raises(InputError, match=r"explanations\.jsonl:1: not valid JSON"):
        read_stage(path, Explanation)
    path.write_text('{"unit": "a#0"}\n')
    with pytest.raises(InputError, match=r":1: expected an object with keys"):
        read_stage(path, Explanation)


def test_torn_last_line_is_skipped_like_the_store(run_a, tmp_path):
    src, _ = run_a
    for name in ("units.jsonl", "explanations.jsonl"):
        (tmp_path / name).write_text((src / name).read_text())
    with open(tmp_path / "explanations.jsonl", "a") as fh:
        fh.write('{"unit": "sae:toy#0", "params": "p", "ok": tr')
    assert len(load_run(tmp_path).explanations) == len(load_run(src).explanations)


def test_missing_or_empty_run_folder(tmp_path):
    with pytest.raises(InputError, match="run folder not found"):
        load_run(tmp_path / "nope")
    with pytest.raises(InputError, match="no records found"):
        load_run(tmp_path)


def test_bad_config_yaml(run_a, tmp_path):
    src, _ = run_a
    (tmp_path / "units.jsonl").write_text((src / "units.jsonl").read_text())
    (tmp_path / "config.yaml").write_text("- a\n- b\n")
    with pytest.raises(InputError, match=r"config\.yaml: expected a mapping"):
        load_run(tmp_path)
