"""Protocol presets: a preset sits under every field the user sets (file, flag, --set, --backend), the run is
labelled with the preset and the fields it changed, and `autointerp protocols list` shows every preset."""

from __future__ import annotations

import json

import pytest
import yaml

from autointerp.cli import build_parser, main
from autointerp.errors import ConfigError
from autointerp.runs.config import RunConfig, config_from_flags, load_config
from autointerp.scorers.catalog import SCORERS
from autointerp.scorers.protocols import PROTOCOLS, TABLE, covers, preset_values, protocol_label
from autointerp.types import ProtocolLabel


def _flags(argv: list[str], defaults: dict | None = None, kept: tuple[str, ...] = ()) -> RunConfig:
    return config_from_flags(vars(build_parser().parse_args(["run", *argv])), defaults, kept)


def test_every_preset_names_real_fields_and_is_valid_as_given():
    """Each preset alone validates, reproduces its own values and is labelled exact."""
    assert TABLE[0].name == "ours" and {"ours", "delphi", "saebench", "openai"} <= set(PROTOCOLS)
    for p in TABLE:
        cfg = load_config(None, {"protocol": p.name})
        dumped = cfg.model_dump(mode="json")
        for key, want in p.sets.items():
            node = dumped
            for k in key.split("."):
                node = node[k]
            assert node == json.loads(json.dumps(want)), (p.name, key)
        assert cfg.protocol_label == ProtocolLabel(name=p.name)
        assert str(cfg.protocol_label) == f"{p.name} protocol"
        if p.scorers:
            assert cfg.scorers == list(p.scorers)


def test_ours_is_the_default_and_changes_nothing():
    assert load_config(None, {}).protocol == "ours"
    assert load_config(None, {}).model_dump() == load_config(None, {"protocol": "ours"}).model_dump()
    assert RunConfig().protocol_label == ProtocolLabel(name="ours")


def test_explicit_fields_win_and_are_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"protocol": "saebench", "features": 7}))
    cfg = load_config(path, {"max_tokens": 5000})
    assert cfg.features == 7 and cfg.max_tokens == 5000  # file and flag over the preset
    assert cfg.saebench.backend == "openai:gpt-4o-mini"  # untouched preset value kept
    label = cfg.protocol_label
    assert [(m.field, m.value, m.preset) for m in label.modified] == [
        ("max_tokens", "5000", "2000000"), ("features", "7", "1000")]
    assert str(label) == "saebench protocol, modified: max_tokens 5000, features 7"
    # setting a preset field to the preset's own value is not a modification
    assert load_config(None, {"protocol": "saebench", "features": 1000}).protocol_label.exact


def test_explicit_backend_beats_the_presets_judge():
    """The preset's default judge (saebench.backend) gives way to --backend, backends.rubric and saebench.backend."""
    assert _flags(["--protocol", "saebench"]).saebench.backend == "openai:gpt-4o-mini"
    cfg = _flags(["--protocol", "saebench", "--backend", "openai-compat:judge@http://127.0.0.1:1/v1"])
    assert cfg.saebench.backend == "openai-compat:judge@http://127.0.0.1:1/v1"
    assert "saebench.backend openai-compat:judge@http://127.0.0.1:1/v1" in str(cfg.protocol_label)
    assert _flags(["--protocol", "saebench", "--set", "backends.rubric=local:x"]).saebench.backend == "local:x"
    cfg = _flags(["--protocol", "saebench", "--backend", "local:x", "--set", "saebench.backend=local:y"])
    assert cfg.saebench.backend == "local:y"  # the more specific explicit field wins over --backend


def test_protocol_from_file_flag_or_python():
    assert _flags(["--protocol", "saebench"]).features == 1000
    assert RunConfig(protocol="saebench", features=3).features == 3
    assert RunConfig(protocol="saebench").max_tokens == 2_000_000
    # a dumped config validates back to itself (the preset under it changes nothing)
    cfg = _flags(["--protocol", "saebench", "--features", "5"])
    assert RunConfig.model_validate(cfg.model_dump()) == cfg


def test_unknown_protocol_is_one_line(capsys):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"protocol": "anthropic"})
    assert "field 'protocol': unknown protocol 'anthropic'" in str(err.value) and "\n" not in str(err.value)
    assert "saebench" in str(err.value)


