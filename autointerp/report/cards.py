"""Unit cards and the in-page browser: sort and filter by any score, search explanations.

Each card carries its scores as ``data-*`` attributes (``data-m-<metric>``; empty when undefined) and
its explanation as ``data-text``; a small inline script (no library, no network) sorts the cards,
filters them by kind, by status (ok / failed: a unit with any failed stage), by a score range and by text, and says how many are shown. A card shows the
explanation, every scorer's result, the unit's activation histogram (inline SVG) with its density
(firing frequency), its top logit tokens, its top contexts and its rating mix.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd

from autointerp.judging.render import clean_token, normalise
from autointerp.report.scores import MetricSpec
from autointerp.types import Context, UnitStats

CARD_CSS = """
.browser{position:sticky;top:0;background:#fff;z-index:2;padding:.5em 0;border-bottom:1px solid #ddd;
display:flex;flex-wrap:wrap;gap:.4em .9em;align-items:center;font-size:.9em}
.browser label{white-space:nowrap}.browser input[type=search]{width:16em}.browser input[type=number]{width:5.5em}
.cards{display:block}.unit{border:1px solid #e4e4e4;border-radius:6px;padding:.6em 1em;margin:1em 0;
overflow-wrap:anywhere}
.unit h3{margin:.1em 0 .4em 0;font-size:1.05em;font-family:ui-monospace,Menlo,Consolas,monospace}
.unit .row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.unit .row>div{min-width:0}
.scores td,.scores th{padding:.1em .5em;font-size:.85em}
.hist svg{display:block}.logits{font-size:.82em;max-width:28em}
.logits code{background:#f3f3f3;border-radius:3px;padding:0 .25em;margin:0 .15em;white-space:pre-wrap}
"""

BROWSER_JS = r"""
(function(){
  var box=document.getElementById('cards'); if(!box){return;}
  var cards=Array.prototype.slice.call(box.querySelectorAll('.unit'));
  var q=function(id){return document.getElementById(id);};
  var sortSel=q('sort-key'), orderSel=q('sort-order'), kindSel=q('filter-kind'), search=q('search');
  var fMetric=q('filter-metric'), fMin=q('filter-min'), fMax=q('filter-max'), shown=q('shown-count');
  var fStatus=q('filter-status');
  function num(card,key){
    var v=card.getAttribute('data-'+key);
    if(v===null||v===''){return NaN;} var x=parseFloat(v); return isNaN(x)?NaN:x;
  }
  function update(){
    var key=sortSel.value, desc=orderSel.value==='desc', kind=kindSel.value;
    var text=search.value.trim().toLowerCase(), fm=fMetric.value;
    var lo=fMin.value===''?-Infinity:parseFloat(fMin.value), hi=fMax.value===''?Infinity:parseFloat(fMax.value);
    var sorted=cards.slice().sort(function(a,b){
      if(key==='unit'){
        var ia=parseInt(a.getAttribute('data-order'),10), ib=parseInt(b.getAttribute('data-order'),10);
        return desc?ib-ia:ia-ib;
      }
      var x=num(a,key), y=num(b,key);
      if(isNaN(x)&&isNaN(y)){return 0;} if(isNaN(x)){return 1;} if(isNaN(y)){return -1;}
      return desc?y-x:x-y;
    });
    var n=0;
    sorted.forEach(function(card){
      var ok=(kind===''||card.getAttribute('data-kind')===kind);
      var st=fStatus?fStatus.value:'';
      if(ok&&st!==''){ok=(card.getAttribute('data-status')===st);}
      if(ok&&text!==''){ok=(card.getAttribute('data-text')||'').indexOf(text)!==-1;}
      if(ok&&fm!==''){var v=num(card,fm); ok=!isNaN(v)&&v>=lo&&v<=hi;}
      card.hidden=!ok; if(ok){n+=1;}
      box.appendChild(card);
    });
    shown.textContent=n+' of '+cards.length+' units shown';
  }
  [sortSel,orderSel,kindSel,fMetric,fStatus].forEach(function(el){if(el){el.addEventListener('change',update);}});
  [search,fMin,fMax].forEach(function(el){el.addEventListener('input',update);});
  update();
})();
"""


def esc(value: object) -> str:
    """Escape any value for HTML text or attribute context."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    x = float(value)  # type: ignore[arg-type]
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def attr_key(name: str) -> str:
    """The data-attribute suffix of a metric or stat column: 'm-<name>' with only [a-z0-9-]."""
    return "m-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())


def render_context(context: Context, max_activation: float) -> str:
    """One context as escaped text with each active token shaded by its 0-10 level (hover: raw activation)."""
    levels = normalise(context.activations, max_activation)
    parts = []
    for token, act, level in zip(context.tokens, context.activations, levels):
        text = esc(clean_token(token).replace("\n", "\u21b5"))
        parts.append(f'<span class="a{level}" title="{act:.3g}">{text}</span>' if level > 0 else text)
    return f'<div class="ctx">{"".join(parts)}</div>'


def histogram_svg(stats: UnitStats, width: int = 240, height: int = 72) -> str:
    """The unit's activation histogram (active tokens, counts on a log scale) as a small inline SVG."""
    counts = list(stats.histogram_counts)
    edges = list(stats.histogram_edges)
    if not counts or sum(counts) == 0 or len(edges) != len(counts) + 1:
        return '<p class="muted">no activations</p>'
    top = max(math.log1p(c) for c in counts)
    bar_w = width / len(counts)
    bars = []
    for i, c in enumerate(counts):
        if c == 0:
            continue
        h = max(1.0, (height - 14) * math.log1p(c) / top)
        title = f"{edges[i]:.3g} to {edges[i + 1]:.3g}: {c} tokens"
        bars.append(f'<rect x="{i * bar_w:.1f}" y="{height - 14 - h:.1f}" width="{max(bar_w - 0.5, 0.5):.1f}" '
                    f'height="{h:.1f}" fill="#e07b39"><title>{esc(title)}</title></rect>')  # fmt: skip
    axis = (f'<text x="0" y="{height - 2}" font-size="9" fill="#666">{edges[0]:.3g}</text>'
            f'<text x="{width}" y="{height - 2}" font-size="9" fill="#666" text-anchor="end">{edges[-1]:.3g}</text>')
    label = f"activation histogram of active tokens (log counts), {sum(counts)} tokens"
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(label)}">{"".join(bars)}{axis}</svg>')  # fmt: skip


