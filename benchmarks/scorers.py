"""Requests, tokens and dollars per unit of every scorer at default settings, and the dry-run estimator checked.

Units: planted units (tests/support/planted.py) sampled by the real streaming sampler at the default
SamplerConfig and the default 64-token window, so every scorer draws its default number of contexts.

1. Estimate: the ``--dry-run`` estimator (``autointerp.runs.plan``) per unit for each stage of a run with
   all seven scorers: requests, input tokens (4 characters per token), output tokens, and $ per unit at
   ``anthropic:claude-haiku-4-5`` and ``openai:gpt-4.1-mini`` prices (autointerp/data/prices.yaml).
2. Check: the same units really scored through the loopback server (tests/support/api_server.py) with the
   real ``openai-compatible`` backend stack; per stage the requests it received and the input it counted
   (whitespace words: the server's fake tokenizer), and the BPE tokens of that same sent text under
   SmolLM2's tokenizer, against the estimate. Simulation's default method needs logprob answers the
   loopback handler does not fake, so it is estimated only.

Last line: ``cost_per_unit_all_scorers_usd: X`` - the explainer plus all seven scorers, one unit, the
cheaper of the two models.

    python benchmarks/scorers.py [--units 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from autointerp.backends import PriceTable, build_backend
from autointerp.judging.explain import explain_unit
from autointerp.runs import plan
from autointerp.runs.config import RunConfig
from autointerp.sampling import SamplerConfig
from autointerp.scorers.base import ScoreInput
from autointerp.scorers.negatives import foreign_contexts
from autointerp.scorers.orchestrate import judge_stages, scorer_of_stage
from tests.integration.test_scorers_run import handler
from tests.support.api_server import ApiServer
from tests.support.planted import PlantedSource, make_world, planted_samples

SEVEN = ["specificity", "simulation", "detection", "fuzzing", "embedding", "intruder", "saebench"]
MODELS = ("anthropic:claude-haiku-4-5", "openai:gpt-4.1-mini")
SYSTEM_MARKERS = {  # which stage a request served, from its system text
    "explain": "You are studying one unit", "rubric": "You judge how well", "detection": "from the description alone",
    "fuzzing": "arbitrary tokens", "intruder": "Exactly one excerpt", "saebench": ("one plain sentence",
                                                                                   "Return the numbers"),
}


def units(n: int):
    world = make_world(n_units=max(n, 4), vocab_size=400, n_docs=600, doc_len=64, seed=0)
    samples = planted_samples(world, SamplerConfig(seed=0), window=64)[:n]
    windows = {w.index: w for w in world.windows(64)}
    dirs = torch.tensor(np.random.default_rng(0).normal(size=(world.n_units, 16)), dtype=torch.float32)
    pool = foreign_contexts(planted_samples(world, SamplerConfig(seed=0), window=64), windows,
                            PlantedSource(world).batches, dirs)
    return samples, pool


def estimate(config: RunConfig, samples) -> dict[str, tuple[float, float, float]]:
    out = {}
    for stage in judge_stages(config):
        rows = [plan._unit_plan(stage, us, config) for us in samples]
        out[stage] = tuple(float(np.mean([r[i] for r in rows])) for i in range(3))
    return out


def _stage_of(system: str) -> str | None:
    for stage, marker in SYSTEM_MARKERS.items():
        if any(m in system for m in ((marker,) if isinstance(marker, str) else marker)):
            return stage
    return None


async def measured_run(config: RunConfig, samples, pool, url: str) -> None:
    backend = build_backend(f"openai-compatible:gpt-4.1-mini@{url}", max_concurrency=4)
    try:
        for us in samples:
            exp = await explain_unit(us, backend, config.explain, seed=config.seed)
            inp = ScoreInput(samples=us, explanation=exp, foreign=pool[us.unit.key], negatives=config.negatives)
            for stage in judge_stages(config):
                scorer = scorer_of_stage(stage) if stage != "explain" else None
                if scorer is None or scorer.name == "simulation" or not scorer.uses_llm:
                    continue
                await scorer.score(inp, backend, getattr(config, scorer.config_field), config.seed)
    finally:
        await backend.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=3)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from autointerp.activations.models import fetch_model

    samples, pool = units(args.units)
    prices = PriceTable.load()
    tokenizer = AutoTokenizer.from_pretrained(fetch_model("smollm2-135m"))

    est = {}
    for spec in MODELS:
        cfg = RunConfig(scorers=SEVEN, backends={s: spec for s in ("explain", "rubric", "simulate")})
        est[spec] = estimate(cfg, samples)
    cfg = RunConfig(scorers=SEVEN, backends={s: "openai:gpt-4.1-mini" for s in ("explain", "rubric", "simulate")})

    with ApiServer(handler=handler) as server:
        asyncio.run(measured_run(cfg, samples, pool, server.openai_base_url))
        sent: dict[str, list[int]] = {}
        for r in server.requests:
            body = r.json
            system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
            stage = _stage_of(system)
            if stage is None:
                continue
            text = "\n".join(m["content"] for m in body["messages"])
            words = len(text.split())
            bpe = len(tokenizer(text, add_special_tokens=False)["input_ids"])
            acc = sent.setdefault(stage, [0, 0, 0])
            acc[0], acc[1], acc[2] = acc[0] + 1, acc[1] + words, acc[2] + bpe

    n = len(samples)
    print(f"per unit, at default settings ({n} planted units, 64-token windows, default sampler); "
          "estimate = the --dry-run estimator\n")
    head = (f"{'stage':<12} {'requests':>8} {'in tok':>8} {'out tok':>8} {'$ haiku-4.5':>12} {'$ 4.1-mini':>11}"
            f" | {'sent req':>8} {'srv words':>9} {'BPE in':>8} {'est/BPE':>7}")
    print(head)
    print("-" * len(head))
    totals = dict.fromkeys(MODELS, 0.0)
    for stage in judge_stages(cfg):
        row = []
        for spec in MODELS:
            req, tin, tout = est[spec][stage]
            price = prices.lookup(spec.split(":", 1)[1])
            cost = (tin * price.input + tout * price.output) / 1e6
            totals[spec] += cost
            row.append((req, tin, tout, cost))
        req, tin, tout, _ = row[1]
        got = sent.get(stage)
        check = (f" | {got[0] / n:>8.1f} {got[1] / n:>9.0f} {got[2] / n:>8.0f} {tin / (got[2] / n):>7.2f}" if got
                 else f" | {'(estimate only)':>36}")
        print(f"{stage:<12} {req:>8.1f} {tin:>8.0f} {tout:>8.0f} {row[0][3]:>12.5f} {row[1][3]:>11.5f}{check}")
    print(f"{'all':<12} {'':>8} {'':>8} {'':>8} {totals[MODELS[0]]:>12.5f} {totals[MODELS[1]]:>11.5f}")
    print(f"\ncost_per_unit_all_scorers_usd: {min(totals.values()):.5f}")


if __name__ == "__main__":
    main()
