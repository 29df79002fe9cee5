"""All seven scorers in one `autointerp run` on a real model (minilm-l6) through the loopback API server.

The judge is the real ``openai-compatible`` stack pointed at a handler that answers every scorer's
format deterministically from the prompt. Checks: every scorer writes an ok typed record per unit
with its generic summary; the dry-run estimate has the request count the run really sends; a run
killed with SIGKILL mid-way resumes without re-sending any answered request; reseeds write the spread.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from autointerp import load
from autointerp.cli import main
from autointerp.runs.store import RunStore
from autointerp.scorers.catalog import summarise
from autointerp.scorers.orchestrate import scorer_of_stage
from tests.support.api_server import ApiServer
from tests.support.judge_answers import handler
from tests.support.minilm_run import ALL_SCORERS, minilm_config, tiny_topk_sae
from tests.support.subprocess_kill import run_killed_midway

pytestmark = pytest.mark.slow

SEVEN = ALL_SCORERS
STAGES = ("explain", "rubric", "simulate", "detection", "fuzzing", "embedding", "intruder", "saebench")


@pytest.fixture(scope="module")
def sae_dir(tmp_path_factory):
    return tiny_topk_sae(tmp_path_factory.mktemp("sae") / "tiny_topk")


def _config(tmp: Path, name: str, sae: Path, url: str, **extra) -> Path:
    return minilm_config(tmp, name, sae, f"openai-compatible:fake-model@{url}", features=4,
                         llm={"max_concurrency": 2}, **extra)


# what a dense unit (BERT's GELU neurons fire somewhere in almost every window) honestly cannot be scored on
DATA_LIMITS = ("needs held-out items of both classes", "needs activating and non-activating held-out contexts",
               "no intruder trial possible: no other unit's context is silent for this unit")


def _check(store: RunStore) -> dict[str, set[str]]:
    """Every stage has a record per unit; a failure is only one of the data limits above. Returns ok units."""
    ok = {}
    for stage in STAGES:
        latest = store.latest(stage)
        assert len(latest) == 8, stage
        bad = {k: r.error for k, r in latest.items() if not r.ok and r.error not in DATA_LIMITS}
        assert not bad, (stage, bad)
        ok[stage] = {k for k, r in latest.items() if r.ok}
        assert ok[stage], stage
    return ok


def test_all_scorers_run_estimate_and_resume_after_kill(tmp_path, sae_dir, capsys):
    with ApiServer(handler=handler) as server:
        # dry run: planned requests per stage
        cfg = _config(tmp_path, "all", sae_dir, server.openai_base_url)
        assert main(["run", "--config", str(cfg), "--no-progress", "--dry-run"]) == 0
        planned = {line.split()[0]: int(re.search(r"requests\s+(\d+)", line).group(1))
                   for line in capsys.readouterr().out.splitlines() if re.search(r"requests\s+\d+", line)
                   and line.split()[0] in STAGES}
        assert server.requests == []

        # 1. uninterrupted run, in-process
        rc = main(["run", "--config", str(cfg), "--no-progress"])
        store = RunStore(tmp_path / "results" / "all")
        ok_ref = _check(store)
        assert rc == (0 if all(len(v) == 8 for v in ok_ref.values()) else 5)  # 5: some units failed (recorded)
        for stage in STAGES[1:]:
            rec = store.latest(stage)[min(ok_ref[stage])]
            s = summarise(scorer_of_stage(stage).name, rec)
            assert s.ok and s.metrics and s.primary in {m.name for m in s.metrics}
        for sae_rec in store.latest("saebench").values():  # the floor: what answering "None" scores
            acc = sae_rec.metric("accuracy")
            assert acc.n == 14 and acc.chance == pytest.approx(sum(not i.label for i in sae_rec.items) / 14)
        assert all(r.provenance.prompt_hash for r in store.latest("intruder").values())
        assert any(i.source.startswith("neighbour:") for r in store.latest("detection").values() for i in r.items)
        # the Python face reads the CLI's run: one headline row per stored record, its value the scorer's own
        scores = load(tmp_path / "results" / "all").scores
        assert set(scores["scorer"]) == {scorer_of_stage(st).name for st in STAGES[1:]}
        for stage in STAGES[1:]:
            name = scorer_of_stage(stage).name
            head = scores[(scores["scorer"] == name) & scores["primary"]].set_index("unit")
            recs = store.latest(stage)
            assert set(head.index) == set(recs) and head["protocol"].eq("ours").all()
            for key, rec in recs.items():
                want, got = summarise(name, rec).value, head.at[key, "value"]
                assert math.isnan(got) if want is None else got == pytest.approx(want)  # undefined: NaN
        # the dry run counted exactly the first-attempt requests the scorers sent (no re-asks happen here)
        sent_by_system = {}
        for r in server.requests:
            system = " ".join(m["content"] for m in r.json["messages"] if m["role"] == "system")
            key = next((s for s, marker in (("intruder", "Exactly one excerpt"), ("fuzzing", "arbitrary tokens"),
                                              ("detection", "from the description alone"),
                                              ("saebench", "one plain sentence"), ("saebench", "Return the numbers"))
                        if marker in system), None)
            if key:
                sent_by_system[key] = sent_by_system.get(key, 0) + 1
        for stage in ("detection", "fuzzing", "saebench"):
            assert planned[stage] == sent_by_system[stage], stage
        # intruder: the dry run has no foreign pool yet; it prices n_trials per unit, units with no silent
        # context of another unit then send nothing
        n_trials = 2
        assert sent_by_system["intruder"] == n_trials * len(ok_ref["intruder"]) <= planned["intruder"]
        assert planned["embedding"] == 0
        n_ref = len(server.requests)

        # 2. the same run in a subprocess, killed with SIGKILL mid-way
        server.reset()
        cfg2 = _config(tmp_path, "resumed", sae_dir, server.openai_base_url)
        kill_at = max(3, n_ref // 2)
        answered = run_killed_midway(server, handler, cfg2, tmp_path, kill_at, timeout=600)
        run_dir = tmp_path / "results" / "resumed"
        assert sum(len(RunStore(run_dir).done(s)) for s in STAGES) < 8 * len(STAGES), "killed after the end"

        # 3. rerun: finishes, and no answered request is sent again
        server.reset()
        server.handler = handler
        main(["run", "--config", str(cfg2), "--no-progress"])
        assert [r for r in server.requests if r.body.decode() in set(answered)] == []
        assert _check(RunStore(run_dir)) == ok_ref  # same units scored as the uninterrupted run

        # 4. reseeds: seeds 4 and 5 repeat every scorer on the same explanations; the spread is written
        server.reset()
        cfg3 = _config(tmp_path, "all", sae_dir, server.openai_base_url, reseeds=3)
        main(["run", "--config", str(cfg3), "--no-progress"])
        systems = [" ".join(m["content"] for m in r.json["messages"] if m["role"] == "system") for r in server.requests]
        assert systems and not any(s.startswith("You are studying one unit") for s in systems)  # explanations reused
        assert any("Say in one plain sentence" in s for s in systems)  # saebench's own explainer is part of its seed
        spread = json.loads((tmp_path / "results" / "all" / "reseeds.json").read_text())
        assert set(spread) == set(SEVEN)
        assert spread["detection"]["seeds"] == [3, 4, 5] and len(spread["detection"]["mean_per_seed"]) == 3
        assert spread["detection"]["spread_sd"] is not None
        assert spread["intruder"]["chance_corrected_per_seed"][0] is not None
