"""`autointerp run --scorers intervention` end to end on the planted model, judged over the real HTTP backend stack.

The loopback server explains every unit as 'the word zebra' and, as the intervention judge, picks the
continuations that contain a word of the description. The planted 'zebra' unit (index 1) must score 1.0,
the xray/yak AND unit (whose direction does not raise 'zebra') must not; steering and output evidence are
written to the run folder and reused on resume.
"""

from __future__ import annotations

import json
import re

import yaml

from autointerp.cli import main
from autointerp.runs.store import RunStore
from tests.support.api_server import ApiServer, openai_chat
from tests.unit.dictionaries.planted_model import build_planted_llama, planted_sae


def _answer(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    if "artificially strengthened" in system:
        words = set(re.search(r"component: (.*)", user).group(1).lower().split()) - {"the", "word"}
        picked = [c for c, cont in re.findall(r'<context id="(c\d+)">\n.*?<<(.*?)>>', user, re.DOTALL)
                  if words & set(cont.lower().split())]  # fmt: skip
        return "Answer: " + (", ".join(picked) or "none")
    return "Explanation: the word zebra"


def test_run_with_intervention_scorer(tmp_path):
    build_planted_llama(tmp_path / "model")
    planted_sae(tmp_path / "sae")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"d{i}.txt").write_text("the dog yak sat on a red xray and zebra ran to the big house we go up")
    with ApiServer(handler=lambda r: openai_chat(_answer(r.json), model="fake")) as server:
        backend = f"openai-compatible:fake@{server.openai_base_url}"
        cfg = {
            "name": "iv", "results_dir": str(tmp_path / "results"), "model": str(tmp_path / "model"),
            "corpus": str(corpus), "window": 12, "max_tokens": 1500, "sae": str(tmp_path / "sae"),
            "sae_site": "layers.0.resid_post", "features": [0, 1], "neuron_site": None, "scorers": ["intervention"],
            "sampler": {"top_k": 3}, "explain": {"n_top": 3, "n_quantile": 0},
            "intervention": {"steer": {"alpha_scale": 4.0, "n_prompts": 4, "max_new_tokens": 8}},
            "backends": {"explain": backend, "rubric": backend, "simulate": backend},
            "llm": {"max_concurrency": 2, "max_retries": 0, "cache_dir": str(tmp_path / "cache")},
        }  # fmt: skip
        path = tmp_path / "iv.yaml"
        path.write_text(yaml.safe_dump(cfg))
        assert main(["run", "--config", str(path), "--no-progress"]) == 0
        run_dir = tmp_path / "results" / "iv"
        store = RunStore(run_dir)
        scores = {k: r for k, r in store.latest("intervention").items()}
        steering = store.latest("steering")
        assert set(scores) == set(steering) == {"sae:sae#0", "sae:sae#1"}
        z = scores["sae:sae#1"]
        assert z.ok and z.metrics[0].name == "balanced_accuracy" and z.metrics[0].value == 1.0
        assert steering["sae:sae#1"].alpha == steering["sae:sae#1"].typical_activation * 4.0 > 0
        x = scores["sae:sae#0"]
        assert x.ok and x.metrics[0].value == 0.5  # 'zebra' is in none of its continuations: nothing picked
        evidence = json.loads((run_dir / "output_evidence.json").read_text())
        assert evidence["sae:sae#1"]["promoted"][0]["token"].strip() == "zebra"
        assert evidence["sae:sae#1"]["raised"][0]["token"].strip() == "zebra"

        n = len(server.requests)
        assert main(["run", "--config", str(path), "--no-progress"]) == 0  # resume: nothing new is asked
        assert len(server.requests) == n
        assert len(RunStore(run_dir).records("steering")) == 2  # continuations reused, not regenerated