def test_demo_keeps_its_size_and_local_judge_under_a_preset():
    """`autointerp demo --protocol saebench` validates, stays small and offline, and says so in its label."""
    from autointerp.runs.demo import DEMO_KEPT, DEMO_SETTINGS

    cfg = _flags(["--protocol", "saebench"], {**DEMO_SETTINGS, "sae": "/x"}, DEMO_KEPT)
    assert (cfg.max_tokens, cfg.features) == (DEMO_SETTINGS["max_tokens"], DEMO_SETTINGS["features"])  # not the preset's
    assert cfg.scorers == ["saebench"]
    assert cfg.saebench.backend == "local:smollm2-135m"
    modified = {m.field for m in cfg.protocol_label.modified}
    assert {"max_tokens", "features", "saebench.backend"} <= modified
    for p in TABLE:  # every preset gives a valid demo config
        _flags(["--protocol", p.name], {**DEMO_SETTINGS, "sae": "/x"}, DEMO_KEPT)


def test_preset_values_are_data():
    assert preset_values("ours") == {}
    assert preset_values("saebench")["scorers"] == ["saebench"]
    assert protocol_label(load_config(None, {"protocol": "saebench", "window": 40})).name == "saebench"


def test_protocols_list(capsys):
    assert main(["protocols", "list"]) == 0
    out = capsys.readouterr().out
    for p in TABLE:
        assert f"\n{p.name}\n" in f"\n{out}" and p.reference in out
    assert "features 1000" in out and "saebench.backend openai:gpt-4o-mini" in out
    # a value's newline (delphi's embedding prefix) is shown escaped, so no field spills onto a line of its own
    assert "feature.\\nQuery:" in out and not any(line.startswith("Query:") for line in out.splitlines())


def test_a_preset_labels_every_scorer_whose_settings_it_sets():
    """delphi sets intruder and embedding values though it runs only detection and fuzzing by default: their
    numbers follow delphi's protocol and must say so; a scorer the preset does not touch stays ours."""
    assert preset_values("delphi")["scorers"] == ["detection", "fuzzing"]
    for scorer in ("detection", "fuzzing", "intruder", "embedding"):
        assert covers("delphi", scorer)
    assert not covers("delphi", "simulation") and not covers("saebench", "detection")
    for p in TABLE:
        set_sections = {key.split(".")[0] for key in p.sets if "." in key} - {"sampler", "explain", "backends"}
        covered = {SCORERS.get(name).config_field for name in (*p.scorers, *p.also_covers)}
        assert set_sections <= covered, p.name


def test_run_json_and_summary_record_the_label(tmp_path):
    from types import SimpleNamespace

    from autointerp.report.summary import run_info
    from autointerp.runs.pipeline import write_run_metadata

    cfg = load_config(None, {"protocol": "saebench", "features": 2, "results_dir": str(tmp_path)})
    cfg.run_dir.mkdir(parents=True)
    write_run_metadata(cfg, cfg.run_dir)
    meta = json.loads((cfg.run_dir / "run.json").read_text())
    assert ProtocolLabel.model_validate(meta["protocol"]) == cfg.protocol_label
    run = SimpleNamespace(meta=meta, config=cfg.model_dump(mode="json"), name="run", run_dir=cfg.run_dir)
    assert str(run_info(run).protocol) == "saebench protocol, modified: features 2"
    old = SimpleNamespace(meta={}, config={}, name="run", run_dir=cfg.run_dir)  # a run from before presets
    assert run_info(old).protocol == ProtocolLabel(name="ours")


def test_openai_preset_refuses_a_judge_without_prompt_logprobs_before_sampling():
    """OpenAI's estimator needs prompt logprobs: a chat API judge is refused in preflight, in one line."""
    from autointerp.runs.preflight import validate_backends

    judge = "openai-compatible:judge@http://127.0.0.1:9/v1"
    cfg = _flags(["--protocol", "openai", "--backend", judge])
    with pytest.raises(ConfigError) as err:
        validate_backends(cfg)
    msg = str(err.value)
    assert msg.startswith("field 'simulate.method': logprobs-all-at-once needs prompt logprobs") and "\n" not in msg
    validate_backends(_flags(["--protocol", "openai", "--backend", judge, "--set", "simulate.method=json-list"]))
    validate_backends(_flags(["--backend", judge]))  # ours: the method follows the backend
