"""Run flags and config layering: explicit 'none' overrides a file, the demo's defaults sit under --config,
unit specs parse as documented, errors say things once, and a few run-folder/secret helpers."""

from __future__ import annotations

import argparse

import pytest
import yaml

from autointerp.cli import build_parser, main
from autointerp.errors import ConfigError
from autointerp.runs.config import load_config, select_units
from autointerp.secrets import redact_text, redact_tree, redact_url


def _args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _config(argv: list[str]):
    from autointerp.cli.run import config_from_args

    return config_from_args(_args(argv))


@pytest.fixture
def cfg_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"sae": "/some/sae", "neuron_site": "layers.2.mlp", "features": 4, "name": "f"}))
    return str(path)


def test_none_flags_override_the_config_file(cfg_file):
    assert _config(["run", "--config", cfg_file]).sae == "/some/sae"
    cfg = _config(["run", "--config", cfg_file, "--sae", "none", "--neuron-site", "none"])
    assert cfg.sae is None and cfg.neuron_site is None
    assert _config(["run", "--config", cfg_file, "--neuron-site", "null"]).neuron_site is None
    # flags not given leave the file's values alone
    assert _config(["run", "--config", cfg_file, "--seed", "3"]).neuron_site == "layers.2.mlp"


@pytest.mark.parametrize(
    "text, expected", [("7", 7), ("1,5,9", [1, 5, 9]), ("[1, 5]", [1, 5]), ("[3]", [3]), ("0-99", "0-99")]
)
def test_features_flag_accepts_what_its_help_documents(text, expected):
    assert _config(["run", "--features", text, "--sae", "x"]).features == expected


def test_features_help_matches_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "a list 1,5,9 (or [1, 5, 9])" in out and "a range 0-99" in out


@pytest.mark.parametrize("text", ["-3", "a,b", "1-", "[1, x]", "lots"])
def test_bad_unit_flags_are_one_line_and_say_it_once(capsys, text):
    with pytest.raises(SystemExit) as exc:  # argparse's own exit, through our one-line error()
        main(["run", "--features", text])
    code = exc.value.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.count(repr(text)) == 1, err


@pytest.mark.parametrize("value", [-3, "-3", [2, -1]])
def test_config_errors_do_not_repeat_the_value(value):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"features": value})
    assert str(err.value).count("got") == 1, err.value


@pytest.mark.parametrize("value", [True, False, [1, True]])
def test_booleans_are_not_unit_specs(tmp_path, value):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"features": value, "sae": "x"}))
    with pytest.raises(ConfigError, match="field 'features'"):
        load_config(path)


def test_zero_neurons_points_to_neuron_site_none():
    with pytest.raises(ConfigError, match=r"--neuron-site none"):
        load_config(None, {"neurons": 0})
    with pytest.raises(ConfigError, match=r"--sae none"):
        load_config(None, {"sae": "x", "features": 0})
    assert load_config(None, {"neurons": 0, "neuron_site": None}).neuron_site is None


def test_duplicate_units_are_dropped():
    assert load_config(None, {"features": [3, 3, 5], "sae": "x"}).features == [3, 5]
    assert select_units([3, 3, 5], 10, 0, "features") == [3, 5]


@pytest.mark.parametrize("name", ["../..", "..", "a/b", "/etc", ""])
def test_run_name_must_be_a_plain_folder_name(name):
    with pytest.raises(ConfigError, match="field 'name'"):
        load_config(None, {"name": name})


def test_demo_config_file_is_honoured_under_flags(tmp_path, monkeypatch):
    """demo --config FILE: the demo's settings < the file < flags; a file that sets 'sae' skips the demo SAE."""
    from autointerp.runs import demo

    monkeypatch.setattr(demo, "demo_sae", lambda *a, **k: pytest.fail("the demo SAE must not be trained"))
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({"sae": None, "window": 48, "explain": {"n_top": 2}, "neurons": 5}))
    cfg = demo.demo_config(_args(["demo", "--config", str(path), "--neurons", "7"]))
    assert cfg.sae is None and cfg.window == 48 and cfg.neurons == 7
    kept = demo.DEMO_SETTINGS  # file over demo default, demo default kept (whatever the demo's sizes are)
    assert cfg.explain.n_top == 2 and cfg.explain.n_quantile == kept["explain.n_quantile"]
    assert cfg.name == "demo" and cfg.max_tokens == kept["max_tokens"]


def test_demo_help_shows_the_demo_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: demo)" in out and "(default: 32)" in out and "(default: 20000)" in out
    assert "explain.n_top=6" in out and "(default: run)" not in out


def test_redaction():
    assert redact_url("http://user:pw@host:8000/v1") == "http://user:***@host:8000/v1"
    assert redact_url("https://tok@host/v1?api_key=abc&x=1") == "https://***@host/v1?api_key=***&x=1"
    assert redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert redact_text("failed: http://u:pw@h/v1 down") == "failed: http://u:***@h/v1 down"
    assert redact_tree({"b": ["openai-compatible:m@http://u:pw@h/v1"]}) == {
        "b": ["openai-compatible:m@http://u:***@h/v1"]
    }


def test_a_closed_pipe_ends_a_listing_quietly():
    """`autointerp rubrics list | head -1`: the reader has left; no traceback, exit 141 (SIGPIPE)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "autointerp", "rubrics", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, bufsize=0)  # fmt: skip
    proc.stdout.close()  # the reader goes away before the listing is written (the interpreter takes a second to start)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err
