"""`autointerp run` end to end on a real model (minilm-l6), with the LLM stages answered by the loopback API server.

The backend is the real ``openai-compatible`` stack (real SDK, HTTP, retries, cache), pointed at a
test server whose handler answers each stage deterministically from the prompt. Checks: every output
file exists and parses; the specificity table sums to 1 per level; a run killed with SIGKILL
mid-stage and rerun ends with the same tables as an uninterrupted run and never re-sends a request
that had been answered.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import save_saelens
from autointerp.cli import main
from autointerp.runs.store import RunStore
from tests.support.api_server import ApiServer, RecordedRequest, openai_chat
from tests.support.subprocess_kill import run_killed_midway

pytestmark = pytest.mark.slow



def _stage_answer(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    ids = re.findall(r'<context id="(c\d+)">', user)
    if "You judge how well" in system:  # specificity rubric: a score from the excerpt's text
        return "\n".join(f"{cid}: {sum(map(ord, cid + user[:40])) % 4}" for cid in ids)
    if "You predict how strongly" in system:  # simulator, JSON lists: values from the tokens themselves
        out = {}
        for cid, block in re.findall(r'<context id="(c\d+)">\n\d+ tokens: (\[.*?\])\n</context>', user, re.DOTALL):
            out[cid] = [len(t.strip()) % 11 for t in json.loads(block)]
        return json.dumps(out)
    first = user.split("\n")[0][:30]
    return f"Explanation: text resembling {first!r}"


def handler(request: RecordedRequest):
    body = request.json
    return openai_chat(_stage_answer(body), model=body.get("model", "fake"))


@pytest.fixture(scope="module")
def sae_dir(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    d_in, d_sae = 384, 48
    W_dec = torch.randn(d_sae, d_in, generator=g)
    W_dec /= W_dec.norm(dim=-1, keepdim=True)
    sae = make_sae("topk", W_dec.T.clone(), torch.zeros(d_sae), W_dec, torch.zeros(d_in), k=6)
    return save_saelens(sae, tmp_path_factory.mktemp("sae") / "tiny_topk", hook_name="layers.2.resid_post")


def _config(tmp: Path, name: str, sae: Path, url: str, cache: Path) -> Path:
    backend = f"openai-compatible:fake-model@{url}"
    cfg = {
        "name": name, "results_dir": str(tmp / "results"), "model": "minilm-l6", "corpus": "brown",
        "max_tokens": 2500, "window": 32, "sae": str(sae), "sae_site": "layers.2.resid_post", "features": 4,
        "neuron_site": "layers.2.mlp", "neurons": 4, "seed": 3,
        "sampler": {"top_k": 6, "per_bin": 2, "n_random": 4, "batch_size": 8},
        "explain": {"n_top": 4, "n_quantile": 3, "n_logit_tokens": 0},
        "rubric": {"per_level": 1, "n_random": 2, "contexts_per_prompt": 3},
        "simulate": {"method": "json-list", "n_top": 2, "n_random": 2, "contexts_per_prompt": 2},
        "backends": {"explain": backend, "rubric": backend, "simulate": backend},
        "llm": {"max_concurrency": 2, "max_retries": 1, "retry_wait": 0.01, "cache_dir": str(cache)},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    rep = run_dir / "report"
    units = pd.read_csv(rep / "units.csv").sort_values("unit").reset_index(drop=True)
    spec = pd.read_csv(rep / "specificity.csv")
    return {"units": units, "specificity": spec.sort_values(list(spec.columns[:3])).reset_index(drop=True)}


def test_run_outputs_and_resume_after_kill(tmp_path, sae_dir):
    with ApiServer(handler=handler) as server:
        # 1. uninterrupted reference run (in-process, through the CLI)
        ref_cfg = _config(tmp_path, "ref", sae_dir, server.openai_base_url, tmp_path / "cache_ref")
        assert main(["run", "--config", str(ref_cfg), "--no-progress"]) == 0
        ref_dir = tmp_path / "results" / "ref"
        n_ref = len(server.requests)
        assert n_ref > 0
        ref_bodies = {r.body.decode() for r in server.requests}

        # every output file exists and parses
        for f in ("config.yaml", "run.json", "units.jsonl", "explanations.jsonl", "rubric.jsonl", "simulations.jsonl"):
            assert (ref_dir / f).is_file(), f
        store = RunStore(ref_dir)
        assert len(store.latest("units")) == 8
        for stage in ("explain", "rubric", "simulate"):
            assert len(store.latest(stage)) == 8, stage
        rep = ref_dir / "report"
        for f in ("specificity.csv", "specificity.png", "specificity.svg", "comparison.csv", "comparison.png",
                  "units.csv", "units.parquet", "summary.json", "report.html"):
            assert (rep / f).is_file() and (rep / f).stat().st_size > 0, f
        json.loads((rep / "summary.json").read_text())
        pd.read_parquet(rep / "units.parquet")
        spec = pd.read_csv(rep / "specificity.csv")
        sums = spec.groupby(["kind", "level"])["fraction"].sum()
        assert len(sums) > 0 and ((sums - 1).abs() < 1e-9).all()
        assert set(spec["kind"]) == {"feature", "neuron"}
        ref_tables = _tables(ref_dir)

        # 2. the same run in a subprocess, killed with SIGKILL mid-stage
        server.reset()
        cfg = _config(tmp_path, "resumed", sae_dir, server.openai_base_url, tmp_path / "cache_resumed")
        kill_at = max(3, n_ref // 2)
        answered = run_killed_midway(server, handler, cfg, tmp_path, kill_at, timeout=240)
        run_dir = tmp_path / "results" / "resumed"
        done_before = {s: len(RunStore(run_dir).done(s)) for s in ("explain", "rubric", "simulate")}
        assert sum(done_before.values()) < 24, "the kill came after the run finished"

        # 3. rerun the same command: finishes, identical tables, no answered request is sent again
        server.reset()
        server.handler = handler
        assert main(["run", "--config", str(cfg), "--no-progress"]) == 0
        resent = [r for r in server.requests if r.body.decode() in set(answered)]
        assert resent == []
        # requests are deterministic: the interrupted + resumed run sent exactly the reference run's requests
        assert set(answered) | {r.body.decode() for r in server.requests} == ref_bodies
        final = _tables(run_dir)
        cols = [c for c in ref_tables["units"].columns if c not in ("run",)]
        pd.testing.assert_frame_equal(final["units"][cols], ref_tables["units"][cols])
        pd.testing.assert_frame_equal(final["specificity"], ref_tables["specificity"])

        # 4. a third run has nothing left to do and sends nothing
        server.reset()
        assert main(["run", "--config", str(cfg), "--no-progress"]) == 0
        assert server.requests == []


def test_changed_config_in_same_folder_reports_only_current_units(tmp_path, sae_dir):
    with ApiServer(handler=handler) as server:
        path = _config(tmp_path, "reuse", sae_dir, server.openai_base_url, tmp_path / "cache")
        assert main(["run", "--config", str(path), "--no-progress"]) == 0
        run_dir = tmp_path / "results" / "reuse"
        first = pd.read_csv(run_dir / "report" / "units.csv")
        assert len(first) == 8
        cfg = yaml.safe_load(path.read_text())
        cfg["features"] = [0, 1]  # fewer, different features; a rubric change re-runs only the rubric
        cfg["rubric"]["per_level"] = 2
        path.write_text(yaml.safe_dump(cfg))
        n_before = len(server.requests)
        assert main(["run", "--config", str(path), "--no-progress"]) == 0
        sent = [r.json for r in server.requests[n_before:]]
        second = pd.read_csv(run_dir / "report" / "units.csv")
    features = second[second["kind"] == "feature"]
    assert sorted(features["unit"]) == ["sae:tiny_topk#0", "sae:tiny_topk#1"]
    assert len(second) == 6  # the 4 neurons stay; the 4 old features are not reported
    # neurons were resampled identically: their explanations and simulations came from the cache / store,
    # so every request of the rerun was either for the two new features or a rubric request
    systems = [" ".join(m["content"] for m in body["messages"] if m["role"] == "system") for body in sent]
    assert any("You judge how well" in s for s in systems)
    store = RunStore(run_dir)
    assert len(store.records("rubric")) > 8  # older records are kept on disk, just not reported
