"""Scorer runs with scripted judges: failures are records, re-asks only the unanswered ids, the registry and CLI."""

from __future__ import annotations

import asyncio

import numpy as np
import torch

from autointerp.cli import main
from autointerp.errors import BackendError
from autointerp.scorers import SCORERS
from autointerp.scorers.catalog import summarise
from autointerp.scorers.detection import DetectionConfig
from autointerp.scorers.intruder import IntruderConfig
from autointerp.scorers.negatives import foreign_contexts
from autointerp.scorers.saebench import SaebenchConfig
from tests.support.planted import PlantedSource, make_world, planted_samples
from tests.support.scripted_backend import ScriptedBackend, replies
from tests.unit.scorers import judges
from tests.unit.scorers.test_prompts_golden import scorer_input


def test_registry_has_all_scorers_and_cli_lists_them(capsys):
    want = {"specificity", "simulation", "detection", "fuzzing", "saebench", "embedding", "intruder"}
    assert want <= set(SCORERS.names())
    assert main(["scorers", "list"]) == 0
    out = capsys.readouterr().out
    for name in want:
        assert any(line.startswith(name) and len(line.split()) > 3 for line in out.splitlines())


def test_detection_reasks_only_missing_ids_then_records_failures():
    backend = ScriptedBackend(replies("c1: yes\nc2: no", "c3: no", "nothing useful"))
    cfg = DetectionConfig(per_level=1, n_negatives=1, contexts_per_prompt=5, max_retries=2)  # 4 levels + 1 negative
    rec = asyncio.run(SCORERS.get("detection").score(scorer_input(), backend, cfg, 0))
    assert len(backend.requests) == 3
    second = backend.requests[1].messages[-1].content
    assert "c3: no verdict given" in second and "c1" not in second and "c2" not in second
    assert "c3" not in backend.requests[2].messages[-1].content
    failed = [i for i in rec.items if not i.ok]
    assert [i.item_id for i in failed] == ["1:c4", "1:c5"] and "after 3 attempt(s)" in failed[0].error
    assert rec.ok and rec.metric("balanced_accuracy").n == 3 and rec.metric("accuracy") is None


def test_backend_error_is_a_failed_record_not_an_exception():
    backend = ScriptedBackend(lambda r: BackendError("server said 500"))
    for name, cfg in (("detection", DetectionConfig()), ("saebench", SaebenchConfig()), ("intruder", IntruderConfig())):
        rec = asyncio.run(SCORERS.get(name).score(scorer_input(), backend, cfg, 0))
        assert not rec.ok and "500" in rec.error, name
        assert summarise(name, rec).ok is False


def test_saebench_floor_and_accuracy():
    backend = ScriptedBackend(replies("the word cat", "None"))
    # n_top_explain=2 leaves the explain split (4 windows) documents to weight; the judge sees 2 + 2 + 10
    rec = asyncio.run(SCORERS.get("saebench").score(scorer_input(), backend, SaebenchConfig(n_top_explain=2), 0))
    acc = rec.metric("accuracy")
    assert rec.ok and acc.n == 14 and acc.value == acc.chance == 10 / 14  # answering None scores the floor


def test_no_explanation_fails_cleanly():
    from dataclasses import replace

    inp = replace(scorer_input(), explanation=None)
    for name in ("detection", "fuzzing", "embedding"):
        rec = asyncio.run(SCORERS.get(name).score(inp, ScriptedBackend(judges.by_stage), _config(name), 0))
        assert not rec.ok and rec.error == "no explanation to score"


def _config(name):
    from autointerp.runs.config import RunConfig

    return getattr(RunConfig(), SCORERS.get(name).config_field)


def test_foreign_contexts_are_silent_for_the_unit_and_nearest_first():
    world = make_world(n_units=4, seed=1)
    units = planted_samples(world)
    windows = {w.index: w for w in world.windows(16)}
    dirs = torch.eye(4) + 0.1
    dirs[0] = dirs[2] + 0.01  # unit 0's nearest neighbour is unit 2
    pool = foreign_contexts(units, windows, PlantedSource(world).batches, dirs)
    fc = pool[units[0].unit.key]
    assert fc.contexts and fc.contexts[0].source_unit == 2
    sims = [c.similarity for c in fc.contexts]
    assert sims == sorted(sims, reverse=True)
    table = PlantedSource(world).table
    for c in fc.contexts:
        ids = windows[c.context.window_index].token_ids[: len(c.context.tokens)]
        assert float(table[list(ids), 0].max()) == 0.0  # unit 0 really is silent there
        assert all(a == 0 for a in c.context.activations)
        assert c.source_active and all(table[ids[p], c.source_unit] > 0 for p in c.source_active)
    assert np.isfinite(sims).all()


def test_config_picks_scorers_and_reports_bad_names_in_one_line():
    import pytest

    from autointerp.errors import ConfigError
    from autointerp.runs.config import load_config
    from autointerp.scorers.orchestrate import judge_stages, stage_backend_spec

    default = load_config()
    assert judge_stages(default) == ("explain", "rubric", "simulate")  # today's two, unchanged
    cfg = load_config(overrides={"scorers": "intruder,saebench,embedding", "backends.rubric": "openai:gpt-4.1-mini"})
    assert cfg.scorers == ["intruder", "saebench", "embedding"]
    assert judge_stages(cfg) == ("explain", "intruder", "saebench", "embedding")  # embedding needs the explainer
    assert judge_stages(load_config(overrides={"scorers": ["intruder"]})) == ("intruder",)  # no explanation needed
    assert stage_backend_spec(cfg, "intruder") == "openai:gpt-4.1-mini"  # the specificity judge by default
    assert stage_backend_spec(cfg, "embedding") is None
    own = load_config(overrides={"scorers": "detection", "detection.backend": "anthropic:claude-haiku-4-5"})
    assert stage_backend_spec(own, "detection") == "anthropic:claude-haiku-4-5"
    with pytest.raises(ConfigError, match=r"field 'scorers': unknown scorer 'nope'"):
        load_config(overrides={"scorers": "detection,nope"})
    with pytest.raises(ConfigError, match="negatives"):
        load_config(overrides={"negatives": "near"})
    assert default.part_hash("scorers") != cfg.part_hash("scorers")
