"""RunConfig: YAML + dotted overrides, one-line field errors, seeded unit selection, stage hashes."""

from __future__ import annotations

import pytest
import yaml

from autointerp.errors import ConfigError
from autointerp.runs.config import STAGE_FIELDS, load_config, parse_set, select_units


def test_overrides_and_single_seed(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 7\nsampler:\n  top_k: 5\n")
    cfg = load_config(path, parse_set(["rubric.per_level=3", "sae=null"]))
    assert cfg.sampler.top_k == 5 and cfg.rubric.per_level == 3 and cfg.sae is None
    assert cfg.sampler.seed == 7  # the run seed seeds the sampler unless sampler.seed is set
    assert load_config(None, {"seed": 7, "sampler.seed": 2}).sampler.seed == 2


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"nope": 1}, "unknown field 'nope'"),
        ({"sampler.n_bins": "x"}, "field 'sampler.n_bins'"),
        ({"llm.max_concurrency": 0}, "field 'llm.max_concurrency'"),
        ({"features": "9-3"}, "field 'features'"),
    ],
)
def test_field_errors_are_one_line(overrides, expected):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n- not a mapping\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(bad)
    with pytest.raises(Exception, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_select_units_seeded_and_checked():
    a, b = select_units(5, 100, seed=1, field="features"), select_units(5, 100, seed=1, field="features")
    assert a == b and len(set(a)) == 5 and all(0 <= u < 100 for u in a)
    assert select_units(5, 100, seed=2, field="features") != a
    assert select_units("3-6", 10, 0, "neurons") == [3, 4, 5, 6]
    assert select_units([9, 1], 10, 0, "neurons") == [9, 1]
    with pytest.raises(ConfigError, match="field 'neurons': unit 10 out of range"):
        select_units([10], 10, 0, "neurons")
    with pytest.raises(ConfigError, match="only 4"):
        select_units(5, 4, 0, "features")


def test_stage_hashes_change_only_with_their_fields():
    base = load_config(None, {})
    rubric_change = load_config(None, {"rubric.per_level": 9})
    for stage in ("explain", "simulate"):
        assert base.part_hash(*STAGE_FIELDS[stage]) == rubric_change.part_hash(*STAGE_FIELDS[stage])
    assert base.part_hash(*STAGE_FIELDS["rubric"]) != rubric_change.part_hash(*STAGE_FIELDS["rubric"])
    assert base.config_hash() == load_config(None, {"name": "other", "llm.max_cost": 3}).config_hash()


def test_editing_a_prompt_file_changes_the_hash_of_the_stages_that_read_it(tmp_path):
    """Stage params include prompts by content: a run re-does a stage whose prompt text changed, and only that."""
    import os
    import shutil

    from autointerp.judging.prompts import rubrics_dir
    from autointerp.runs.config import STAGE_FIELDS, RunConfig

    path = tmp_path / "my_explain.yaml"
    shutil.copy(rubrics_dir() / "explain.yaml", path)
    config = RunConfig.model_validate({"explain": {"prompt": str(path)}})
    before = {s: config.part_hash(*STAGE_FIELDS[s]) for s in ("explain", "rubric", "saebench")}
    data = yaml.safe_load(path.read_text())
    data["notes"] = str(data.get("notes", "")) + " One more sentence."
    path.write_text(yaml.safe_dump(data))
    os.utime(path, ns=(1, path.stat().st_mtime_ns + 10**9))
    from autointerp.judging.prompts import load_prompt

    assert load_prompt(str(path)).content_hash  # still a valid prompt file
    after = {s: config.part_hash(*STAGE_FIELDS[s]) for s in ("explain", "rubric", "saebench")}
    assert after["explain"] != before["explain"] and after["rubric"] != before["rubric"]  # rubric reads explanations
    assert after["saebench"] == before["saebench"]  # its own explainer prompt, untouched


def test_a_local_explainer_gets_the_answer_prefill_unless_set():
    """`run --backend local` works outside the demo: the local explainer's reply starts with 'Explanation:'."""
    from autointerp.runs.config import RunConfig

    local = RunConfig.model_validate({"backends": {"explain": "local:smollm2-135m"}})
    assert local.explain.answer_prefill == "Explanation:"
    api = RunConfig.model_validate({"backends": {"explain": "openai:gpt-4.1-mini"}})
    assert api.explain.answer_prefill == ""
    off = RunConfig.model_validate({"backends": {"explain": "local"}, "explain": {"answer_prefill": ""}})
    assert off.explain.answer_prefill == ""
