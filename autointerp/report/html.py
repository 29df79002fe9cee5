"""A self-contained HTML report: one file, inline CSS and JS, figures as base64 PNG, every text escaped.

Corpus text, explanations and errors can hold anything (including HTML), so every string goes through
:func:`html.escape`; tokens are cleaned with :func:`autointerp.judging.render.clean_token` and shaded by their
activation level (0-10, :func:`autointerp.judging.render.normalise`). Nothing is loaded from the network.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

import pandas as pd
import yaml

from autointerp.dictionaries.card import unit_card_extras
from autointerp.report.cards import BROWSER_JS, CARD_CSS, browser_controls, esc, fmt, render_context, unit_card
from autointerp.report.cost import StageCost
from autointerp.report.load import RunData
from autointerp.report.pooled import pooled_line
from autointerp.report.scores import MetricSpec
from autointerp.report.stats import GroupStats, GroupTest, format_ci
from autointerp.report.summary import CompareSummary, ReportSummary, compare_line
from autointerp.report.verdict import ALPHA, MIN_UNITS, verdict_frame
from autointerp.secrets import redact_tree

__all__ = ["esc", "render_compare_html", "render_context", "render_html"]

# Run-table rows from config.yaml, in this order; every other key is in the full config below the table.
CONFIG_ROWS = ("model", "corpus", "max_tokens", "window", "sae", "sae_site", "neuron_site", "features", "neurons")

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em;max-width:100%}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code.hash{font-size:.85em;word-break:break-all}
img{max-width:100%;height:auto}.muted{color:#777;font-size:.9em}.err{color:#b00020}.warn{color:#8a4b00}
.headline{font-size:1.05em;background:#f7f9fc;border-left:4px solid #3d8bc4;padding:.6em 1em}
.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.figs>div{flex:1 1 420px;min-width:0}
.expl{font-size:1.02em;margin:.3em 0}.ctx{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82em;
white-space:pre-wrap;background:#fafafa;border-left:3px solid #ddd;padding:.3em .5em;margin:.3em 0;
word-break:break-word}
.flag{background:#fff3cd;border-radius:3px;padding:0 .3em;font-size:.8em;margin-left:.4em}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em;max-width:100%}
#verdict table{width:100%;table-layout:fixed;font-size:.85em}#verdict td,#verdict th{overflow-wrap:anywhere}
#verdict td.ci{white-space:normal;font-variant-numeric:tabular-nums}#verdict tr.gate td{background:#fafafa}
#verdict .v{font-weight:600}#verdict .v-fails,#verdict .v-inconclusive{color:#8a4b00}
#verdict .v-features-higher,#verdict .v-neurons-higher{color:#0b6b2e}#verdict .why{font-size:.85em;color:#555}
""" + "".join(f".a{i}{{background:rgba(255,110,0,{i / 10:.1f})}}" for i in range(1, 11)) + CARD_CSS

