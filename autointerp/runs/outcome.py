"""What a run invocation ended with, counted from the store (so a resumed run reports its totals), and the
console lines and exit code that say so: one line per stage, one line per failure cause with its count."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autointerp.errors import EXIT_UNITS_FAILED, BudgetExceeded, RunHalted
from autointerp.runs.store import RunStore
from autointerp.secrets import redact_text
from autointerp.types import Usage

MAX_CAUSES = 5  # cause lines per stage; the rest are summed up in one line


@dataclass
class StageStatus:
    """One stage over the run's current units (all invocations)."""

    stage: str
    n_units: int
    ok: int = 0
    failed: int = 0
    earlier: int = 0  # ok before this invocation started
    causes: Counter = field(default_factory=Counter)
    spent_now: Usage = field(default_factory=Usage)
    spent_total: Usage = field(default_factory=Usage)

    @property
    def missing(self) -> int:
        return self.n_units - self.ok - self.failed

    def line(self) -> str:
        parts = [f"{self.stage} {self.ok}/{self.n_units} ok"]
        details = []
        if self.earlier:
            details.append(f"{self.earlier} from earlier invocations")
        if self.failed:
            details.append(f"{self.failed} failed")
        if self.missing:
            details.append(f"{self.missing} not done")
        if details:
            parts.append(f"({', '.join(details)})")
        parts.append(f"${self.spent_now.cost_usd:.4f} now, ${self.spent_total.cost_usd:.4f} in total")
        return " ".join(parts)

    def cause_lines(self) -> list[str]:
        out = []
        ranked = self.causes.most_common()
        for cause, n in ranked[:MAX_CAUSES]:
            out.append(f"{self.stage}: {n} unit{'s' if n != 1 else ''} failed: {cause}")
        rest = sum(n for _, n in ranked[MAX_CAUSES:])
        if rest:
            out.append(f"{self.stage}: {rest} more units failed for {len(ranked) - MAX_CAUSES} other reasons")
        return out


_PREFIXES = ("backend error: ",)
UPSTREAM = "no explanation"  # a scorer's cause when its unit's explanation failed: counted once, at the explainer


def cause_of(error: str | None) -> str:
    """A failure message reduced to its cause, so the same cause on many units is counted once."""
    text = (error or "unknown error").strip()
    for p in _PREFIXES:
        text = text.removeprefix(p)
    text = re.sub(r"\b([cw])\d+\b", r"\1N", text)  # context ids differ per unit
    text = re.sub(r"(['\"]).{40,}?\1", "'…'", text)  # quoted model output differs per unit
    text = re.sub(r"\bis \d+ (characters|tokens|words) long\b", r"is too long", text)  # lengths differ per unit
    return redact_text(" ".join(text.split()))[:200]


def stage_statuses(
    store: RunStore,
    stages: dict[str, str],
    unit_keys: list[str],
    ok_before: dict[str, set[str]],
    spent_now: dict[str, Usage],
    spent_total: dict[str, Usage],
) -> dict[str, StageStatus]:
    """Per stage (``stages``: stage -> params hash): ok / failed / not done among ``unit_keys``."""
    out = {}
    wanted = set(unit_keys)
    for stage, params in stages.items():
        latest = {k: r for k, r in store.latest(stage, params).items() if k in wanted}
        st = StageStatus(
            stage, len(unit_keys), spent_now=spent_now.get(stage, Usage()), spent_total=spent_total.get(stage, Usage())
        )
        for key, rec in latest.items():
            if getattr(rec, "ok", True):
                st.ok += 1
                st.earlier += key in ok_before.get(stage, set())
            else:
                st.failed += 1
                st.causes[cause_of(getattr(rec, "error", None))] += 1
        out[stage] = st
    return out


@dataclass
class RunOutcome:
    run_dir: Path
    n_units: int
    stages: dict[str, StageStatus] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=dict)  # per backend spec, this invocation
    seconds: float = 0.0
    budget: BudgetExceeded | None = None
    halted: RunHalted | None = None

    @property
    def budget_stopped(self) -> bool:
        return self.budget is not None

    @property
    def cost(self) -> float:
        """Dollars spent by this invocation."""
        return sum(s.spent_now.cost_usd for s in self.stages.values())

    @property
    def total_cost(self) -> float:
        """Dollars spent by the run folder over all invocations."""
        return sum(s.spent_total.cost_usd for s in self.stages.values())

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.stages.values())

    def exit_code(self) -> int:
        if self.halted is not None:
            return self.halted.exit_code
        if self.budget is not None:
            return self.budget.exit_code
        return EXIT_UNITS_FAILED if self.failed else 0

    def status_lines(self) -> list[str]:
        """Per stage: done in total, earlier, failed, cost now and in total; then the grand total."""
        lines = [s.line() for s in self.stages.values()]
        lines.append(f"cost: ${self.cost:.4f} this invocation, ${self.total_cost:.4f} for the run; {self.seconds:.0f}s")
        return lines

    def error_lines(self) -> list[str]:
        """One line per cause of failure (with counts), then the budget line; empty when all is well.

        A scorer that could not run because its unit has no explanation does not repeat the explainer's line: those
        stages share one line naming them."""
        lines, downstream = [], {}
        for s in self.stages.values():
            upstream = {c: n for c, n in s.causes.items() if c.startswith(UPSTREAM)}
            if upstream and s.stage != "explain":
                downstream[s.stage] = sum(upstream.values())
                own = StageStatus(s.stage, s.n_units, causes=Counter({c: n for c, n in s.causes.items()
                                                                      if c not in upstream}))  # fmt: skip
                lines += own.cause_lines()
            else:
                lines += s.cause_lines()
        if downstream:
            n = max(downstream.values())
            lines.append(f"{', '.join(downstream)}: not run for {n} unit{'s' if n != 1 else ''} without an "
                         "explanation (see explain above)")
        if self.budget is not None:
            missing = sum(s.missing for s in self.stages.values())
            lines.append(
                f"{self.budget}; {missing} unit-stages not done; finished records are saved; "
                "raise llm.max_cost (--max-cost) and rerun the same command to continue"
            )
        return lines
