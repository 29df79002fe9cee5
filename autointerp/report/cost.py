"""Tokens and money per stage, from the usage every record carries (all attempts, failed ones included)."""

from __future__ import annotations

from pydantic import Field

from autointerp.report.load import RunData
from autointerp.types import Frozen


class StageCost(Frozen):
    """What one stage spent in this run folder, summed over every record in its file (retries and failures too)."""

    stage: str
    records: int = Field(description="Records written (every attempt).")
    failed_records: int = Field(description="Of those, failed ones (their tokens are counted too).")
    requests: int = Field(description="LLM requests answered (cache hits send none and cost nothing).")
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cost_usd: float = Field(description="Dollar cost at the backend's price table (0 for local/unpriced models).")


def stage_costs(run: RunData) -> tuple[StageCost, ...]:
    """One row per stage that has records, sampling ('units') excluded: it sends no LLM request."""
    out = []
    for stage, usage in run.usage.items():
        if stage == "units":
            continue
        records, failed = run.attempts.get(stage, (0, 0))
        out.append(StageCost(stage=stage, records=records, failed_records=failed, requests=usage.requests,
                             input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                             cache_read_tokens=usage.cache_read_tokens, cost_usd=usage.cost_usd))  # fmt: skip
    return tuple(out)


def cost_line(costs: tuple[StageCost, ...]) -> str:
    """'cost: explain $0.0123, rubric $0.0456, simulate $0.0789; total $0.1368 (1,234 requests)'."""
    if not costs:
        return "cost: no LLM stage records"
    per = ", ".join(f"{c.stage} ${c.cost_usd:.4f}" for c in costs)
    total = sum(c.cost_usd for c in costs)
    return f"cost: {per}; total ${total:.4f} ({sum(c.requests for c in costs):,} requests)"
