"""`autointerp run --protocol saebench --scorers saebench` end to end: a real model (minilm-l6), the real
openai-compatible backend against the loopback server, units that fire in ordinary text.

SAEBench labels its random documents inactive by construction; a unit that fires in random text must not turn them
active (the defect fixed in scorers/saebench.py). The run records its protocol label, modified fields named."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from autointerp.cli import main
from autointerp.runs.store import RunStore
from autointerp.types import ProtocolLabel
from tests.support.api_server import ApiServer, RecordedRequest, openai_chat

pytestmark = pytest.mark.slow


def handler(request: RecordedRequest):
    body = request.json
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    user = body["messages"][-1]["content"]
    if "Say in one plain sentence" in system:
        text = "This unit fires on common words."
    else:  # the judge lists every document: random ones count as wrong
        n = len(re.findall(r"^\d+\. ", user, re.MULTILINE))
        text = ", ".join(str(k) for k in range(1, n + 1))
    return openai_chat(text, model=body.get("model", "fake"))


def test_saebench_protocol_labels_random_documents_inactive(tmp_path, capsys):
    with ApiServer(handler=handler) as server:
        backend = f"openai-compatible:judge@{server.openai_base_url}"
        rc = main(["run", "--protocol", "saebench", "--scorers", "saebench", "--model", "minilm-l6",
                   "--sae", "none", "--neuron-site", "layers.2.mlp", "--neurons", "3", "--max-tokens", "6000",
                   "--results-dir", str(tmp_path), "--name", "sb", "--backend", backend, "--no-progress",
                   "--set", f"llm.cache_dir={tmp_path / 'cache'}"])
        bodies = [r.json for r in server.requests]
    out = capsys.readouterr().out
    assert rc == 0, out
    label = ProtocolLabel.model_validate(json.loads((tmp_path / "sb" / "run.json").read_text())["protocol"])
    assert label.name == "saebench"
    assert {m.field for m in label.modified} == {"max_tokens", "saebench.backend"}  # features: no SAE, unused
    assert "saebench protocol, modified: max_tokens 6000, saebench.backend openai-compatible:judge@" in out
    # SAEBench's judge settings reach the wire: temperature 1, 30 and 33 answer tokens, one request per step
    assert {b["temperature"] for b in bodies} == {1.0}
    assert sorted({b.get("max_tokens") or b.get("max_completion_tokens") for b in bodies}) == [30, 33]
    records = RunStore(tmp_path / "sb").latest("saebench")
    assert len(records) == 3 and all(r.ok for r in records.values())
    for rec in records.values():
        groups = [i.group for i in rec.items]
        assert (groups.count("top"), groups.count("iw"), groups.count("random")) == (2, 2, 10)
        rand = [i for i in rec.items if i.group == "random"]
        assert not any(i.label for i in rand)  # inactive by construction
        acc = rec.metric("accuracy")
        assert acc.chance == sum(not i.label for i in rec.items) / 14
        assert acc.value == 1 - acc.chance  # listing every document is right exactly on the active ones
    # the units fire in random text: random documents that hold activations, still labelled inactive
    assert sum(i.true_activation > 0 for r in records.values() for i in r.items if i.group == "random") >= 10
    # the peer's headline in the peer's aggregation (report/peer.py): mean over units with its sd, printed and first
    # in the report
    values = [r.metric("accuracy").value for r in records.values()]
    want = f"saebench accuracy, neurons: {np.mean(values):.3f} (mean over 3 units (sd {np.std(values, ddof=1):.3f})"
    assert want in out
    html = (tmp_path / "sb" / "report" / "report.html").read_text()
    assert want in html
