"""A small synthetic run folder written through the real RunStore (seeded, with failures of every kind)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import yaml

from autointerp.runs.store import RunStore
from autointerp.types import (
    Context,
    ContextSimulation,
    Explanation,
    Provenance,
    RubricJudgement,
    RubricResult,
    Simulation,
    UnitId,
    UnitSamples,
    UnitStats,
    Usage,
)

N_BINS = 4
SCRIPT = "<script>alert('x')</script>"
WORDS = ("the", " cat", " sat", " on", " a", " mat", " and", " then", " it", " slept")


def prompt_hash(stage: str) -> str:
    """A full 64-hex SHA-256, as real records carry (long unbroken strings must wrap in the page)."""
    return hashlib.sha256(stage.encode()).hexdigest()


def _prov(stage: str) -> Provenance:
    return Provenance(backend="fake:model-1", model="model-1", prompt_id=f"{stage}-v1", prompt_version="1",
                      prompt_hash=prompt_hash(stage), config_hash="cfg123", seed=0)  # fmt: skip


def _usage(facts: dict, stage: str) -> Usage:
    """A priced usage per record (every attempt, failed ones too), tallied in facts['cost'][stage]."""
    n = len(facts["cost"].setdefault(stage, []))
    usage = Usage(input_tokens=100 + n, output_tokens=10, requests=1, cost_usd=0.001 * (1 + n % 3))
    facts["cost"][stage].append(usage.cost_usd)
    return usage


def _context(rng: np.random.Generator, cid: str, window: int, kind: str, level: int, peak: float) -> Context:
    tokens = [WORDS[i] for i in rng.integers(0, len(WORDS), size=8)]
    acts = np.zeros(8)
    if level >= 0:
        acts[rng.integers(0, 8)] = peak
    if cid.endswith("script"):
        tokens[2] = SCRIPT
        acts[2] = peak
    return Context(context_id=cid, window_index=window, tokens=tuple(tokens), activations=tuple(float(a) for a in acts),
                   kind=kind, level=level)  # fmt: skip


def make_run(
    run_dir: Path, *, seed: int = 0, n_features: int = 12, n_neurons: int = 10, shift: float = 1.0, sae: str = "toy",
    neuron_site: str = "layers.0.mlp",
) -> dict:
    """Write a run; returns the hand-known facts the tests check against (failures, scores per unit)."""
    rng = np.random.default_rng(seed)
    store = RunStore(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    backends = {"explain": "fake:m", "rubric": "openai-compatible:m@http://user:hunter2@host:8000/v1",
                "simulate": "fake:m"}
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"name": run_dir.name, "model": "tiny", "seed": 7,
                                                        "sae": "sae.safetensors", "backends": backends}))  # fmt: skip
    (run_dir / "run.json").write_text('{"autointerp_version": "0.1.0", "config_hash": "cfg123", "created": 1735689600.0,'
                                      ' "model": "tiny", "sae": "sae.safetensors", "backends": {"explain": "fake:m"}}')
    units = [UnitId(basis=f"sae:{sae}", index=i) for i in range(n_features)]
    units += [UnitId(basis=f"neurons:{neuron_site}", index=i) for i in range(n_neurons)]
    facts = {"sim": {}, "spec": {}, "failed_judgements": 0, "cost": {}}
    window = 0
    for u in units:
        is_feature = u.kind == "feature"
        max_act = float(rng.uniform(2, 5))
        edges = tuple(float(x) for x in np.linspace(0, max_act, N_BINS + 1))
        heldout = []
        for level in range(-1, N_BINS):
            for j in range(2 if level >= 0 else 3):
                suffix = "script" if (u.index == 0 and level == N_BINS - 1 and j == 0) else str(j)
                heldout.append(_context(rng, f"h{window}-{suffix}", window, "random" if level < 0 else "quantile",
                                        level, edges[level + 1] if level >= 0 else 0.0))  # fmt: skip
                window += 1
        explain = tuple(
            _context(rng, f"e{window + k}" + ("-script" if u.index == 0 and k == 0 else ""), window + k, "top",
                     N_BINS - 1, max_act * (1 - 0.1 * k))
            for k in range(3)
        )  # fmt: skip
        window += 3
        stats = UnitStats(n_tokens=1000, n_windows=100, n_active_tokens=30, firing_frequency=0.03,
                          max_activation=max_act, mean_activation=0.1, mean_active_activation=1.0,
                          histogram_edges=tuple(np.linspace(0, max_act, 9).tolist()), histogram_counts=(12, 7, 4, 3, 2, 1, 0, 1),
                          flags=("rare",) if u.index == 1 else ())  # fmt: skip
        samples = UnitSamples(unit=u, stats=stats, bin_edges=edges, explain=explain, heldout=tuple(heldout))
        store.append("units", samples, params="p")

        # explanation: unit 2 of each kind fails for good; unit 3 fails then succeeds on retry
        text = f"<b>{u.kind}</b> {u.index} fires on cats & mats" + (f" {SCRIPT}" if u.index == 0 else "")
        if u.index in (2, 3):
            failed = Explanation(unit=u, ok=False, error="malformed answer", provenance=_prov("explain"),
                                 usage=_usage(facts, "explain"))
            store.append("explain", failed)
        if u.index != 2:
            store.append("explain", Explanation(unit=u, ok=True, text=text, provenance=_prov("explain"),
                                                usage=_usage(facts, "explain")))
        else:
            continue

        # rubric: features rate higher at higher levels; neuron 4 fails; unit 5 has one failed judgement
        if u.index == 4 and not is_feature:  # failed record with a partial (excluded) rating
            c = heldout[-1]
            partial = RubricJudgement(context_id=c.context_id, window_index=c.window_index, kind=c.kind,
                                      true_activation=c.max_activation, level=c.level, score=3)  # fmt: skip
            store.append("rubric", RubricResult(unit=u, ok=False, error="backend down", judgements=(partial,),
                                                provenance=_prov("rubric"), usage=_usage(facts, "rubric")))  # fmt: skip
            facts["failed_judgements"] += 1
        else:
            judgements = []
            for k, c in enumerate(heldout):
                base = (c.level + 1) * (0.8 if is_feature else 0.4) * shift
                score = int(np.clip(np.round(base + rng.normal(0, 0.6)), 0, 3))
                if u.index == 5 and k == 0:
                    judgements.append(RubricJudgement(context_id=c.context_id, window_index=c.window_index, kind=c.kind,
                                                      true_activation=c.max_activation, level=c.level, ok=False,
                                                      error="unparseable"))  # fmt: skip
                    facts["failed_judgements"] += 1
                    continue
                judgements.append(RubricJudgement(context_id=c.context_id, window_index=c.window_index, kind=c.kind,
                                                  true_activation=c.max_activation, level=c.level,
                                                  score=score))  # fmt: skip
            rr = RubricResult(unit=u, ok=True, explanation=text, judgements=tuple(judgements),
                              provenance=_prov("rubric"), usage=_usage(facts, "rubric"))  # fmt: skip
            store.append("rubric", rr)
            act = [j.score for j in judgements if j.ok and j.level >= 0]
            facts["spec"][u.key] = sum(act) / len(act)

        # simulation: features correlate better; unit 6 fails, unit 7 has an undefined score
        if u.index == 6:
            store.append("simulate", Simulation(unit=u, ok=False, error="bad list", provenance=_prov("simulate"),
                                                usage=_usage(facts, "simulate")))
            continue
        score = None if u.index == 7 else float(np.clip(rng.normal(0.5 * shift if is_feature else 0.15, 0.15), -1, 1))
        sim = Simulation(unit=u, ok=True, explanation=text, method="json-list", score=score,
                         score_note="constant prediction" if score is None else None,
                         contexts=(ContextSimulation(context_id="h0-0", kind="quantile", true=(0.0, 1.0),
                                                     predicted=(0.0, 5.0), correlation=1.0),),
                         provenance=_prov("simulate"), usage=_usage(facts, "simulate"))  # fmt: skip
        store.append("simulate", sim)
        if score is not None:
            facts["sim"][u.key] = score
    logits = {u.key: {"promoted": [" cat", " mat", f" w{u.index}"], "suppressed": [" dog", "<b>"]} for u in units
              if u.kind == "feature"}  # as the pipeline writes them; neurons here have no unembedding path
    (run_dir / "logit_tokens.json").write_text(json.dumps(logits))
    return facts