def _scores_table(row: pd.Series, specs: Sequence[MetricSpec]) -> str:
    cells = []
    for spec in specs:
        status = row.get(spec.status_column, "missing")
        value = fmt(row.get(spec.name)) if status == "ok" else status
        own = row.get(spec.chance_column) if spec.chance_varies else spec.chance
        chance = f" (chance {fmt(own, 2)})" if own is not None and not pd.isna(own) else ""
        if spec.name == "simulation_score" and isinstance(row.get("simulation_method"), str):
            chance += f" method {row['simulation_method']}"
        cells.append(f"<tr><td>{esc(spec.scorer)}</td><td>{esc(spec.name)}</td><td class=\"num\">{esc(value)}</td>"
                     f'<td class="muted">{esc(chance)}</td></tr>')  # fmt: skip
    return f'<table class="scores"><tbody>{"".join(cells)}</tbody></table>'


def _logits_html(tokens: dict[str, list[str]] | None) -> str:
    if not tokens:
        return '<div class="logits muted">no logit tokens (no unembedding path for this unit)</div>'

    def row(name: str) -> str:
        toks = "".join(f"<code>{esc(t)}</code>" for t in tokens.get(name, []))
        return f"<div><b>{name}:</b> {toks}</div>"

    head = '<div class="muted">top logit tokens (decoder direction through the unembedding)</div>'
    return f'<div class="logits">{head}{row("promoted")}{row("suppressed")}</div>'