_num = fmt


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] = (), raw=()) -> str:
    """A table in a horizontally scrolling box (wide tables never widen the page); ``raw``: columns of HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = str(v) if i in raw else esc(v)
            cls = ' class="num"' if i < len(numeric) and numeric[i] else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _hash(value: object) -> str:
    return f'<code class="hash">{esc(value)}</code>'


def _figure(title: str, png: bytes | None, caption: str, level: int = 2) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    img = f'<img alt="{esc(title)}" src="data:image/png;base64,{data}">'
    return f'<h{level}>{esc(title)}</h{level}>{img}<p class="muted">{esc(caption)}</p>'


# ---------------------------------------------------------------- run, provenance, cost


def _config_value(value: object) -> str:
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()
    return "" if value is None else str(value)


def _run_section(run: RunData, summary: ReportSummary) -> str:
    info = summary.run
    config = redact_tree(run.config) if run.config else {}
    rows: list[tuple[str, str]] = [
        ("run", esc(info.name)), ("path", esc(info.path)), ("created", esc(info.created)),
        ("config hash", _hash(info.config_hash)), ("autointerp version", esc(info.autointerp_version)),
        ("seed", esc(info.seed)),
        ("bootstrap", esc(f"seed {summary.bootstrap_seed}, {summary.n_resamples} resamples, percentile 95% CI")),
    ]  # fmt: skip
    rows += [(key, esc(_config_value(config[key]))) for key in CONFIG_ROWS if key in config]
    backends = config.get("backends") if isinstance(config.get("backends"), dict) else {}
    rows += [(f"backend ({stage})", esc(spec)) for stage, spec in backends.items()]
    shown = set(CONFIG_ROWS) | {"backends", "seed"}
    rows += [(name, esc(value)) for name, value in info.models.items()
             if not config and name not in shown]  # fmt: skip  (old runs without config.yaml)
    full = esc(yaml.safe_dump(config, sort_keys=False)) if config else "(no config.yaml)"
    prov = _table(
        ("stage", "backend", "model", "prompt id", "version", "prompt hash", "config hash", "seed", "records"),
        ((p.stage, esc(p.backend), esc(p.model), esc(p.prompt_id), esc(p.prompt_version), _hash(p.prompt_hash),
          _hash(p.config_hash), esc(p.seed), esc(p.n_records)) for p in summary.provenance),
        numeric=(False,) * 7 + (True, True), raw=range(9),
    )  # fmt: skip
    return (f"<h2>Run</h2>{_table(('field', 'value'), rows, raw=(1,))}<details><summary>Full config</summary>"
            f"<pre>{full}</pre></details><h3>Provenance</h3>{prov}")  # fmt: skip


def _cost_table(costs: Sequence[StageCost]) -> str:
    if not costs:
        return '<p class="muted">No LLM stage records: nothing was spent.</p>'
    rows = [(c.stage, c.records, c.failed_records, c.requests, f"{c.input_tokens:,}", f"{c.output_tokens:,}",
             f"{c.cache_read_tokens:,}", f"${c.cost_usd:.4f}") for c in costs]  # fmt: skip
    rows.append(("total", sum(c.records for c in costs), sum(c.failed_records for c in costs),
                 sum(c.requests for c in costs), f"{sum(c.input_tokens for c in costs):,}",
                 f"{sum(c.output_tokens for c in costs):,}", f"{sum(c.cache_read_tokens for c in costs):,}",
                 f"${sum(c.cost_usd for c in costs):.4f}"))  # fmt: skip
    return _table(("stage", "records", "failed records", "requests", "input tokens", "output tokens",
                   "cache-read tokens", "cost"), rows, numeric=(False, *[True] * 7)) + (
        f'<p class="muted">{esc(_cost_source(costs))} Cache hits cost nothing. Prices from the backend\'s price '
        "table (local models: $0).</p>")  # fmt: skip


def _cost_source(costs: Sequence[StageCost]) -> str:
    if all(c.source == "ledger" for c in costs):
        return ("Tokens and cost from the run's spending ledger (spend.jsonl): every answered request of every "
                "invocation, failed units and killed invocations included.")
    return "Tokens and cost from the records in this run folder, failed attempts and retries included."


# ---------------------------------------------------------------- verdict


def _ci_cell(text: str) -> str:
    """'1.43 [1.25, 1.50] n=15' as two short lines, so the table fits a narrow window."""
    value, _, n = text.partition(" n=")
    return esc(value) + (f'<br><span class="muted">n={esc(n)}</span>' if n else "")


def verdict_section(summary: ReportSummary) -> str:
    """The report's first section: the gates, then per scorer metric features vs neurons and the verdict in words."""
    frame = verdict_frame(summary)
    if frame.empty:
        return ""
    rows = []
    for r in frame.itertuples():
        slug = r.verdict.replace(" ", "-")
        verdict = f'<td><span class="v v-{esc(slug)}">{esc(r.verdict)}</span><br><span class="why">{esc(r.reason)}</span></td>'
        if r.row == "gate":
            detail = (f"features: {r.features}; neurons: {r.neurons}" if r.features != r.neurons else r.features)
            rows.append(f'<tr class="gate"><td><b>gate</b>: {esc(r.label)}</td><td colspan="3">{esc(detail)}</td>'
                        f"{verdict}</tr>")  # fmt: skip
            continue
        test = f'<br><span class="muted">{esc(r.test)}, p = {esc(r.p)}</span>' if r.test else ""
        what = f"{r.scorer}; {r.protocol}; chance {r.chance}"
        rows.append(f'<tr class="metric"><td>{esc(r.label)}<br><span class="muted">{esc(what)}</span></td>'
                    f'<td class="ci">{_ci_cell(r.features)}</td><td class="ci">{_ci_cell(r.neurons)}</td>'
                    f'<td class="ci">{esc(r.difference)}{test}</td>{verdict}</tr>')  # fmt: skip
    headers = ("measure (scorer; protocol; chance)", "features: median over units [95% CI]",
               "neurons: median over units [95% CI]", "difference (features - neurons), test", "verdict")
    head = "".join(f"<th>{h}</th>" for h in headers)
    cols = "".join(f'<col style="width:{w}%">' for w in (19, 16, 16, 19, 30))
    return (f'<section id="verdict"><h2>Verdict: features vs neurons</h2><table><colgroup>{cols}</colgroup>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table><p class="muted">A p-value is read '
            f"only when every gate that concerns the metric passes and each group has at least {MIN_UNITS} scored "
            f"units: then p &lt; {ALPHA} reads features or neurons higher, otherwise no difference detected. A failed "
            "gate makes the metrics it concerns inconclusive, whatever their p (the judge gate concerns the metrics "
            "judged by the rubric's LLM). Rows marked description are counts of the contexts a scorer drew, not "
            "outcomes. Difference: median of features minus median of neurons, each group resampled on its own."
            "</p></section>")


