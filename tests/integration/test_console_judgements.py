"""`autointerp run` says how many rubric *judgements* failed, not only how many units' rubric records did.

The judge (the loopback server speaking OpenAI's wire protocol, reached through the real SDK) never rates the
second excerpt of a rubric prompt: every unit's rubric record is ok, yet some of its judgements fail. Old main
printed 'rubric 8/8 ok (0 failed)' and nothing else about them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import save_saelens
from autointerp.cli import main
from tests.support.api_server import ApiServer, RecordedRequest, openai_chat

pytestmark = pytest.mark.slow

BLOCK = re.compile(r'<context id="(c\d+)">\n(.*?)\n</context>', re.DOTALL)


def _answer(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    ids = [cid for cid, _ in BLOCK.findall(user)]
    if "You judge how well" in system:  # rates every excerpt but the second one, whatever it is asked
        return "\n".join(f"{cid}: {k % 4}" for k, cid in enumerate(ids) if k != 1)
    if "You predict how strongly" in system:
        return json.dumps({cid: [0] * len(json.loads(b.split(" tokens: ", 1)[1])) for cid, b in BLOCK.findall(user)})
    return "Explanation: common English words"


def handler(request: RecordedRequest):
    return openai_chat(_answer(request.json), model="fake-model")


@pytest.fixture(scope="module")
def sae_dir(tmp_path_factory):
    g = torch.Generator().manual_seed(1)
    w_dec = torch.randn(32, 384, generator=g)
    w_dec /= w_dec.norm(dim=-1, keepdim=True)
    sae = make_sae("topk", w_dec.T.clone(), torch.zeros(32), w_dec, torch.zeros(384), k=4)
    return save_saelens(sae, tmp_path_factory.mktemp("sae") / "tiny", hook_name="layers.2.resid_post")


def test_console_counts_failed_judgements(tmp_path: Path, sae_dir, capsys):
    with ApiServer(handler=handler) as server:
        backend = f"openai-compatible:fake-model@{server.openai_base_url}"
        cfg = {
            "name": "judged", "results_dir": str(tmp_path / "results"), "model": "minilm-l6", "corpus": "brown",
            "max_tokens": 1500, "window": 32, "sae": str(sae_dir), "sae_site": "layers.2.resid_post", "features": 3,
            "neuron_site": "layers.2.mlp", "neurons": 3, "seed": 1,
            "sampler": {"top_k": 6, "per_bin": 2, "n_random": 4, "batch_size": 8},
            "explain": {"n_top": 4, "n_quantile": 3},
            "rubric": {"per_level": 1, "n_random": 2, "contexts_per_prompt": 3},
            "simulate": {"method": "json-list", "n_top": 2, "n_random": 2, "contexts_per_prompt": 2},
            "backends": {"explain": backend, "rubric": backend, "simulate": backend},
            "llm": {"max_concurrency": 2, "max_retries": 1, "retry_wait": 0.01, "cache_dir": str(tmp_path / "c")},
        }  # fmt: skip
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(cfg))
        main(["run", "--config", str(path), "--no-progress"])
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "results" / "judged" / "report" / "summary.json").read_text())
    counts = {c["kind"]: c for c in summary["counts"]}
    assert sum(c["n_judgements_failed"] for c in counts.values()) > 0, "the judge was meant to skip excerpts"
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("rubric judgements:"))
    for kind, c in counts.items():
        total = c["n_judgements"] + c["n_judgements_failed"]
        assert f"{kind}s {c['n_judgements']}/{total} ok ({c['n_judgements_failed']} failed)" in line
    assert "judgements" in next(ln for ln in out.splitlines() if ln.startswith("judged: "))
