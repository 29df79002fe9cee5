"""The pipeline is deterministic: two runs of one small config in fresh folders give byte-identical records and
report tables (apart from timestamps and paths), on a real packaged model (minilm-l6) with the scripted backend.

The scripted judges answer from the prompt text alone (CRC32, stable across processes), so any difference
between the two runs comes from the pipeline itself: sampling, context choice, prompt rendering, parsing,
statistics (seeded bootstrap) or the order records are written in.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest
import torch
import yaml

from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import save_saelens
from autointerp.backends.base import LLMRequest
from autointerp.report import summary_line, write_report
from autointerp.runs import pipeline
from autointerp.runs.config import load_config
from tests.support.scripted_backend import ScriptedBackend

pytestmark = pytest.mark.slow

BLOCK = re.compile(r'<context id="(c\d+)">\n(.*?)\n</context>', re.DOTALL)
STAGE_FILES = ("units.jsonl", "explanations.jsonl", "rubric.jsonl", "simulations.jsonl")


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def judge(request: LLMRequest) -> str:
    """Deterministic answers in each stage's format, derived from the live question only."""
    question = request.messages[-1].content
    if "You judge how well" in request.system:  # specificity rubric: 'c1: 2' per excerpt
        return "\n".join(f"{cid}: {_crc(cid + body) % 4}" for cid, body in BLOCK.findall(question))
    if "You predict how strongly" in request.system:  # simulator, JSON lists
        out = {}
        for cid, body in BLOCK.findall(question):
            tokens = json.loads(body.split(" tokens: ", 1)[1])
            out[cid] = [_crc(t) % 11 if _crc(cid + t) % 3 == 0 else 0 for t in tokens]
        return json.dumps(out)
    words = sorted(set(re.findall(r"<<\s*([A-Za-z]+)", question)))[:3] or ["text"]
    return "Explanation: the words " + ", ".join(words)


@pytest.fixture(scope="module")
def sae_dir(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    d_in, d_sae = 384, 48
    w_dec = torch.randn(d_sae, d_in, generator=g)
    w_dec /= w_dec.norm(dim=-1, keepdim=True)
    sae = make_sae("topk", w_dec.T.clone(), torch.zeros(d_sae), w_dec, torch.zeros(d_in), k=6)
    return save_saelens(sae, tmp_path_factory.mktemp("sae") / "tiny_topk", hook_name="layers.2.resid_post")


def _run(root: Path, sae: Path) -> Path:
    backend = "openai-compatible:scripted@http://127.0.0.1:9/v1"  # never reached: the scripted backend answers
    cfg = {
        "name": "det", "results_dir": str(root / "results"), "model": "minilm-l6", "corpus": "brown",
        "max_tokens": 2000, "window": 32, "sae": str(sae), "sae_site": "layers.2.resid_post", "features": 4,
        "neuron_site": "layers.2.mlp", "neurons": 4, "seed": 3,
        "sampler": {"top_k": 6, "per_bin": 2, "n_random": 4, "batch_size": 8},
        "explain": {"n_top": 4, "n_quantile": 3},
        "rubric": {"per_level": 1, "n_random": 2, "contexts_per_prompt": 3},
        "simulate": {"method": "json-list", "n_top": 2, "n_random": 2, "contexts_per_prompt": 2},
        "backends": {"explain": backend, "rubric": backend, "simulate": backend},
        "llm": {"max_concurrency": 3, "cache_dir": str(root / "cache")},
    }  # fmt: skip
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    config = load_config(root / "config.yaml", {})
    scripted = ScriptedBackend(judge)
    outcome = pipeline.run(config, progress=False, backend_factory=lambda c: dict.fromkeys(pipeline.JUDGE_STAGES,
                                                                                         scripted))  # fmt: skip
    assert scripted.requests, "the scripted judges were asked nothing"
    return outcome.run_dir


def _summary_without_provenance_of_place(path: Path) -> dict:
    data = json.loads(path.read_text())
    for key in ("path", "created"):
        data["run"].pop(key)
    return data


def test_two_fresh_runs_give_identical_records_and_tables(tmp_path, sae_dir):
    first, second = _run(tmp_path / "one", sae_dir), _run(tmp_path / "two", sae_dir)
    for name in STAGE_FILES:  # records are appended as units finish: compare them as sorted lines
        a = sorted((first / name).read_text(encoding="utf-8").splitlines())
        b = sorted((second / name).read_text(encoding="utf-8").splitlines())
        assert a == b and a, name
    runs = [json.loads((d / "run.json").read_text()) for d in (first, second)]
    assert [{k: v for k, v in r.items() if k != "created"} for r in runs[:1]] == \
           [{k: v for k, v in r.items() if k != "created"} for r in runs[1:]]
    summaries = [write_report(d, seed=0, n_resamples=499) for d in (first, second)]
    for name in ("units.csv", "specificity.csv", "comparison.csv", "comparison_tests.csv"):
        assert (first / "report" / name).read_bytes() == (second / "report" / name).read_bytes(), name
    a, b = (_summary_without_provenance_of_place(d / "report" / "summary.json") for d in (first, second))
    assert a == b
    assert summary_line(summaries[0]).split(":", 1)[1] == summary_line(summaries[1]).split(":", 1)[1]
    assert any(c.n_judgements for c in summaries[0].counts)  # the scores are real, not all failures