# ---------------------------------------------------------------- headline


def _kinds_text(summary: ReportSummary) -> str:
    return " and ".join(f"{c.n_units} {c.kind}s" for c in summary.counts) or "no units"


def peer_sentence(summary: ReportSummary) -> str:
    """Under a preset, the peer's headline numbers in the peer's aggregation: delphi's pooled classifier figures
    (balanced accuracy, F1, AUROC and counts), then every other covered scorer's number (SAEBench: mean over units)."""
    label = summary.run.protocol
    pooled = pooled_line(summary.pooled, label.name, label=str(label))
    done = {r.scorer for r in summary.pooled if r.protocol == label.name} if pooled else set()
    rest = [p.line for p in summary.peer_headline if p.scorer not in done]
    if not rest:
        return pooled
    return " ".join(x for x in (pooled, f"{label}, the peer's headline: " + "; ".join(rest) + ".") if x)


def headline(run: RunData, summary: ReportSummary) -> str:
    """One paragraph: what was compared, n, the main results with CIs, failures and cost."""
    cfg = run.config
    what = _kinds_text(summary)
    where = []
    if cfg.get("sae"):
        where.append(f"SAE {cfg['sae']}" + (f" at {cfg['sae_site']}" if cfg.get("sae_site") else ""))
    if cfg.get("neuron_site"):
        where.append(f"neurons at {cfg['neuron_site']}")
    source = f" of model {cfg['model']}" if cfg.get("model") else ""
    corpus = f" on {cfg['corpus']} ({int(cfg['max_tokens']):,} tokens)" if cfg.get("corpus") and cfg.get(
        "max_tokens") else ""  # fmt: skip
    parts = [f"Compared {what} ({'; '.join(where) or 'bases from the run records'}){source}{corpus}."]
    if summary.peer_headline or summary.pooled:  # the peer's own number, aggregated as the peer does, first
        parts.insert(0, peer_sentence(summary))
    headline_specs = {s.scorer: s for s in reversed(summary.scorers)}  # each scorer's first (primary) metric
    for spec in (s for s in summary.scorers if headline_specs[s.scorer] is s):
        stats = [m for m in summary.metrics if m.metric == spec.name and m.n > 0]
        if not stats:
            continue
        groups = ", ".join(f"{m.group}s {format_ci(m)}" for m in stats)
        test = next((t for t in summary.tests if t.metric == spec.name), None)
        tested = f"; {test.short}" if test else ""
        parts.append(f"{spec.label} ({_short_labels(spec, stats)}): {groups}{tested}.")
    rubric = next((s.protocol for s in summary.scorers if s.scorer == "rubric"), "ours")
    for c in summary.contrast:
        if c.n_units:
            parts.append(f"Rubric contrast (mean 0-3 rating over units, 95% CI; {rubric}), {c.line}.")
    failures = []
    for c in summary.counts:
        f = [f"{n} {what_}" for n, what_ in ((c.n_sample_failed, "sampling"), (c.n_explain_failed, "explanations"),
             (c.n_rubric_failed, "rubric records"), (c.n_simulation_failed, "simulations")) if n]  # fmt: skip
        total = c.n_judgements + c.n_judgements_failed
        f.append(f"{c.n_judgements_failed} of {total} rubric judgements")
        for spec in summary.scorers:
            if spec.scorer not in ("rubric", "simulate") and headline_specs[spec.scorer] is spec:
                g = summary.metric(spec.name, c.kind)
                if g is not None and g.n_failed:
                    f.append(f"{g.n_failed} {spec.scorer} units")
        failures.append(f"{c.kind}s: {', '.join(f)}")
    parts.append("Failed: " + "; ".join(failures) + "." if failures else "")
    if summary.costs:
        per = ", ".join(f"{c.stage} ${c.cost_usd:.4f}" for c in summary.costs)
        parts.append(f"Cost ${summary.total_cost:.4f} ({per}; {sum(c.requests for c in summary.costs):,} requests).")
    if summary.sampling_note.startswith("sampling differs"):
        parts.append(f"Warning: {summary.sampling_note}.")
    return f'<p class="headline" id="headline">{esc(" ".join(p for p in parts if p))}</p>'