def unit_card(
    order: int,
    row: pd.Series,
    specs: Sequence[MetricSpec],
    *,
    stats: UnitStats | None,
    contexts_html: str,
    ratings_html: str,
    logit_tokens: dict[str, list[str]] | None,
    extra_html: str = "",
) -> str:
    """One unit's card with its scores as data attributes (for sorting/filtering) and its text (for search).
    ``extra_html``: further evidence (TokenChange, attribution heat map) placed before the contexts."""
    key = row["unit"]
    explanation = row["explanation"] if isinstance(row["explanation"], str) else ""
    failed = not bool(row.get("ok", True)) or bool(row.get("errors")) or any(
        row.get(spec.status_column) == "failed" for spec in specs)
    attrs = [f'data-order="{order}"', f'data-kind="{esc(row["kind"])}"', f'data-text="{esc(explanation.lower())}"',
             f'data-status="{"failed" if failed else "ok"}"']
    for spec in specs:
        ok = row.get(spec.status_column) == "ok"
        attrs.append(f'data-{attr_key(spec.name)}="{esc(repr(float(row[spec.name])) if ok else "")}"')
    for column in ("firing_frequency", "max_activation"):
        value = row.get(column)
        defined = value is not None and not (isinstance(value, float) and math.isnan(value))
        attrs.append(f'data-{attr_key(column)}="{esc(repr(float(value)) if defined else "")}"')
    flags = "".join(f'<span class="flag">{esc(f)}</span>' for f in str(row["flags"]).split(";") if f)
    expl = f'<p class="expl">{esc(explanation)}</p>' if explanation else '<p class="expl muted">(no explanation)</p>'
    errors = f'<p class="err">{esc(row["errors"])}</p>' if row["errors"] else ""
    density = (f"density {fmt(stats.firing_frequency * 100, 3)}% of tokens, max activation {fmt(stats.max_activation)}"
               if stats is not None else "no samples")  # fmt: skip
    hist = histogram_svg(stats) if stats is not None else ""
    return (
        f'<div class="unit" id="{esc(key)}" {" ".join(attrs)}>'
        f'<h3>{esc(key)} <span class="muted">({esc(row["kind"])})</span>{flags}</h3>{expl}'
        f'<div class="row"><div>{_scores_table(row, specs)}</div>'
        f'<div class="hist">{hist}<div class="muted">{esc(density)}</div></div>{_logits_html(logit_tokens)}</div>'
        f"{ratings_html}{errors}{extra_html}{contexts_html}</div>"
    )


def browser_controls(specs: Sequence[MetricSpec], kinds: Sequence[str], n_units: int) -> str:
    """Sort / filter / search controls above the cards."""
    keys = [("unit", "unit order")] + [(attr_key(s.name), f"{s.scorer}: {s.name}") for s in specs]
    keys += [(attr_key("firing_frequency"), "firing frequency"), (attr_key("max_activation"), "max activation")]
    sort_opts = "".join(f'<option value="{esc(k)}">{esc(label)}</option>' for k, label in keys)
    filter_opts = '<option value="">(any score)</option>' + "".join(
        f'<option value="{esc(k)}">{esc(label)}</option>' for k, label in keys[1:]
    )
    kind_opts = '<option value="">all kinds</option>' + "".join(f'<option value="{esc(k)}">{esc(k)}s</option>'
                                                                  for k in kinds)  # fmt: skip
    return (
        '<div class="browser" id="browser">'
        f'<label>sort by <select id="sort-key">{sort_opts}</select></label>'
        '<label><select id="sort-order"><option value="asc">ascending</option>'
        '<option value="desc">descending</option></select></label>'
        f'<label>show <select id="filter-kind">{kind_opts}</select></label>'
        '<label><select id="filter-status"><option value="">ok and failed</option>'
        '<option value="ok">ok only</option><option value="failed">failed only</option></select></label>'
        f'<label>where <select id="filter-metric">{filter_opts}</select></label>'
        '<label>from <input id="filter-min" type="number" step="any"></label>'
        '<label>to <input id="filter-max" type="number" step="any"></label>'
        '<label>explanation contains <input id="search" type="search" placeholder="text"></label>'
        f'<span id="shown-count" class="muted">{n_units} of {n_units} units shown</span></div>'
    )
