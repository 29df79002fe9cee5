"""The run's spending ledger: every answered LLM request's tokens and cost, persisted in the run folder.

``<run>/spend.jsonl`` gets one line per answered (not cached) request — stage, unit, backend, tokens,
cost — flushed to the OS before the answer is used, so the money a run has spent survives a crash and is counted
on the next invocation: ``llm.max_cost`` is the budget of the *run*, across invocations. Units that
finally failed are in the ledger too (their tokens were paid for). The report reads per-stage totals
with :func:`spend_by_stage`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path

from autointerp.runs.store import cut_torn_tail, read_lines
from autointerp.secrets import redact_url
from autointerp.types import Usage

LEDGER_FILE = "spend.jsonl"
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "requests", "cost_usd")


class Ledger:
    """Append-only record of paid requests of one run folder, with running totals."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LEDGER_FILE
        self._lock = threading.Lock()
        self.before: dict[str, Usage] = defaultdict(Usage)  # per stage, earlier invocations
        self.now: dict[str, Usage] = defaultdict(Usage)  # per stage, this invocation
        if self.path.exists():
            for _, line in read_lines(self.path):
                if isinstance(line, dict) and isinstance(line.get("stage"), str):
                    self.before[line["stage"]] += _usage(line)

    def add(self, stage: str, unit: str | None, backend: str, model: str, usage: Usage) -> None:
        """Persist one answered request (written and flushed before returning)."""
        entry = {
            "t": round(time.time(), 3),
            "stage": stage,
            "unit": unit,
            "backend": redact_url(backend),
            "model": model,
        }
        entry |= {f: getattr(usage, f) for f in _USAGE_FIELDS}
        entry["requests"] = max(usage.requests, 1)
        line = (json.dumps(entry) + "\n").encode()
        with self._lock:
            with open(self.path, "a+b") as fh:
                cut_torn_tail(fh)  # a line torn by a kill would otherwise glue onto this one
                fh.write(line)
                fh.flush()  # in the OS page cache: survives kill -9 (not power loss), without an fsync per request
            self.now[stage] += _usage(entry)

    @property
    def spent(self) -> float:
        """Dollars spent by this run folder so far, all invocations."""
        return sum(u.cost_usd for u in self.before.values()) + sum(u.cost_usd for u in self.now.values())

    def totals(self) -> dict[str, Usage]:
        """Per stage: usage over all invocations."""
        stages = set(self.before) | set(self.now)
        return {s: self.before.get(s, Usage()) + self.now.get(s, Usage()) for s in sorted(stages)}


def _usage(line: dict) -> Usage:
    return Usage(**{f: line.get(f) or 0 for f in _USAGE_FIELDS})


def spend_by_stage(run_dir: str | Path) -> dict[str, Usage]:
    """Per stage: tokens, requests and cost the run folder has spent over all invocations (empty if none)."""
    return Ledger(run_dir).totals()