# ---------------------------------------------------------------- scorers


def _chance_of(spec: MetricSpec, stats: Sequence[GroupStats]) -> str:
    """'chance 0.5', 'chance 0.62/0.55 (mean of units' own)' or 'no chance level'."""
    if spec.chance_varies:
        levels = "/".join(_num(m.chance, 2) for m in stats if m.chance is not None)
        return f"chance {levels} (mean of the units' own)" if levels else "chance per unit"
    return f"chance {_num(spec.chance, 2)}" if spec.chance is not None else "no chance level"


def _short_labels(spec: MetricSpec, stats: Sequence[GroupStats]) -> str:
    """Protocol, aggregation and chance beside a number: 'ours; median over units [95% CI]; chance 0.5'."""
    method = f"; method {spec.method}" if spec.method else ""
    return f"{spec.protocol}; median over units [95% CI]; {_chance_of(spec, stats)}{method}"


def _stats_table(stats: Sequence[GroupStats], spec: MetricSpec) -> str:
    chance_head = "chance (mean of units' own)" if spec.chance_varies else "chance"
    return _table(
        ("metric", "group", f"median over units [95% CI] ({spec.protocol})", "mean over units", "n", "failed",
         "undefined", "missing", chance_head),
        ((m.metric, m.group, format_ci(m, 3), _num(m.mean), m.n, m.n_failed, m.n_undefined, m.n_missing,
          _num(m.chance, 2) if m.chance is not None else "none") for m in stats),
        numeric=(False, False, True, True, True, True, True, True, True),
    )


def _spec_note(spec: MetricSpec) -> str:
    """What a metric's numbers are: protocol, aggregation, chance rule and (simulation) method."""
    rule = spec.chance_rule or ("not stated" if spec.chance is None else _num(spec.chance, 2))
    method = f" Method: {spec.method_note or spec.method}." if spec.method else ""
    return (f'<p class="muted labels">Protocol: {esc(spec.protocol)}. Aggregation: {esc(spec.aggregation)}. '
            f"Chance: {esc(rule)}.{esc(method)}</p>")


def _tests_table(tests: Sequence[GroupTest]) -> str:
    if not tests:
        return '<p class="muted">No test: the two groups are not both present with scores.</p>'
    return _table(
        ("metric", "a vs b", "test", "statistic", "p (two-sided)", "rank-biserial", "P(a > b)", "n a", "n b",
         "median a-b [95% CI]"),
        ((t.metric, f"{t.group_a} vs {t.group_b}", t.label, f"{t.statistic:.1f}", f"{t.p_value:.3g}",
          f"{t.rank_biserial:+.3f}", f"{t.common_language:.3f}", t.n_a, t.n_b,
          f"{t.median_difference:+.3f} [{t.diff_ci_low:+.3f}, {t.diff_ci_high:+.3f}]"
          + (f" ({t.n_unpaired_excluded} unpaired units excluded)" if t.n_unpaired_excluded else "")
          if t.median_difference is not None else "") for t in tests),
        numeric=(False, False, False, True, True, True, True, True, True, False),
    ) + ('<p class="muted">median a-b: paired, the median of the per-unit differences (pairs resampled); unpaired, '
         "the median of a minus the median of b (each group resampled on its own); 95% percentile bootstrap.</p>")


