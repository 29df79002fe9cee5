"""What the dictionary tools add to a unit's report card: TokenChange tokens and the attribution heat map.

Reads files other commands wrote into the run folder (``output_evidence.json`` from the pipeline,
``report/attribution/<unit>/heatmap.png`` from ``autointerp attribute``); a unit without them gets nothing.
The heat map is embedded (base64) so report.html stays self-contained.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from html import escape
from pathlib import Path

from autointerp.dictionaries.output import OUTPUT_EVIDENCE_FILE
from autointerp.dictionaries.records import unit_folder_name


@lru_cache(maxsize=8)
def _evidence(path: str, mtime_ns: int) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tokens(items: list) -> str:
    return ", ".join(escape(repr(str(t.get("token", "")))) for t in items if isinstance(t, dict)) or "(none)"


def unit_card_extras(run_dir: str | Path, unit: str) -> str:
    """HTML for one unit's card (empty when the run has no output evidence or attribution for it)."""
    run_dir = Path(run_dir)
    parts = []
    path = run_dir / OUTPUT_EVIDENCE_FILE
    ev = _evidence(str(path), path.stat().st_mtime_ns).get(unit) if path.is_file() else None
    if isinstance(ev, dict) and ev.get("raised"):
        parts.append(
            f'<p class="muted">TokenChange (alpha {float(ev.get("alpha", 0)):.3g}): probability up for '
            f"{_tokens(ev['raised'])}; down for {_tokens(ev.get('lowered', []))}</p>"
        )
    folder = run_dir / "report" / "attribution" / unit_folder_name(unit)
    png = folder / "heatmap.png"
    if png.is_file():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        rel = f"attribution/{unit_folder_name(unit)}/attribution.csv"
        parts.append(
            f'<details><summary>context attribution (<a href="{escape(rel)}">CSV</a>)</summary>'
            f'<img alt="context attribution heat map of {escape(unit)}" style="max-width:100%" '
            f'src="data:image/png;base64,{data}"></details>'
        )
    return "".join(parts)
