"""A self-contained HTML report: one file, inline CSS, figures as base64 PNG, every text escaped.

Corpus text, explanations and errors can hold anything (including HTML), so
every string goes through :func:`html.escape`; tokens are cleaned with
:func:`autointerp.render.clean_token` and shaded by their activation level
(0-10, :func:`autointerp.render.normalise`).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence

import pandas as pd
import yaml

from autointerp.render import clean_token, normalise
from autointerp.report.load import RunData
from autointerp.report.stats import format_ci
from autointerp.report.summary import ReportSummary
from autointerp.types import Context

CONFIG_HEADLINE = ("model", "corpus", "max_tokens", "window", "sae", "sae_site", "neuron_site", "features", "neurons",
                   "backends")  # fmt: skip

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}.muted{color:#777;font-size:.9em}.err{color:#b00020}
.unit{border:1px solid #e4e4e4;border-radius:6px;padding:.6em 1em;margin:1em 0}
.unit h3{margin:.1em 0 .4em 0;font-size:1.05em;font-family:ui-monospace,Menlo,Consolas,monospace}
.expl{font-size:1.02em;margin:.3em 0}.ctx{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82em;
white-space:pre-wrap;background:#fafafa;border-left:3px solid #ddd;padding:.3em .5em;margin:.3em 0;
word-break:break-word}
.flag{background:#fff3cd;border-radius:3px;padding:0 .3em;font-size:.8em;margin-left:.4em}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
""" + "".join(f".a{i}{{background:rgba(255,110,0,{i / 10:.1f})}}" for i in range(1, 11))


