"""Issue 19: the bad-input suite. Inputs a user can produce, for every CLI verb and every input kind; each must give
one line naming the problem, a non-zero exit, no traceback, and leave everything already computed untouched.

Fast by construction: every case calls ``autointerp.cli.main(argv)`` in this process on tiny inputs (a 4-layer
random LLaMA with a word-level tokenizer, a 24-latent SAE, a synthetic finished run), and the inputs are built once
per module. The table of cases (verb x kind) is printed by ``python -m tests.integration.test_bad_inputs``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from autointerp.cli import main
from tests.conftest import TINY_WORDS
from tests.support.api_server import ApiServer
from tests.support.judge_answers import handler

D_MODEL, D_SAE, SITE = 32, 24, "layers.1.resid_post"


@dataclass(frozen=True)
class Case:
    id: str
    verb: str
    kind: str
    argv: Callable[[Path], list[str]]  # the world folder -> argv
    words: str  # must appear in the one line
    code: int = 2


# ------------------------------------------------------------------------------------------------ the inputs
def _sae(folder: Path, *, d_in: int = D_MODEL, drop: tuple = (), seed: int = 0, **cfg) -> Path:
    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    w = {"W_enc": torch.randn(d_in, D_SAE, generator=g), "b_enc": torch.zeros(D_SAE),
         "W_dec": torch.randn(D_SAE, d_in, generator=g), "b_dec": torch.zeros(d_in)}
    save_file({k: v for k, v in w.items() if k not in drop}, str(folder / "sae_weights.safetensors"))
    config = {"architecture": "topk", "k": 4, "d_in": d_in, "d_sae": D_SAE, "apply_b_dec_to_input": True,
              "normalize_activations": "none", "hook_name": SITE, **cfg}
    (folder / "cfg.json").write_text(json.dumps(config))
    return folder


def _run_cfg(world: Path, **over) -> dict:
    cfg = {"results_dir": str(world / "results"), "model": str(world / "model"), "corpus": str(world / "docs.jsonl"),
           "max_tokens": 200, "window": 8, "sae": None, "neuron_site": "layers.1.mlp", "neurons": 3,
           "backends": {"explain": "local", "rubric": "local", "simulate": "local"}}
    return {**cfg, **over}


def _config(world: Path, file: str, **over) -> str:
    path = world / "configs" / f"{file}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(_run_cfg(world, **over)))
    return str(path)


def _raw(world: Path, name: str, text: str | bytes) -> str:
    path = world / "configs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def build_world(world: Path, tiny_llama_dir: Path) -> None:
    shutil.copytree(tiny_llama_dir, world / "model")
    rows = [{"text": " ".join(TINY_WORDS[(i * 5 + j) % len(TINY_WORDS)] for j in range(40))} for i in range(6)]
    (world / "docs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (world / "empty.jsonl").write_text("")
    (world / "blank.txt").write_text("\n\n  \n")
    (world / "latin1.txt").write_bytes("caf\xe9 na\xefve r\xe9sum\xe9 ".encode("latin-1") * 50)
    (world / "broken.jsonl").write_text('{"text": "the cat"}\n{"text": "the\n')
    (world / "nofield.jsonl").write_text(json.dumps({"body": "the cat sat"}) + "\n")
    (world / "a_file").write_text("not a folder")
    sae = world / "sae"
    _sae(sae / "good")
    _sae(sae / "big_k", k=999)
    shutil.copytree(sae / "good", sae / "no_cfg")
    (sae / "no_cfg" / "cfg.json").unlink()
    _sae(sae / "no_b_enc", drop=("b_enc",))
    _sae(sae / "no_w_enc", drop=("W_enc",))
    _sae(sae / "narrow", d_in=16)
    _sae(sae / "wide_model", d_in=48)  # compare-dicts: another model's width
    _sae(sae / "other_size", seed=1)  # compare-dicts: same width, fine
    _sae(sae / "unknown_key", frobnicate=True)
    _sae(sae / "wrong_hook", hook_name="layers.3.resid_post")
    _sae(sae / "bad_arch", architecture="transcoder")
    _sae(sae / "d_in_lies", d_in=D_MODEL).joinpath("cfg.json").write_text(
        json.dumps({"architecture": "topk", "k": 4, "d_in": 99, "d_sae": D_SAE, "hook_name": SITE}))
    (sae / "bad_json").mkdir()
    shutil.copy(sae / "good" / "sae_weights.safetensors", sae / "bad_json")
    (sae / "bad_json" / "cfg.json").write_text("{not json")
    (sae / "garbage_weights").mkdir()
    shutil.copy(sae / "good" / "cfg.json", sae / "garbage_weights")
    (sae / "garbage_weights" / "sae_weights.safetensors").write_bytes(b"\x00garbage" * 10)
    (sae / "empty_dir").mkdir()
    t = load_file(str(sae / "good" / "sae_weights.safetensors"))
    (sae / "plain_extra").mkdir()
    save_file({**t, "gate": torch.zeros(D_SAE)}, str(sae / "plain_extra" / "mine.safetensors"))
    (sae / "sparsify").mkdir()
    save_file({"encoder.weight": t["W_enc"].T.contiguous(), "encoder.bias": t["b_enc"], "W_dec": t["W_dec"]},
              str(sae / "sparsify" / "sae.safetensors"))  # no b_dec
    (sae / "sparsify" / "cfg.json").write_text(json.dumps({"k": 4, "num_latents": D_SAE, "d_in": D_MODEL}))
    (sae / "dl").mkdir()
    (sae / "dl" / "ae.pt").write_bytes(b"PK\x03\x04 not a torch file")
    (sae / "dl" / "config.json").write_text(json.dumps({"trainer": {"dict_class": "AutoEncoder"}}))
    # a finished run (synthetic, through the real store) and one from a newer schema
    from tests.unit.report.synthetic import make_run

    make_run(world / "results" / "finished", seed=0)
    (world / "results" / "not_a_run").mkdir()
    # shards of one sampling pass, and one of another config
    common = ["sample", "--model", str(world / "model"), "--site", "layers.1.mlp", "--neurons", "--corpus",
              str(world / "docs.jsonl"), "--max-tokens", "200", "--window", "8", "--no-progress"]
    for i in range(2):
        assert main([*common, "--shard", f"{i}/2", "--out", str(world / "shards" / f"s{i}")]) == 0
    assert main([*common, "--shard", "1/2", "--top-k", "3", "--out", str(world / "shards" / "other")]) == 0
    (world / "shards" / "empty").mkdir()
    (world / "shards" / "corrupt").mkdir()
    (world / "shards" / "corrupt" / "state.pt").write_bytes(b"not a state")
    # a finished run of the tiny model for attribute (judged by the loopback server)
    with ApiServer(handler=handler) as server:
        spec = f"openai-compatible:fake@{server.openai_base_url}"
        cfg = _config(world, "sampled", name="sampled", backends={"explain": spec, "rubric": spec, "simulate": spec})
        assert main(["run", "--config", cfg, "--no-progress"]) in (0, 5)
    # the same run as a newer autointerp would have left it
    shutil.copytree(world / "results" / "sampled", world / "results" / "newer")
    for stage in ("units", "explanations"):
        path = world / "results" / "newer" / f"{stage}.jsonl"
        lines = path.read_text().splitlines()
        newer = json.loads(lines[-1])
        newer["record"]["schema_version"] = 99
        path.write_text("\n".join([*lines, json.dumps(newer)]) + "\n")
    for index in (world / "results" / "newer" / "samples").glob("*/index.json"):
        index.write_text(json.dumps({**json.loads(index.read_text()), "format_version": 99}))


# ------------------------------------------------------------------------------------------------ the cases
R = "run"
CASES: list[Case] = [
    # run: config files
    Case("config-missing", R, "config", lambda w: ["run", "--config", str(w / "nope.yaml")], "nope.yaml"),
    Case("config-not-yaml", R, "config", lambda w: ["run", "--config", _raw(w, "bad.yaml", "a: [1, 2\nb: }")],
         "bad.yaml"),
    Case("config-a-list", R, "config", lambda w: ["run", "--config", _raw(w, "list.yaml", "- 1\n- 2\n")], "list.yaml"),
    Case("config-not-utf8", R, "config", lambda w: ["run", "--config", _raw(w, "l1.yaml", b"name: caf\xe9\n")],
         "l1.yaml"),
    Case("config-unknown-key", R, "config", lambda w: ["run", "--config", _config(w, "uk", windw=16)], "windw"),
    Case("config-unknown-nested-key", R, "config",
         lambda w: ["run", "--config", _config(w, "unk", explain={"n_topp": 3})], "n_topp"),
    Case("config-wrong-type", R, "config", lambda w: ["run", "--config", _config(w, "wt", max_tokens="lots")],
         "max_tokens"),
    Case("config-wrong-type-nested", R, "config",
         lambda w: ["run", "--config", _config(w, "wtn", sampler={"top_k": "many"})], "top_k"),
    Case("config-negative", R, "config", lambda w: ["run", "--config", _config(w, "neg", window=-4)], "window"),
    Case("config-scorer-unknown", R, "config",
         lambda w: ["run", "--config", _config(w, "sc", scorers=["specificity", "vibes"])], "vibes"),
    Case("config-backend-unknown", R, "config",
         lambda w: ["run", "--config", _config(w, "bk", backends={"explain": "opnai:gpt", "rubric": "local",
                                                                    "simulate": "local"})], "opnai"),
    Case("set-no-equals", R, "flags", lambda w: ["run", "--config", _config(w, "ok1"), "--set", "window"], "window"),
    Case("set-unknown-field", R, "flags", lambda w: ["run", "--config", _config(w, "ok2"), "--set", "nosuch.x=1"],
         "nosuch"),
    Case("flag-features-bad", R, "flags", lambda w: ["run", "--config", _config(w, "ok3"), "--features", "a-b"],
         "--features"),
    Case("flag-max-cost-text", R, "flags", lambda w: ["run", "--config", _config(w, "ok4"), "--max-cost", "cheap"],
         "--max-cost"),
    Case("flag-unknown", R, "flags", lambda w: ["run", "--frobnicate"], "--frobnicate"),
    Case("model-missing", R, "model", lambda w: ["run", "--config", _config(w, "mm", model=str(w / "no_model"))],
         "no_model"),
    Case("model-not-a-model", R, "model", lambda w: ["run", "--config", _config(w, "mn", model=str(w / "sae"))],
         "sae"),
    Case("site-out-of-range", R, "site", lambda w: ["run", "--config", _config(w, "s1", neuron_site="layers.9.mlp")],
         "layers.9"),
    Case("site-nonsense", R, "site", lambda w: ["run", "--config", _config(w, "s2", neuron_site="the_mlp")], "the_mlp"),
    Case("units-beyond-width", R, "site",
         lambda w: ["run", "--config", _config(w, "ub", neurons=[3, 999])], "999"),
    Case("corpus-missing", R, "corpus", lambda w: ["run", "--config", _config(w, "c1", corpus=str(w / "no.jsonl"))],
         "no.jsonl"),
    Case("corpus-empty", R, "corpus", lambda w: ["run", "--config", _config(w, "c2", corpus=str(w / "empty.jsonl"))],
         "empty.jsonl"),
    Case("corpus-blank-lines", R, "corpus", lambda w: ["run", "--config", _config(w, "c3", corpus=str(w / "blank.txt"))],
         "blank.txt"),
    Case("corpus-not-utf8", R, "corpus", lambda w: ["run", "--config", _config(w, "c4", corpus=str(w / "latin1.txt"))],
         "latin1.txt"),
    Case("corpus-broken-jsonl", R, "corpus",
         lambda w: ["run", "--config", _config(w, "c5", corpus=str(w / "broken.jsonl"))], "broken.jsonl"),
    Case("corpus-missing-field", R, "corpus",
         lambda w: ["run", "--config", _config(w, "c6", corpus=str(w / "nofield.jsonl"))], "text"),
    Case("corpus-unknown-package", R, "corpus", lambda w: ["run", "--config", _config(w, "c7", corpus="brwn")],
         "brwn"),
    Case("results-is-a-file", R, "folder",
         lambda w: ["run", "--config", _config(w, "r1", results_dir=str(w / "a_file"))], "a_file", 7),
    Case("results-under-a-file", R, "folder",
         lambda w: ["run", "--config", _config(w, "r2", results_dir=str(w / "a_file" / "res"))], "a_file", 7),
    Case("results-unwritable", R, "folder",
         lambda w: ["run", "--config", _config(w, "r3", results_dir="/proc/autointerp-results")], "/proc", 7),
    Case("name-escapes", R, "folder", lambda w: ["run", "--config", _config(w, "r4", name="../../x")], "name"),
    Case("run-newer-schema", R, "results",
         lambda w: ["run", "--config", _config(w, "r5", name="newer"), "--dry-run"], "schema"),
]

SAE_CASES = [  # (folder, words): each through run --dry-run, run and sample
    ("big_k", "k=999"), ("no_cfg", "without their cfg.json"), ("no_b_enc", "no tensor b_enc"),
    ("no_w_enc", "no tensor W_enc"), ("narrow", "d_in=16"), ("unknown_key", "frobnicate"),
    ("wrong_hook", "layers.3"), ("bad_arch", "transcoder"), ("d_in_lies", "d_in=99"), ("bad_json", "cfg.json"),
    ("garbage_weights", "sae_weights.safetensors"), ("empty_dir", "unrecognised layout"),
    ("plain_extra", "gate"), ("sparsify", "b_dec"), ("dl", "ae.pt"), ("missing", "not found"),
]
for folder, words in SAE_CASES:
    CASES.append(Case(f"sae-{folder}-dry-run", R, "sae", lambda w, f=folder: [
        "run", "--config", _config(w, f"sae_{f}", sae=str(w / "sae" / f), sae_site=SITE, features=3), "--dry-run"],
        words))
for folder, words in SAE_CASES[:8]:
    CASES.append(Case(f"sae-{folder}", "sample", "sae", lambda w, f=folder: [
        "sample", "--model", str(w / "model"), "--site", SITE, "--sae", str(w / "sae" / f), "--corpus",
        str(w / "docs.jsonl"), "--out", str(w / "out" / f"sample_{f}"), "--no-progress"], words))


def _sampled_unit(w: Path) -> str:
    return json.loads((w / "results" / "sampled" / "run.json").read_text())["units"][0]


def _sample(w: Path, *extra: str, corpus: str = "docs.jsonl") -> list[str]:
    return ["sample", "--model", str(w / "model"), "--site", "layers.1.mlp", "--neurons", "--corpus", str(w / corpus),
            "--out", str(w / "out" / "sample"), "--no-progress", *extra]


CASES += [
    Case("shard-3-of-2", "sample", "shard", lambda w: _sample(w, "--shard", "3/2"), "3/2"),
    Case("shard-zero-count", "sample", "shard", lambda w: _sample(w, "--shard", "0/0"), "0/0"),
    Case("shard-text", "sample", "shard", lambda w: _sample(w, "--shard", "half"), "half"),
    Case("units-reversed", "sample", "flags", lambda w: _sample(w, "--units", "9-2"), "9-2"),
    Case("units-beyond", "sample", "flags", lambda w: _sample(w, "--units", "0,4000"), "4000"),
    Case("window-zero", "sample", "flags", lambda w: _sample(w, "--window", "0"), "window"),
    Case("sample-corpus-empty", "sample", "corpus", lambda w: _sample(w, corpus="empty.jsonl"), "empty.jsonl"),
    Case("sample-corpus-not-utf8", "sample", "corpus", lambda w: _sample(w, corpus="latin1.txt"), "latin1.txt"),
    Case("sample-out-is-a-file", "sample", "folder", lambda w: _sample(w, "--out", str(w / "a_file")), "a_file", 7),
    Case("sample-format-unknown", "sample", "sae", lambda w: [
        "sample", "--model", str(w / "model"), "--site", SITE, "--sae", str(w / "sae" / "good"), "--sae-format",
        "safetensorz", "--corpus", str(w / "docs.jsonl"), "--out", str(w / "out" / "fmt")], "safetensorz"),
    # merge
    Case("merge-different-configs", "merge", "shards",
         lambda w: ["merge", str(w / "shards" / "s0"), str(w / "shards" / "other"), "--out", str(w / "out" / "m1")],
         "differs"),
    Case("merge-missing-shard", "merge", "shards",
         lambda w: ["merge", str(w / "shards" / "s0"), "--out", str(w / "out" / "m2")], "missing"),
    Case("merge-twice", "merge", "shards", lambda w: [
        "merge", str(w / "shards" / "s0"), str(w / "shards" / "s0"), "--out", str(w / "out" / "m3")], "twice"),
    Case("merge-not-a-shard", "merge", "shards",
         lambda w: ["merge", str(w / "shards" / "empty"), "--out", str(w / "out" / "m4")], "state.pt"),
    Case("merge-corrupt", "merge", "shards",
         lambda w: ["merge", str(w / "shards" / "corrupt"), "--out", str(w / "out" / "m5")], "state.pt"),
    Case("merge-out-is-a-file", "merge", "folder", lambda w: [
        "merge", str(w / "shards" / "s0"), str(w / "shards" / "s1"), "--out", str(w / "a_file")], "a_file", 7),
    # compare
    Case("compare-missing", "compare", "results",
         lambda w: ["compare", str(w / "results" / "finished"), str(w / "results" / "nope")], "nope"),
    Case("compare-same-run", "compare", "results",
         lambda w: ["compare", str(w / "results" / "finished"), str(w / "results" / "finished")], "same run folder"),
    Case("compare-not-a-run", "compare", "results",
         lambda w: ["compare", str(w / "results" / "finished"), str(w / "results" / "not_a_run")], "not_a_run"),
    Case("compare-newer-schema", "compare", "results",
         lambda w: ["compare", str(w / "results" / "finished"), str(w / "results" / "newer")], "schema"),
    Case("compare-out-is-a-file", "compare", "folder", lambda w: [
        "compare", str(w / "results" / "finished"), str(w / "results" / "sampled"), "--out", str(w / "a_file")],
        "a_file", 7),
    # compare-dicts
    Case("dicts-different-d-model", "compare-dicts", "sae", lambda w: [
        "compare-dicts", str(w / "sae" / "good"), str(w / "sae" / "wide_model"), "--out", str(w / "out" / "d1")],
        "width"),
    Case("dicts-missing", "compare-dicts", "sae", lambda w: [
        "compare-dicts", str(w / "sae" / "good"), str(w / "sae" / "nope"), "--out", str(w / "out" / "d2")], "nope"),
    Case("dicts-bad-neurons-spec", "compare-dicts", "flags", lambda w: [
        "compare-dicts", str(w / "sae" / "good"), "neurons:nomodel", "--out", str(w / "out" / "d3")], "neurons:"),
    Case("dicts-chunk-zero", "compare-dicts", "flags", lambda w: [
        "compare-dicts", str(w / "sae" / "good"), str(w / "sae" / "other_size"), "--chunk", "0", "--out",
        str(w / "out" / "d4")], "chunk"),
    Case("dicts-big-k", "compare-dicts", "sae", lambda w: [
        "compare-dicts", str(w / "sae" / "good"), str(w / "sae" / "big_k"), "--out", str(w / "out" / "d5")], "k=999"),
    Case("dicts-format-unknown", "compare-dicts", "flags", lambda w: [
        "compare-dicts", str(w / "sae" / "good"), str(w / "sae" / "good"), "--format-a", "pt", "--out",
        str(w / "out" / "d6")], "'pt'"),
    Case("dicts-out-is-a-file", "compare-dicts", "folder", lambda w: [
        "compare-dicts", str(w / "sae" / "good"), str(w / "sae" / "other_size"), "--out", str(w / "a_file"),
        "--no-progress"], "a_file", 7),
    # attribute
    Case("attribute-missing-run", "attribute", "results",
         lambda w: ["attribute", str(w / "results" / "nope"), "--unit", "neuron#0"], "nope"),
    Case("attribute-bad-unit", "attribute", "flags",
         lambda w: ["attribute", str(w / "results" / "sampled"), "--unit", "cat"], "cat"),
    Case("attribute-unit-not-in-run", "attribute", "results",
         lambda w: ["attribute", str(w / "results" / "sampled"), "--unit", "neuron#40"], "40"),
    Case("attribute-contexts-zero", "attribute", "flags",
         lambda w: ["attribute", str(w / "results" / "sampled"), "--unit", "neuron#0", "--contexts", "0"], "contexts"),
    Case("attribute-neutral-two-tokens", "attribute", "flags", lambda w: [
        "attribute", str(w / "results" / "sampled"), "--unit", _sampled_unit(w), "--neutral", "big red house"],
        "neutral"),
    Case("attribute-newer-schema", "attribute", "results",
         lambda w: ["attribute", str(w / "results" / "newer"), "--unit", _sampled_unit(w)], "format_version 99"),
    Case("attribute-not-a-run", "attribute", "results",
         lambda w: ["attribute", str(w / "results" / "not_a_run"), "--unit", "neuron#0"], "not_a_run"),
    # report
    Case("report-missing", "report", "results", lambda w: ["report", str(w / "results" / "nope")], "nope"),
    Case("report-not-a-run", "report", "results", lambda w: ["report", str(w / "results" / "not_a_run")],
         "not_a_run"),
    Case("report-newer-schema", "report", "results", lambda w: ["report", str(w / "results" / "newer")], "schema"),
    Case("report-out-is-a-file", "report", "folder",
         lambda w: ["report", str(w / "results" / "finished"), "--out", str(w / "a_file")], "a_file", 7),
    Case("report-a-file", "report", "results", lambda w: ["report", str(w / "a_file")], "a_file"),
    # models
    Case("models-fetch-unknown", "models", "names", lambda w: ["models", "fetch", "gpt-5"], "gpt-5"),
    Case("models-no-action", "models", "flags", lambda w: ["models"], "models"),
    Case("models-action-unknown", "models", "flags", lambda w: ["models", "delete"], "delete"),
]


# ------------------------------------------------------------------------------------------------ the checks
@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_llama_dir):
    root = tmp_path_factory.mktemp("bad_inputs")
    build_world(root, tiny_llama_dir)
    return root


def _digest(folder: Path) -> dict[str, str]:
    """Every file under the results and shard folders with its content hash (what is already computed)."""
    out = {}
    for sub in ("results", "shards", "sae"):
        for p in sorted((folder / sub).rglob("*")):
            if p.is_file() and p.name != ".lock":
                out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _argv(case: Case, world: Path) -> list[str]:
    argv = case.argv(world)
    return argv + ["--no-progress"] if argv[0] == "run" and "--no-progress" not in argv else argv


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line(world, case, capsys):
    if os.environ.get("BAD_INPUTS_DISCOVER"):
        try:
            code = main(_argv(case, world))
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err.strip()
        with open(os.environ["BAD_INPUTS_DISCOVER"], "a") as fh:
            fh.write(f"{case.id}\t{code}\t{err[-600:]!r}\n")
        return
    before = _digest(world)
    try:
        code = main(_argv(case, world))
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == case.code, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("autointerp"), err
    assert "Traceback" not in err
    assert case.words in err, err
    after = _digest(world)
    assert {k: v for k, v in before.items() if after.get(k) != v} == {}  # nothing computed was changed or lost


def table() -> str:
    counts = collections.Counter((c.verb, c.kind) for c in CASES)
    verbs = sorted({c.verb for c in CASES}, key=[c.verb for c in CASES].index)
    kinds = sorted({c.kind for c in CASES})
    rows = ["| verb | " + " | ".join(kinds) + " | total |", "|---" * (len(kinds) + 2) + "|"]
    for v in verbs:
        rows.append(f"| {v} | " + " | ".join(str(counts[(v, k)] or "") for k in kinds)
                    + f" | {sum(counts[(v, k)] for k in kinds)} |")
    return "\n".join(rows) + f"\n\n{len(CASES)} cases"


if __name__ == "__main__":
    print(table())