def scorer_sections(
    specs: Sequence[MetricSpec], stats: Sequence[GroupStats], tests: Sequence[GroupTest], figures: dict[str, bytes],
    title: str,
) -> str:
    """One block per scorer: its metrics' group table, the tests, and its figure."""
    out = []
    for scorer in dict.fromkeys(s.scorer for s in specs):
        mine = [s for s in specs if s.scorer == scorer]
        names = {s.name for s in mine}
        body = "".join(
            f"<p><b>{esc(s.name)}</b>: {esc(s.description or s.label)}</p>" + _spec_note(s)
            + _stats_table([m for m in stats if m.metric == s.name], s)
            for s in mine
        )
        body += _tests_table([t for t in tests if t.metric in names])
        body += _figure(f"{scorer}: {title}", figures.get(f"scorer:{scorer}"),
                        "Per-unit scores; box: quartiles; diamond: median with 95% bootstrap CI; n per group under "
                        "each box; the test, paired or not, and its rank-biserial effect size above.",
                        level=4)  # fmt: skip
        out.append(f'<section class="scorer" id="scorer-{esc(scorer)}"><h3>{esc(scorer)}</h3>{body}</section>')
    return "".join(out)


def _contrast_section(summary: ReportSummary) -> str:
    if not summary.contrast:
        return ""
    rows = []
    for c in summary.contrast:
        def ci(v, lohi, sign=""):
            return f"{v:{sign}.2f} [{lohi[0]:{sign}.2f}, {lohi[1]:{sign}.2f}]" if v is not None else "n/a"

        rows.append((c.kind, ci(c.activating_mean, c.activating_ci), ci(c.random_mean, c.random_ci),
                     ci(c.difference_mean, c.difference_ci, "+"), c.n_units, c.n_ratings_activating,
                     c.n_ratings_random))  # fmt: skip
    flat = [c for c in summary.contrast if c.difference_ci is not None and c.difference_ci[0] <= 0]
    warn = ("".join(f'<p class="warn">Warning: for {esc(c.kind)}s the judge does not rate activating contexts '
                    "clearly above random ones (the CI of the difference reaches 0).</p>" for c in flat))  # fmt: skip
    return ("<h3>Rubric: activating vs random contexts</h3>"
            + _table(("kind", "activating mean [95% CI]", "random mean [95% CI]", "difference [95% CI]", "units",
                      "ratings (activating)", "ratings (random)"), rows,
                     numeric=(False, True, True, True, True, True, True))
            + warn + '<p class="muted">Per unit, the mean 0-3 rating of its activating held-out contexts and of its '
            "random ones; means over units with percentile-bootstrap CIs (units rated on both sides).</p>")


def _seed_section(summary: ReportSummary) -> str:
    if not summary.seed_spread:
        return ""
    rows = []
    for s in summary.seed_spread:
        per_seed = ", ".join(_num(v) for v in s.mean_per_seed)
        corrected = ", ".join(_num(v) for v in s.chance_corrected_per_seed) if s.chance_corrected_per_seed else ""
        chance = (_num(s.chance, 2) if s.chance is not None else
                  ", ".join(_num(c, 2) for c in s.chance_per_seed) if s.chance_per_seed else "none")  # fmt: skip
        rows.append((s.scorer, s.metric, s.kind, len(s.seed_offsets), per_seed, _num(s.sd), _num(s.range),
                     chance, corrected))  # fmt: skip
    return ("<h3>Spread across seeds</h3>" + _table(
        ("scorer", "metric", "kind", "seeds", "mean over units, per seed", "sd", "range",
         "chance (mean of units' own, per seed where it varies)", "chance-corrected per seed (each unit's own)"),
        rows, numeric=(False, False, False, True, False, True, True, False, False))
        + '<p class="muted">Every seeded choice (contexts shown, order, negatives) repeated with seeds seed+k; '
        "the spread of the per-seed means is the judging noise at this sample size.</p>")  # fmt: skip


