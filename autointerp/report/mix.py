"""The context mix actually used per unit kind: what each stage was given, by context kind, and a warning when
features and neurons were not given the same mix.

Rows: (unit kind, source) where source is ``sampled`` (the held-out contexts the sampler kept), ``simulation``
(the contexts each simulation scored) or ``rubric`` (the contexts each rubric rated, plus how many of them were
below the threshold, level -1). Values are medians per unit, so one unit with a short corpus does not hide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape as esc
from pathlib import Path

import numpy as np
import pandas as pd

from autointerp.report.load import RunData

CONTEXT_KINDS = ("top", "quantile", "random")
SOURCES = ("sampled", "simulation", "rubric")
COLUMNS = ["kind", "source", "n_units", *CONTEXT_KINDS, "below_threshold"]
SAMPLER_KEYS = ("bins", "n_bins", "per_bin", "top_k", "n_random", "signed", "threshold")


def _per_unit(run: RunData) -> Iterable[tuple[str, str, dict[str, int]]]:
    """(unit kind, source, counts) for every unit record of the run."""
    for key, us in run.units.items():
        counts = {k: sum(c.kind == k for c in us.heldout) for k in CONTEXT_KINDS}
        yield us.unit.kind, "sampled", counts | {"below_threshold": sum(c.level < 0 for c in us.heldout)}
    for key, sim in run.simulations.items():
        if sim.ok and sim.contexts:
            kind = run.unit_ids[key].kind if key in run.unit_ids else sim.unit.kind
            counts = {k: sum(c.kind == k for c in sim.contexts) for k in CONTEXT_KINDS}
            yield kind, "simulation", counts | {"below_threshold": None}
    for key, res in run.rubric.items():
        if res.judgements:
            kind = run.unit_ids[key].kind if key in run.unit_ids else res.unit.kind
            counts = {k: sum(j.kind == k for j in res.judgements) for k in CONTEXT_KINDS}
            yield kind, "rubric", counts | {"below_threshold": sum(j.level < 0 for j in res.judgements)}


def mix_table(run: RunData) -> pd.DataFrame:
    """Median contexts per unit of each context kind, per (unit kind, source)."""
    rows: dict[tuple[str, str], list[dict[str, int | None]]] = {}
    for kind, source, counts in _per_unit(run):
        rows.setdefault((kind, source), []).append(counts)
    out = []
    for (kind, source), counts in sorted(rows.items(), key=lambda kv: (kv[0][0], SOURCES.index(kv[0][1]))):
        frame = pd.DataFrame(counts, dtype=float)
        med = {c: (float(np.median(frame[c])) if frame[c].notna().any() else None)
               for c in [*CONTEXT_KINDS, "below_threshold"]}  # fmt: skip
        out.append({"kind": kind, "source": source, "n_units": len(counts), **med})
    return pd.DataFrame(out, columns=COLUMNS)


def mix_differences(table: pd.DataFrame) -> list[str]:
    """Sources whose median mix by context kind differs between unit kinds (e.g. features vs neurons)."""
    diffs = []
    for source, sub in table.groupby("source", sort=False):
        mixes = {row.kind: tuple(getattr(row, k) for k in CONTEXT_KINDS) for row in sub.itertuples()}
        if len(set(mixes.values())) > 1:
            text = "; ".join(f"{k}s " + "/".join(f"{v:g}" for v in m) for k, m in mixes.items())
            diffs.append(f"{source}: {text} ({'/'.join(CONTEXT_KINDS)})")
    return diffs


def _rule(config: Mapping) -> str:
    sampler = config.get("sampler") or {}
    parts = [f"{k}={sampler[k]}" for k in SAMPLER_KEYS if k in sampler]
    return ", ".join(parts) if parts else "sampler defaults"


def mix_section(run: RunData, out: Path | None = None) -> str:
    """HTML: the table, a warning per source where the unit kinds' mixes differ, and the sampler rule used.

    With ``out``, the table is also written to ``out/context_mix.csv``.
    """
    table = mix_table(run)
    if table.empty:
        return ""
    if out is not None:
        table.to_csv(out / "context_mix.csv", index=False)

    def cell(v: float | None) -> str:
        return "" if v is None or pd.isna(v) else f"{v:g}"

    rows = "".join(
        "<tr>" + f"<td>{esc(str(r.kind))}</td><td>{esc(str(r.source))}</td><td class='num'>{r.n_units}</td>"
        + "".join(f"<td class='num'>{cell(getattr(r, c))}</td>" for c in [*CONTEXT_KINDS, "below_threshold"])
        + "</tr>"
        for r in table.itertuples()
    )
    head = "".join(f"<th>{h}</th>" for h in ("kind", "source", "units", *CONTEXT_KINDS, "below threshold"))
    warn = "".join(f'<p class="warn">Warning: the context mix differs between unit kinds, {esc(d)}.</p>'
                   for d in mix_differences(table))  # fmt: skip
    return (
        "<h3>Context mix per kind</h3>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{warn}"
        '<p class="muted">Median contexts per unit: held-out contexts the sampler kept, contexts each simulation '
        "scored, contexts each rubric rated ('below threshold': window max at or below threshold x the unit's "
        f"max, level -1). Sampler rule: {esc(_rule(run.config))}; random contexts are uniform windows, "
        "the same for every unit.</p>"
    )
