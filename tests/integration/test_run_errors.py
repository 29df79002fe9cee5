"""Bad run configs exit non-zero with one line naming the field, never a traceback; --dry-run sends nothing."""

from __future__ import annotations

import pytest
import torch
import yaml

from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import save_saelens
from autointerp.cli import main
from tests.conftest import TINY_WORDS


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "docs.jsonl"
    rows = [{"text": " ".join(TINY_WORDS[(i * 7 + j) % len(TINY_WORDS)] for j in range(80))} for i in range(6)]
    path.write_text("\n".join(__import__("json").dumps(r) for r in rows))
    return path


def _sae(folder, d_in: int, d_sae: int = 16):
    W = torch.randn(d_sae, d_in, generator=torch.Generator().manual_seed(1))
    return save_saelens(make_sae("relu", W.T.clone(), torch.zeros(d_sae), W, torch.zeros(d_in)), folder)


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def _write(tmp_path, cfg: dict) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture
def base(tmp_path, tiny_llama_dir, corpus):
    return {"results_dir": str(tmp_path / "results"), "model": str(tiny_llama_dir), "corpus": str(corpus),
            "max_tokens": 300, "window": 16, "sae": str(_sae(tmp_path / "sae", 32)), "sae_site": "layers.1.resid_post",
            "features": 3, "neuron_site": "layers.1.mlp", "neurons": 3}


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"bogus_field": 1}, "bogus_field", "unknown field"),
        ({"max_tokens": "lots"}, "max_tokens", "integer"),
        ({"sampler": {"top_k": "many"}}, "sampler.top_k", "integer"),
        ({"sae": "/nonexistent/sae_dir"}, "sae", "not found"),
        ({"sae_site": "layers.9.resid_post"}, "sae_site", "out of range"),
        ({"neuron_site": "layers.1.banana"}, "neuron_site", "banana"),
        ({"features": 99}, "features", "only 16"),
        ({"backends": {"explain": "nope:model"}}, "backends.explain", "unknown backend"),
    ],
)
def test_bad_config_one_line(tmp_path, capsys, base, change, field, words):
    code, err = _run(capsys, ["run", "--config", _write(tmp_path, {**base, **change}), "--no-progress"])
    assert code != 0
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("autointerp: error:") and f"'{field}'" in err and words in err, err


def test_sae_width_mismatch_names_field(tmp_path, capsys, base):
    cfg = {**base, "sae": str(_sae(tmp_path / "wide", 40))}
    code, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg), "--no-progress"])
    assert code != 0 and len(err.splitlines()) == 1
    assert "'sae'" in err and "40" in err and "32" in err, err


def test_missing_config_file(tmp_path, capsys):
    code, err = _run(capsys, ["run", "--config", str(tmp_path / "nope.yaml")])
    assert code != 0 and len(err.splitlines()) == 1 and "nope.yaml" in err


def test_bad_flag_value(tmp_path, capsys, base):
    code, err = _run(capsys, ["run", "--config", _write(tmp_path, base), "--set", "sampler.n_bins=zero"])
    assert code != 0 and len(err.splitlines()) == 1 and "'sampler.n_bins'" in err


def test_dry_run_plans_without_sending(tmp_path, capsys, monkeypatch, base):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # keys are checked before sampling, even for a dry run
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    cfg = {**base, "backends": {"explain": "openai:gpt-4.1-mini", "rubric": "openai:gpt-4.1-mini",
                                "simulate": "anthropic:claude-sonnet-4-5"}}
    code = main(["run", "--config", _write(tmp_path, cfg), "--dry-run", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "6 units" in out and "nothing will be sent" in out
    lines = {line.split()[0]: line for line in out.splitlines()[1:4]}
    assert set(lines) == {"explain", "rubric", "simulate"}
    assert "requests      6" in lines["explain"] and "$" in lines["explain"]
    assert not (tmp_path / "results" / "run" / "explanations.jsonl").exists()