def judgement_failures(judgements: pd.DataFrame, limit: int = 5) -> str:
    """Why rubric judgements failed, per kind: the most common reasons with their counts."""
    failed = judgements[~judgements["ok"]]
    if failed.empty:
        return ""
    items = []
    for kind, sub in failed.groupby("kind", sort=True):
        counts = sub["error"].fillna("no reason recorded").value_counts()
        reasons = "; ".join(f"{n} \u00d7 {reason}" for reason, n in counts.head(limit).items())
        more = f"; {len(counts) - limit} other reasons" if len(counts) > limit else ""
        items.append(f"<li>{esc(kind)}s, {len(sub)} failed: {esc(reasons + more)}</li>")
    return f'<p class="muted">Why rubric judgements failed:</p><ul class="muted">{"".join(items)}</ul>'


def _counts_section(summary: ReportSummary, judgements: pd.DataFrame | None = None) -> str:
    why = judgement_failures(judgements) if judgements is not None and "error" in judgements else ""
    return "<h3>Sample sizes and failures</h3>" + why + _table(
        ("kind", "units", "sampling failed", "explained", "explain failed", "rubric ok", "rubric failed",
         "judgements ok", "judgements failed", "simulated", "simulation failed", "simulation undefined"),
        ((c.kind, c.n_units, c.n_sample_failed, c.n_explained, c.n_explain_failed, c.n_rubric_ok, c.n_rubric_failed,
          c.n_judgements, c.n_judgements_failed, c.n_simulated, c.n_simulation_failed, c.n_simulation_undefined)
         for c in summary.counts),
        numeric=(False, *[True] * 11),
    )


# ---------------------------------------------------------------- units


def rating_summaries(judgements: pd.DataFrame) -> dict[str, str]:
    """Per unit, its held-out ratings as 'activating: 0x1 1x0 2x4 3x3; random: ...' (+ failed counts), in one
    pass over the judgements (a pandas filter per unit is far too slow for thousands of units)."""
    counts: dict[str, dict[str, list[int]]] = {}
    for unit, level, score, ok in zip(judgements["unit"], judgements["level"], judgements["score"], judgements["ok"]):
        side = counts.setdefault(unit, {}).setdefault("activating" if level >= 0 else "random", [0, 0, 0, 0, 0])
        if ok:
            side[int(score)] += 1
        else:
            side[4] += 1
    out = {}
    for unit, sides in counts.items():
        parts = []
        for name in ("activating", "random"):
            if name in sides:
                c = sides[name]
                failed = f", {c[4]} failed" if c[4] else ""
                parts.append(f"{name}: " + " ".join(f"{s}\u00d7{c[s]}" for s in range(4)) + failed)
        out[unit] = f'<p class="muted">held-out ratings (score\u00d7count): {esc("; ".join(parts))}</p>'
    return out


def _unit_cards(run: RunData, units: pd.DataFrame, judgements: pd.DataFrame, specs: Sequence[MetricSpec],
                max_units: int, max_contexts: int) -> str:  # fmt: skip
    ratings = rating_summaries(judgements)
    shown = units.head(max_units)
    cards = []
    for order, (_, row) in enumerate(shown.iterrows()):
        samples = run.units.get(row["unit"])
        contexts = ""
        if samples is not None:
            pool = samples.explain_contexts(("top",)) or list(samples.explain)
            top = sorted(pool, key=lambda c: c.max_activation, reverse=True)[:max_contexts]
            contexts = "".join(render_context(c, samples.stats.max_activation) for c in top)
        cards.append(unit_card(order, row, specs, stats=samples.stats if samples else None, contexts_html=contexts,
                               ratings_html=ratings.get(row["unit"], ""),
                               logit_tokens=run.logit_tokens.get(row["unit"]),
                               extra_html=unit_card_extras(run.run_dir, row["unit"])))  # fmt: skip
    kinds = list(dict.fromkeys(units["kind"]))
    more = f'<p class="muted">{len(units) - len(shown)} more units in units.csv.</p>' if len(units) > len(shown) else ""
    return (f"<h2>Units ({len(units)})</h2>{browser_controls(specs, kinds, len(shown))}"
            f'<div class="cards" id="cards">{"".join(cards)}</div>{more}')  # fmt: skip


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
            f"<script>{BROWSER_JS}</script></body></html>")  # fmt: skip


