"""Tokens and money per stage: from the run's spending ledger (``spend.jsonl``: every answered request, written
before the answer is used, so requests of a killed invocation count too) when it exists, else from the usage every
record carries (all attempts, failed ones included)."""

from __future__ import annotations

from pydantic import Field

from autointerp.report.load import RunData
from autointerp.types import Frozen, Usage


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
    source: str = Field(default="records", description="'ledger' (spend.jsonl) or 'records' (usage in the records).")


def stage_costs(run: RunData) -> tuple[StageCost, ...]:
    """One row per stage that spent or wrote records, sampling ('units') excluded: it sends no LLM request."""
    from autointerp.runs.spend import LEDGER_FILE, spend_by_stage

    ledger = spend_by_stage(run.run_dir) if (run.run_dir / LEDGER_FILE).exists() else None
    spent = ledger if ledger is not None else run.usage
    out = []
    for stage in [*run.usage, *(s for s in spent if s not in run.usage)]:
        if stage == "units":
            continue
        usage = spent.get(stage, Usage())
        records, failed = run.attempts.get(stage, (0, 0))
        out.append(StageCost(stage=stage, records=records, failed_records=failed, requests=usage.requests,
                             input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                             cache_read_tokens=usage.cache_read_tokens, cost_usd=usage.cost_usd,
                             source="ledger" if ledger is not None else "records"))  # fmt: skip
    return tuple(out)


def cost_line(costs: tuple[StageCost, ...]) -> str:
    """'cost: explain $0.0123, rubric $0.0456, simulate $0.0789; total $0.1368 (1,234 requests)'."""
    if not costs:
        return "cost: no LLM stage records"
    per = ", ".join(f"{c.stage} ${c.cost_usd:.4f}" for c in costs)
    total = sum(c.cost_usd for c in costs)
    return f"cost: {per}; total ${total:.4f} ({sum(c.requests for c in costs):,} requests)"
