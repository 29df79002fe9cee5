from pathlib import Path

import pytest
import yaml

from autointerp.cli import main
from autointerp.errors import ConfigError, InputError
from autointerp.judging.prompts import load_prompt, load_prompt_file, prompt_files, rubrics_dir

SHIPPED = {"explain": "explain", "specificity": "specificity", "simulate-lines": "simulate", "simulate-json": "simulate"}


def test_shipped_files_validate_with_stable_hashes():
    specs = {p.stem: load_prompt_file(p) for p in prompt_files()}
    assert {k: s.stage for k, s in specs.items() if k in SHIPPED} == SHIPPED
    for stem, spec in specs.items():
        assert spec.id == stem
        assert len(spec.content_hash) == 64
    assert len({s.content_hash for s in specs.values()}) == len(specs)


def _write(tmp_path: Path, data: dict, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _base() -> dict:
    return yaml.safe_load((rubrics_dir() / "specificity.yaml").read_text())


def test_hash_ignores_layout_but_not_wording(tmp_path):
    data = _base()
    a = load_prompt_file(_write(tmp_path, data, "a.yaml"))
    b = load_prompt_file(_write(tmp_path, dict(reversed(list(data.items()))), "b.yaml"))
    assert a.content_hash == b.content_hash == load_prompt("specificity").content_hash
    data["system"] += " Be careful."
    assert load_prompt_file(_write(tmp_path, data, "c.yaml")).content_hash != a.content_hash


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d.update(user_template="{explanation} {contexts} {oops}"), "unknown placeholder"),
        (lambda d: d.update(user_template="{contexts}"), "lacks required placeholder"),
        (lambda d: d.update(user_template="{explanation} {contexts"), "not a valid format string"),
        (lambda d: d.update(parser={"name": "json_lists"}), "does not fit stage"),
        (lambda d: d.update(parser={"name": "nope"}), "does not fit stage"),
        (lambda d: d.update(parser={"name": "id_scores", "options": {"max_score": "x"}}), "max_score"),
        (lambda d: d.update(stage="judge"), "stage"),
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(extra_field=1), "extra_field"),
        (lambda d: d["examples"][0].pop("assistant"), "needs an 'assistant'"),
        (lambda d: d["examples"][0]["contexts"][0].update(highlight=99), "outside"),
        (lambda d: d.update(snippets={"bogus": "x"}), "unknown snippet"),
    ],
)
def test_invalid_files_give_one_line_errors(tmp_path, change, needle):
    data = _base()
    change(data)
    with pytest.raises(InputError) as err:
        load_prompt_file(_write(tmp_path, data))
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and str(tmp_path) in msg


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_prompt_file(bad)
    bad.write_text("- a list\n")
    with pytest.raises(InputError, match="mapping"):
        load_prompt_file(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_prompt_file(tmp_path / "missing.yaml")


def test_load_by_id_or_path_and_stage_check(tmp_path):
    assert load_prompt("explain", stage="explain").id == "explain"
    assert load_prompt(str(rubrics_dir() / "explain.yaml")).id == "explain"
    with pytest.raises(ConfigError, match="unknown prompt id 'nope'"):
        load_prompt("nope")
    with pytest.raises(ConfigError, match="expected 'explain'"):
        load_prompt("specificity", stage="explain")


def test_cli_validate_and_list(tmp_path, capsys):
    assert main(["rubrics", "validate"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == len(prompt_files())
    assert main(["rubrics", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("specificity ") for line in lines)
    starts = {line.index(line.split()[3]) for line in lines}  # 'sha256' in the header, the hash below
    assert len(starts) == 1, lines  # the hash column starts at the same place on every line (long stage names too)
    data = _base()
    data["user_template"] = "{nothing}"
    bad = _write(tmp_path, data, "bad.yaml")
    good = _write(tmp_path, _base(), "good.yaml")
    assert main(["rubrics", "validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "1 of 2 prompt file(s) are invalid" in captured.err
    assert "Traceback" not in captured.err


def test_committed_json_schema_matches_the_model():
    """rubrics/schema.json is PromptSpec's JSON schema (UPDATE_GOLDEN=1 rewrites it)."""
    import json
    import os

    from autointerp.judging.prompts import PromptSpec

    path = rubrics_dir() / "schema.json"
    current = json.dumps(PromptSpec.model_json_schema(), indent=2) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(current)
    assert path.read_text() == current