def render_html(
    run: RunData,
    summary: ReportSummary,
    units: pd.DataFrame,
    judgements: pd.DataFrame,
    figures: dict[str, bytes],
    *,
    extra_sections: str = "",
    max_units: int = 2000,
    max_contexts: int = 5,
) -> str:
    """The whole report as one HTML string. ``figures``: 'specificity', 'comparison', 'recall' and
    'scorer:<name>' -> PNG bytes; ``extra_sections``: further HTML placed after the comparison."""
    specs = list(summary.scorers)
    hist = _figure("Specificity by activation level", figures.get("specificity"),
                   "Fraction of held-out contexts per 0-3 specificity rating, per activation-level bin ('below threshold': "
                   "windows at or below the sampler's threshold, level -1). Failed ratings are excluded.", level=3)  # fmt: skip
    recall = _figure("Recall per activation level", figures.get("recall"),
                     "Fraction of the activating held-out contexts of each level that a classifier scorer "
                     "recognised, pooled over the units of each kind. Dotted: chance, the judge's false-positive rate "
                     "on the same units' non-activating items (what a judge that cannot tell the level from ordinary "
                     "text scores).", level=3)  # fmt: skip
    hist_block = f'<div class="figs"><div>{hist}</div><div>{recall}</div></div>' if recall else hist
    sampling = (f'<p class="{"warn" if summary.sampling_note.startswith("sampling differs") else "muted"}">'
                f"{esc(summary.sampling_note)}</p>" if summary.sampling_note else "")  # fmt: skip
    body = (
        f"<h1>autointerp report: {esc(run.name)}</h1>"
        + verdict_section(summary)
        + f'<p class="muted">written by autointerp {esc(summary.report_version)}</p>'
        + headline(run, summary)
        + _run_section(run, summary)
        + f"<h3>Cost</h3>{_cost_table(summary.costs)}"
        + "<h2>Features vs neurons, per scorer</h2>" + sampling
        + scorer_sections(specs, summary.metrics, summary.tests, figures, "features vs neurons")
        + _contrast_section(summary)
        + _seed_section(summary)
        + _counts_section(summary, judgements)
        + "<h2>Specificity by activation level</h2>" + hist_block
        + extra_sections
        + _unit_cards(run, units, judgements, specs, max_units, max_contexts)
    )  # fmt: skip
    return _page(f"autointerp report: {run.name}", body)


def render_compare_html(summary: CompareSummary, figures: dict[str, bytes]) -> str:
    """The comparison of two runs as one page: runs, sampling, per scorer tables/tests/figures."""
    a, b = summary.run_a, summary.run_b
    runs = _table(("", "run", "path", "config hash", "created"),
                  [("A", esc(a.name), esc(a.path), _hash(a.config_hash), esc(a.created)),
                   ("B", esc(b.name), esc(b.path), _hash(b.config_hash), esc(b.created))], raw=range(5))  # fmt: skip
    paired = [t for t in summary.tests if t.paired]
    how = ("Units shared by A and B are compared unit by unit (Wilcoxon signed-rank, paired bootstrap of the median "
           "difference); disjoint units with Mann-Whitney U." if paired else
           "A and B share no unit ids: every test is unpaired (Mann-Whitney U).")  # fmt: skip
    warn = "warn" if summary.sampling_note.startswith("sampling differs") else "muted"
    body = (
        f"<h1>autointerp comparison: A = {esc(a.name)} vs B = {esc(b.name)}</h1>"
        f'<p class="headline" id="headline">{esc(how)} {esc(compare_line(summary))}.</p>{runs}'
        f'<p class="{warn}">{esc(summary.sampling_note)}</p>'
        + scorer_sections(list(summary.scorers), summary.metrics, summary.tests, figures, "A vs B")
    )  # fmt: skip
    return _page(f"autointerp comparison: {a.name} vs {b.name}", body)
