"""``autointerp.evaluate`` on in-memory objects gives exactly what ``autointerp run`` gives on the same weights on disk.

A SAELens-style ``SAE`` object, a sparsify-style ``Sae`` and a bare ``nn.Module`` with ``encode`` (tests/support/
sae_objects.py) are each evaluated from memory (a loaded transformers model and tokenizer, too) and, saved in
their library's layout, run through the CLI; the sampled contexts and every score must be identical. The judge is
the real openai-compatible stack against the loopback server, answering from the prompt text. The corpus is the
file for the SAELens case, the same texts as a list of strings (sparsify) and as a ``datasets.Dataset`` (bare); the
bare module's run is made inside a running event loop (as in Jupyter).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import autointerp
from autointerp.cli import main
from autointerp.runs.store import RunStore
from tests.conftest import TINY_WORDS
from tests.support import peer_checkpoints as pc
from tests.support.api_server import ApiServer, openai_chat
from tests.support.sae_objects import BareEncoder, SAELensStyleSAE, SparsifyStyleSae

D_MODEL, D_SAE = 32, 48  # tiny_llama's residual width
SITE = "layers.1.resid_post"
FEATURES = [3, 9, 18, 25, 46]  # units that fire on this corpus under ReLU and under TopK k=6


def _answer(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    ids = re.findall(r'<context id="(c\d+)">', user)
    if "You judge how well" in system:
        return "\n".join(f"{cid}: {sum(map(ord, cid + user[:60])) % 4}" for cid in ids)
    if "You predict how strongly" in system:
        out = {}
        for cid, block in re.findall(r'<context id="(c\d+)">\n\d+ tokens: (\[.*?\])\n</context>', user, re.DOTALL):
            out[cid] = [len(t.strip()) % 11 for t in json.loads(block)]
        return json.dumps(out)
    return f"Explanation: words like {user.split(chr(10))[0][:40]!r}"


def _handler(request):
    return openai_chat(_answer(request.json), model="fake")


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    words = TINY_WORDS[:22]
    path = tmp_path_factory.mktemp("corpus") / "tiny.jsonl"
    path.write_text("".join(json.dumps({"text": " ".join(rng.choice(words, 60))}) + "\n" for _ in range(40)))
    return path


def _objects() -> dict:
    w = pc.weights(3, d_in=D_MODEL, d_sae=D_SAE)
    w["b_dec"], w["b_enc"] = w["b_dec"] * 0.02, w["b_enc"] * 0.02  # the tiny model's residual has std ~0.02
    return {
        "saelens": SAELensStyleSAE(pc.saelens_v6_cfg("standard", d_in=D_MODEL, hook_name="blocks.1.hook_resid_post"), w),
        "sparsify": SparsifyStyleSae(pc.sparsify_cfg(d_in=D_MODEL, k=6), w),
        "bare": BareEncoder(w),
    }


def _fields(tmp: Path, corpus: Path, name: str) -> dict:
    return {
        "name": name, "results_dir": str(tmp / "results"), "corpus": str(corpus), "max_tokens": 1500, "window": 16,
        "sae_site": SITE, "features": FEATURES, "neuron_site": "layers.1.mlp", "neurons": 3, "seed": 4,
        "sampler": {"top_k": 4, "per_bin": 2, "n_random": 3, "batch_size": 8},
        "explain": {"n_top": 3, "n_quantile": 2, "n_logit_tokens": 3},
        "rubric": {"per_level": 1, "n_random": 2, "contexts_per_prompt": 3},
        "simulate": {"method": "json-list", "n_top": 2, "n_random": 1, "contexts_per_prompt": 2},
        "llm": {"max_concurrency": 2, "max_retries": 1, "retry_wait": 0.01},
    }  # fmt: skip


def _samples(run_dir: Path) -> dict:
    """Every unit's sampled contexts, keyed by (kind, index): the basis name says where the SAE came from, and the
    document ids where the corpus came from (line n of the file is document n - 1 of a list or dataset)."""
    out = {}
    for us in RunStore(run_dir).latest("units").values():
        data = us.model_dump(exclude={"unit"})
        for part in ("explain", "heldout"):
            for c in data[part]:
                c["doc_id"] = int(re.fullmatch(r"(?:tiny:|text:|row:)(\d+)", c["doc_id"]).group(1)) - c[
                    "doc_id"].startswith("tiny:")
        out[(us.unit.kind, us.unit.index)] = data
    return out


def _scores(results) -> pd.DataFrame:
    frame = results.scores.drop(columns=["unit", "basis"])
    return frame.sort_values(["kind", "index", "scorer", "metric"]).reset_index(drop=True)


@pytest.mark.parametrize("kind", ["saelens", "sparsify", "bare"])
def test_in_memory_objects_match_the_cli_on_disk(kind, tmp_path, tiny_llama_dir, corpus_file):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    obj = _objects()[kind]
    saved = obj.save(tmp_path / f"{kind}_sae")
    with ApiServer(handler=_handler) as server:
        backend = f"openai-compatible:fake@{server.openai_base_url}"
        disk = _fields(tmp_path, corpus_file, "disk") | {"model": str(tiny_llama_dir), "sae": str(saved)}
        disk |= {"backends": {"explain": backend, "rubric": backend, "simulate": backend}}
        disk["llm"] |= {"cache_dir": str(tmp_path / "cache_disk")}
        cfg = tmp_path / "disk.yaml"
        cfg.write_text(yaml.safe_dump(disk))
        assert main(["run", "--config", str(cfg), "--no-progress"]) == 0

        model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
        tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
        fields = _fields(tmp_path, corpus_file, "memory")
        fields["llm"] |= {"cache_dir": str(tmp_path / "cache_memory")}  # no answer is shared between the two runs
        if kind == "saelens":  # read where its cfg says it was trained (blocks.1.hook_resid_post)
            del fields["sae_site"]
        texts = [json.loads(line)["text"] for line in corpus_file.read_text().splitlines()]
        if kind == "sparsify":  # the corpus in memory: a list of strings, or a datasets.Dataset
            fields["corpus"] = texts
        elif kind == "bare":
            datasets = pytest.importorskip("datasets")
            fields["corpus"] = datasets.Dataset.from_dict({"text": texts})
        seen = []

        def run():
            return autointerp.evaluate(model, tokenizer=tok, sae=obj, backend=backend, progress=False,
                                       on_result=lambda stage, rec: seen.append(stage), **fields)  # fmt: skip

        if kind == "bare":  # inside a running event loop, as in a notebook

            async def in_loop():
                asyncio.get_running_loop()
                return run()

            results = asyncio.run(in_loop())
        else:
            results = run()
        if kind == "sparsify":  # the same cell run again resumes: nothing is sampled or asked again
            asked, sampled = len(server.requests), (tmp_path / "results" / "memory" / "units.jsonl").read_bytes()
            again = run()
            assert len(server.requests) == asked and again.run_dir == results.run_dir
            assert (tmp_path / "results" / "memory" / "units.jsonl").read_bytes() == sampled
            pd.testing.assert_frame_equal(again.scores, results.scores)

    disk_dir, mem_dir = tmp_path / "results" / "disk", tmp_path / "results" / "memory"
    assert results.run_dir == mem_dir
    saved_cfg = yaml.safe_load((mem_dir / "config.yaml").read_text())
    assert saved_cfg["sae_site"] == SITE and saved_cfg["sae"].startswith(f"memory:{type(obj).__name__}@")
    corpus_label = {"saelens": str(corpus_file), "sparsify": "memory:texts-40@", "bare": "memory:dataset-40@"}[kind]
    assert saved_cfg["corpus"].startswith(corpus_label) and saved_cfg["model"].startswith("memory:")
    disk_samples, mem_samples = _samples(disk_dir), _samples(mem_dir)
    assert len(mem_samples) == 8 and sum(k == "feature" for k, _ in mem_samples) == 5
    assert mem_samples == disk_samples
    pd.testing.assert_frame_equal(_scores(results), _scores(autointerp.load(disk_dir)))
    assert results.scores["ok"].all() and set(results.scores["scorer"]) == {"specificity", "simulation"}
    assert sorted(set(seen)) == ["explain", "rubric", "simulate"] and len(seen) == 3 * 8  # none when resumed
    if kind == "saelens":
        _check_results_views(results, tmp_path)


class _FakeWandbRun:
    def __init__(self):
        self.logged = []

    def log(self, data, step=None):
        self.logged.append((data, step))


def _check_results_views(results, tmp_path):
    import sys
    import types

    verdict = results.summary()
    assert set(verdict["row"]) == {"gate", "metric"} and set(verdict[verdict["row"] == "metric"]["scorer"]) == {
        "rubric", "simulate"}
    summary = results.stats()
    assert {"scorer", "metric", "group", "n", "median", "ci_low", "ci_high", "chance", "protocol"} <= set(summary)
    assert set(summary["group"]) == {"feature", "neuron"} and set(summary["scorer"]) == {"rubric", "simulate"}
    assert summary["protocol"].eq("ours protocol").all()
    metrics = results.summary_metrics()
    row = summary[(summary["group"] == "feature") & (summary["metric"] == "simulation_score")].iloc[0]
    assert metrics["autointerp/feature/simulation_score/median"] == row["median"]
    assert all(isinstance(v, float) for v in metrics.values())
    out = results.to_parquet(tmp_path / "frames")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "scores.parquet"), results.scores)
    assert len(pd.read_parquet(out / "explanations.parquet")) == 8 and results.explanations["ok"].all()
    assert results.units["unit"].tolist() == results.explanations["unit"].tolist()
    assert results.report() == results.run_dir / "report" / "report.html" and results.report().is_file()
    scores = results.scores
    assert scores.groupby(["unit", "scorer"])["primary"].sum().eq(1).all()  # one headline metric per unit and scorer
    sim = scores[(scores["scorer"] == "simulation") & scores["primary"]]
    assert sim["chance"].eq(0.0).all() and sim["protocol"].eq("ours").all()

    run = _FakeWandbRun()
    fake = types.SimpleNamespace(run=None, Table=lambda dataframe: ("table", len(dataframe)))
    sys.modules["wandb"] = fake
    try:
        with pytest.raises(autointerp.ConfigError, match="no active wandb run"):
            results.log_to_wandb()
        logged = results.log_to_wandb(run, step=7)
    finally:
        del sys.modules["wandb"]
    (data, step), = run.logged
    assert step == 7 and data["autointerp/scores"] == ("table", len(scores)) and logged == metrics


def test_a_failed_run_is_the_clis_one_line_error_as_an_exception(tmp_path, tiny_llama_dir, corpus_file, monkeypatch):
    """Exceptions, not exit codes: a backend that refuses the key raises RunHalted; a spent budget raises
    BudgetExceeded carrying the results that finished (the same call with a higher budget continues)."""
    from tests.support import judge_answers
    from tests.support.api_server import error

    obj = _objects()["bare"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    fields = _fields(tmp_path, corpus_file, "halted") | {"model": str(tiny_llama_dir), "sae": obj,
                                                          "backend": "anthropic:claude-sonnet-4-5", "progress": False}
    with ApiServer(handler=lambda r: error(401, "invalid x-api-key")) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        with pytest.raises(autointerp.RunHalted, match="401") as halted:
            autointerp.evaluate(**fields)
        assert len(str(halted.value).splitlines()) == 1
        server.handler = judge_answers.handler
        fields |= {"name": "budget", "llm": fields["llm"] | {"max_cost": 0.002}}
        with pytest.raises(autointerp.BudgetExceeded) as budget:
            autointerp.evaluate(**fields)
        partial = budget.value.results
        assert partial.run_dir == tmp_path / "results" / "budget" and not partial.scores["ok"].all()
        done = autointerp.evaluate(**fields | {"llm": fields["llm"] | {"max_cost": 5.0}})
    assert done.scores["ok"].all() and len(done.explanations) == 8
