"""`autointerp run --protocol delphi --scorers detection,fuzzing` on a real model through the loopback judge.

delphi shows each latent 50 activating test examples (5 from each of 10 equal-count quantiles) and 50
non-activating ones drawn for that latent. Checked: every unit the data allows gets equal counts (50 and 50), the
non-activating windows differ between units, the judge is asked in delphi's answer format (a 0/1 list, 5 excerpts
per prompt) and the run is labelled with the delphi protocol.
"""

from __future__ import annotations

import json
from itertools import combinations

import pytest
import torch
import yaml

from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import save_saelens
from autointerp.cli import main
from autointerp.runs.store import RunStore
from autointerp.scorers import metrics
from tests.support.api_server import ApiServer
from tests.support.judge_answers import handler

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sparse_sae(tmp_path_factory):
    """A TopK SAE with 512 latents and k=4 on MiniLM's residual stream: each latent silent in most windows."""
    g = torch.Generator().manual_seed(1)
    d_in, d_sae = 384, 512
    W_dec = torch.randn(d_sae, d_in, generator=g)
    W_dec /= W_dec.norm(dim=-1, keepdim=True)
    sae = make_sae("topk", W_dec.T.clone(), torch.zeros(d_sae), W_dec, torch.zeros(d_in), k=4)
    return save_saelens(sae, tmp_path_factory.mktemp("sae") / "sparse_topk", hook_name="layers.2.resid_post")


def test_delphi_detection_counts_and_negatives_per_unit(tmp_path, sparse_sae):
    with ApiServer(handler=handler) as server:
        cfg = {
            "name": "delphi", "results_dir": str(tmp_path / "results"), "model": "minilm-l6", "corpus": "brown",
            "max_tokens": 24000, "sae": str(sparse_sae), "sae_site": "layers.2.resid_post", "features": 6,
            "neuron_site": None, "seed": 2,
            "explain": {"n_logit_tokens": 0},
            "backends": {k: f"openai-compatible:fake-model@{server.openai_base_url}"
                         for k in ("explain", "rubric", "simulate")},
            "llm": {"max_concurrency": 2, "cache_dir": str(tmp_path / "cache")},
        }
        path = tmp_path / "delphi.yaml"
        path.write_text(yaml.safe_dump(cfg))
        rc = main(["run", "--config", str(path), "--protocol", "delphi", "--scorers", "detection,fuzzing",
                   "--no-progress"])
        assert rc in (0, 5)
        run = tmp_path / "results" / "delphi"
        records = RunStore(run).latest("detection")
        assert len(records) == 6
        ok = [r for r in records.values() if r.ok]
        full = [r for r in ok if r.metric("n_positive").value == 50]
        assert len(full) >= 2, [(r.unit.index, r.error, r.metric("n_positive")) for r in records.values()]
        for r in ok:
            # the non-activating side is always 50 (drawn with replacement); the activating side is 5 per quantile,
            # fewer only when a unit has fewer than 50 activating held-out windows (10 quantiles of fewer than 5)
            assert r.metric("n_negative").value == 50
            assert r.metric("n_positive").value % 10 == 0 and 0 < r.metric("n_positive").value <= 50
        negatives = {r.unit.index: {i.context_ids[0] for i in r.items if not i.label} for r in ok}
        assert all(negatives[a] != negatives[b] for a, b in combinations(negatives, 2))
        # delphi's answer format: one 0/1 list per request of 5 excerpts
        asked = [r for r in server.requests if "Answer with a Python list" in r.json["messages"][0]["content"]]
        assert asked and all(r.json["messages"][-1]["content"].count('<context id="') == 5 for r in asked)
        label = json.loads((run / "run.json").read_text()).get("protocol") or {}
        assert label.get("name") == "delphi", label
        # the report: delphi's pooled figures first (one confusion matrix over every excerpt of every unit)
        summary = json.loads((run / "report" / "summary.json").read_text())
        (pooled,) = [p for p in summary["pooled"] if p["scorer"] == "detection"]
        want = {m.name: m.value for m in metrics.delphi_metrics([i for r in records.values() for i in r.items])}
        got = {m["name"]: m["value"] for m in pooled["metrics"]}
        assert pooled["protocol"] == "delphi" and got["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"])
        assert got["n_positive"] == sum(r.metric("n_positive").value for r in ok)
        # fuzzing, delphi's default variant: the same activating windows rightly marked, 50 silent windows marked
        for r in RunStore(run).latest("fuzzing").values():
            if r.ok:
                assert r.metric("n_negative").value == 50 and r.metric("n_positive").value % 10 == 0
                assert all(i.true_activation == 0 for i in r.items if not i.label)
        html = (run / "report" / "report.html").read_text()
        assert "delphi protocol, pooled over units: detection features balanced accuracy" in html