def esc(value: object) -> str:
    """Escape any value for HTML text or attribute context."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] = ()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(v)}</td>' if i < len(numeric) and numeric[i] else f"<td>{esc(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_context(context: Context, max_activation: float) -> str:
    """One context as escaped text with each active token shaded by its 0-10 level (hover: raw activation)."""
    levels = normalise(context.activations, max_activation)
    parts = []
    for token, act, level in zip(context.tokens, context.activations, levels):
        text = esc(clean_token(token).replace("\n", "\u21b5"))
        parts.append(f'<span class="a{level}" title="{act:.3g}">{text}</span>' if level > 0 else text)
    return f'<div class="ctx">{"".join(parts)}</div>'


def _run_section(run: RunData, summary: ReportSummary) -> str:
    info = summary.run
    rows = [("run", info.name), ("path", info.path), ("created", info.created), ("config hash", info.config_hash),
            ("autointerp version", info.autointerp_version), ("seed", info.seed),
            ("bootstrap", f"seed {summary.bootstrap_seed}, {summary.n_resamples} resamples, percentile 95% CI")]
    rows += [(f"model: {k}", v) for k, v in info.models.items()]
    rows += [(k, yaml.safe_dump(run.config[k], default_flow_style=True).strip() if isinstance(run.config[k], dict)
              else run.config[k]) for k in CONFIG_HEADLINE if k in run.config]  # fmt: skip
    full = esc(yaml.safe_dump(run.config, sort_keys=False)) if run.config else "(no config.yaml)"
    prov = _table(
        ("stage", "backend", "model", "prompt id", "version", "prompt hash", "config hash", "seed", "records"),
        ((p.stage, p.backend, p.model, p.prompt_id, p.prompt_version, p.prompt_hash, p.config_hash, p.seed,
          p.n_records) for p in summary.provenance),  # fmt: skip
    )
    return (f"<h2>Run</h2>{_table(('field', 'value'), rows)}<details><summary>Full config</summary><pre>{full}</pre>"
            f"</details><h3>Provenance</h3>{prov}")  # fmt: skip


def _headline_section(summary: ReportSummary) -> str:
    stats = _table(
        ("metric", "group", "median [95% CI]", "mean", "n", "failed", "undefined", "missing"),
        ((m.metric, m.group, format_ci(m, 3), _num(m.mean), m.n, m.n_failed, m.n_undefined, m.n_missing)
         for m in summary.metrics),  # fmt: skip
        numeric=(False, False, True, True, True, True, True, True),
    )
    tests = _table(
        ("metric", "a vs b", "U", "p (two-sided)", "rank-biserial r", "P(a > b)", "n a", "n b"),
        ((t.metric, f"{t.group_a} vs {t.group_b}", f"{t.u:.1f}", f"{t.p_value:.3g}", f"{t.rank_biserial:+.3f}",
          f"{t.common_language:.3f}", t.n_a, t.n_b) for t in summary.tests),  # fmt: skip
        numeric=(False, False, True, True, True, True, True, True),
    ) if summary.tests else '<p class="muted">No test: features and neurons are not both present with scores.</p>'
    counts = _table(
        ("kind", "units", "sampling failed", "explained", "explain failed", "rubric ok", "rubric failed",
         "judgements", "judgements failed", "simulated", "simulation failed", "simulation undefined"),
        ((c.kind, c.n_units, c.n_sample_failed, c.n_explained, c.n_explain_failed, c.n_rubric_ok, c.n_rubric_failed,
          c.n_judgements, c.n_judgements_failed, c.n_simulated, c.n_simulation_failed, c.n_simulation_undefined)
         for c in summary.counts),  # fmt: skip
        numeric=(False, *[True] * 11),
    )
    return (f"<h2>Features vs neurons</h2>{stats}<h3>Mann-Whitney U</h3>{tests}<h3>Sample sizes</h3>{counts}"
            '<p class="muted">Mean specificity: mean 0-3 rating over a unit\'s activating held-out contexts. '
            "Simulation score: Pearson r of simulated vs true activations pooled over held-out contexts.</p>")


def _figure(title: str, png: bytes | None, caption: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    img = f'<img alt="{esc(title)}" src="data:image/png;base64,{data}">'
    return f'<h2>{esc(title)}</h2>{img}<p class="muted">{esc(caption)}</p>'


def _rating_summary(judgements: pd.DataFrame) -> str:
    parts = []
    activating = judgements["level"] >= 0
    for name, sub in (("activating", judgements[activating]), ("random", judgements[~activating])):
        ok = sub[sub["ok"]]
        if len(sub):
            counts = ok["score"].value_counts().to_dict()
            mix = " ".join(f"{s}\u00d7{counts.get(s, 0)}" for s in range(4))
            failed = f", {len(sub) - len(ok)} failed" if len(sub) > len(ok) else ""
            parts.append(f"{name}: {mix}{failed}")
    return "; ".join(parts)


def _ratings_html(ratings: str) -> str:
    return f'<p class="muted">held-out ratings (score\u00d7count): {esc(ratings)}</p>' if ratings else ""


def _unit_section(run: RunData, row: pd.Series, judgements: pd.DataFrame, max_contexts: int) -> str:
    key = row["unit"]
    samples = run.units.get(key)
    flags = "".join(f'<span class="flag">{esc(f)}</span>' for f in str(row["flags"]).split(";") if f)
    expl = (f'<p class="expl">{esc(row["explanation"])}</p>' if isinstance(row["explanation"], str)
            else '<p class="expl muted">(no explanation)</p>')  # fmt: skip
    scores = (f"simulation r = {_num(row['simulation_score'])} &middot; mean specificity = "
              f"{_num(row['mean_specificity'], 2)} ({row['n_judgements']} ratings) &middot; firing frequency = "
              f"{_num(row['firing_frequency'])} &middot; max activation = {_num(row['max_activation'])}")  # fmt: skip
    ratings = _rating_summary(judgements)
    errors = f'<p class="err">{esc(row["errors"])}</p>' if row["errors"] else ""
    contexts = ""
    if samples is not None:
        pool = samples.explain_contexts(("top",)) or list(samples.explain)
        top = sorted(pool, key=lambda c: c.max_activation, reverse=True)[:max_contexts]
        contexts = "".join(render_context(c, samples.stats.max_activation) for c in top)
    return (f'<div class="unit" id="{esc(key)}"><h3>{esc(key)} <span class="muted">({esc(row["kind"])})</span>{flags}'
            f'</h3>{expl}<p class="muted">{scores}</p>'
            f'{_ratings_html(ratings)}{errors}{contexts}</div>')  # fmt: skip


def render_html(
    run: RunData,
    summary: ReportSummary,
    units: pd.DataFrame,
    judgements: pd.DataFrame,
    figures: dict[str, bytes],
    *,
    max_units: int = 2000,
    max_contexts: int = 5,
) -> str:
    """The whole report as one HTML string (``figures``: 'specificity' / 'comparison' -> PNG bytes)."""
    by_unit = dict(tuple(judgements.groupby("unit"))) if len(judgements) else {}
    empty = judgements.iloc[0:0]
    shown = units.head(max_units)
    unit_html = "".join(
        _unit_section(run, row, by_unit.get(row["unit"], empty), max_contexts) for _, row in shown.iterrows()
    )
    more = f'<p class="muted">{len(units) - len(shown)} more units in units.csv.</p>' if len(units) > len(shown) else ""
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>autointerp report: {esc(run.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>autointerp report: {esc(run.name)}</h1>"
        f'<p class="muted">written by autointerp {esc(summary.report_version)}</p>'
        + _run_section(run, summary)
        + _headline_section(summary)
        + _figure("Specificity by activation level", figures.get("specificity"),
                  "Fraction of held-out contexts per 0-3 specificity rating, per activation-level bin ('none': random "
                  "non-activating contexts). Failed ratings are excluded.")  # fmt: skip
        + _figure("Score distributions", figures.get("comparison"),
                  "Per-unit scores; box: quartiles; diamond: median with 95% bootstrap CI.")  # fmt: skip
        + f"<h2>Units ({len(units)})</h2>{unit_html}{more}</body></html>"
    )
