"""The report pages in a real headless browser (Debian's chromium, driven by playwright over CDP).

Checks what a reader meets: the page loads with no console error, the unit cards sort and filter by any
score and are searchable by explanation text, and nothing overflows horizontally at 1280 px. CI installs
chromium when absent (.ci/run); outside CI the test is skipped on a machine without it.
"""

from __future__ import annotations

import math
import os
import shutil

import matplotlib
import pandas as pd
import pytest

from autointerp.report import compare_runs, write_report
from tests.unit.report.synthetic import make_run

matplotlib.use("Agg")
if os.environ.get("CI"):  # CI installs both (pyproject test extra, .ci/run): their absence is a failure there
    import playwright.sync_api as playwright
else:
    playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("no chromium on this machine (CI installs Debian's chromium)", allow_module_level=True)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
WIDTH = 1280

# Right edges of every element outside a horizontally scrolling box (.scroll, pre): none may pass the viewport.
OVERFLOW_JS = """
() => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.scroll, pre') && !el.matches('.scroll, pre')) continue;
    if (el.closest('[hidden]')) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > window.innerWidth + 0.5) out.push(el.tagName + '.' + el.className + ' ' + r.right);
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, wide: out.slice(0, 5)};
}
"""

VISIBLE_JS = """
(attr) => Array.from(document.querySelectorAll('#cards .unit')).filter(c => !c.hidden)
  .map(c => [c.id, c.getAttribute(attr)])
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    make_run(root / "run_a", seed=0)
    make_run(root / "run_b", seed=1, shift=0.7)
    write_report(root / "run_a", seed=0, n_resamples=199)
    compare_runs(root / "run_a", root / "run_b", root / "cmp", seed=0, n_resamples=199)
    return root


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": WIDTH, "height": 900},
        )  # fmt: skip
        yield context
        context.close()


def _open(browser, path):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, failed


def _assert_no_overflow(page):
    layout = page.evaluate(OVERFLOW_JS)
    assert layout["scrollWidth"] <= layout["innerWidth"] == WIDTH, layout
    assert not layout["wide"], layout


def _values(rows) -> list[float]:
    return [float(v) if v not in (None, "") else math.nan for _, v in rows]


def test_report_page_loads_sorts_filters_and_fits(pages, browser):
    units = pd.read_csv(pages / "run_a" / "report" / "units.csv")
    page, errors, failed = _open(browser, pages / "run_a" / "report" / "report.html")
    assert errors == [] and failed == []
    assert page.locator("#cards .unit").count() == len(units)
    assert page.inner_text("#shown-count") == f"{len(units)} of {len(units)} units shown"
    assert "Compared 12 features and 10 neurons" in page.inner_text("#headline")
    _assert_no_overflow(page)

    # sort by simulation score, high to low: defined values descending, undefined ones last
    page.select_option("#sort-key", "m-simulation-score")
    page.select_option("#sort-order", "desc")
    rows = page.evaluate(VISIBLE_JS, "data-m-simulation-score")
    values = _values(rows)
    defined = [v for v in values if not math.isnan(v)]
    assert defined == sorted(defined, reverse=True) and len(defined) == units["simulation_score"].notna().sum()
    assert all(math.isnan(v) for v in values[len(defined):])
    top = units.sort_values("simulation_score", ascending=False).iloc[0]["unit"]
    assert rows[0][0] == top
    page.select_option("#sort-order", "asc")
    defined = [v for v in _values(page.evaluate(VISIBLE_JS, "data-m-simulation-score")) if not math.isnan(v)]
    assert defined == sorted(defined)

    # filter by kind, then by a score range
    page.select_option("#filter-kind", "neuron")
    shown = page.evaluate(VISIBLE_JS, "data-kind")
    assert {k for _, k in shown} == {"neuron"} and len(shown) == (units["kind"] == "neuron").sum()
    page.select_option("#filter-kind", "")
    page.select_option("#filter-metric", "m-mean-specificity")
    page.fill("#filter-min", "2")
    shown = page.evaluate(VISIBLE_JS, "data-m-mean-specificity")
    expected = units[units["mean_specificity"] >= 2]["unit"]
    assert sorted(u for u, _ in shown) == sorted(expected) and all(float(v) >= 2 for _, v in shown)
    assert page.inner_text("#shown-count") == f"{len(expected)} of {len(units)} units shown"
    page.select_option("#filter-metric", "")
    page.fill("#filter-min", "")

    # search the explanation text (case-insensitive)
    page.fill("#search", "ALERT(")
    shown = [u for u, _ in page.evaluate(VISIBLE_JS, "data-kind")]
    has = units["explanation"].fillna("").str.lower().str.contains("alert(", regex=False)
    assert sorted(shown) == sorted(units[has]["unit"]) and len(shown) == 2
    page.fill("#search", "")
    assert page.locator("#cards .unit:not([hidden])").count() == len(units)
    _assert_no_overflow(page)
    assert errors == []

    # a card shows its histogram, density, logit tokens and every scorer's result
    card = page.locator('[id="sae:toy#0"]')
    assert card.locator("svg rect").count() == 7  # 8 histogram bins, one empty
    assert "density 3.000% of tokens" in card.inner_text()
    assert "promoted: cat mat w0" in " ".join(card.locator(".logits").inner_text().split())
    assert card.locator("table.scores tr").count() == 2  # simulation and specificity
    page.close()


def test_compare_page_loads_and_fits(pages, browser):
    page, errors, failed = _open(browser, pages / "cmp" / "compare.html")
    assert errors == [] and failed == []
    assert "Wilcoxon signed-rank (paired)" in page.content()
    _assert_no_overflow(page)
    page.close()


VERDICT_JS = """
() => {
  const v = document.getElementById('verdict');
  if (!v) return null;
  // the first element in the body with a visible box, after the page title
  const first = Array.from(document.body.children).find(el => el.tagName !== 'H1' && el.getBoundingClientRect().height > 0);
  const r = v.getBoundingClientRect(), t = v.querySelector('table').getBoundingClientRect();
  return {firstId: first ? first.id : null, top: r.top, tableRight: t.right, scrollWidth: v.scrollWidth,
          clientWidth: v.clientWidth, docScroll: document.documentElement.scrollWidth, inner: window.innerWidth,
          rows: v.querySelectorAll('tbody tr').length, gates: v.querySelectorAll('tbody tr.gate').length};
}
"""


@pytest.mark.parametrize("width", [1280, 800])
def test_verdict_table_is_the_first_thing_and_fits(pages, browser, width):
    page, errors, failed = _open(browser, pages / "run_a" / "report" / "report.html")
    page.set_viewport_size({"width": width, "height": 900})
    layout = page.evaluate(VERDICT_JS)
    assert errors == [] and failed == [] and layout is not None
    assert layout["firstId"] == "verdict" and layout["top"] < 200, layout  # right under the title, above the fold
    assert layout["gates"] == 2 and layout["rows"] > layout["gates"], layout
    assert layout["tableRight"] <= layout["inner"] + 0.5, layout  # no horizontal scroll for the verdict
    assert layout["scrollWidth"] <= layout["clientWidth"] + 0.5 and layout["docScroll"] <= layout["inner"], layout
    page.close()


def test_unit_browser_filters_failed_units(pages, browser):
    units = pd.read_csv(pages / "run_a" / "report" / "units.csv")
    page, errors, failed = _open(browser, pages / "run_a" / "report" / "report.html")
    page.select_option("#filter-status", "failed")
    shown = {u for u, _ in page.evaluate(VISIBLE_JS, "data-status")}
    assert shown and shown == {u for u in units["unit"] if u in shown} and all(
        s == "failed" for _, s in page.evaluate(VISIBLE_JS, "data-status"))  # fmt: skip
    assert set(units[~units["ok"]]["unit"]) <= shown
    page.select_option("#filter-status", "ok")
    assert all(s == "ok" for _, s in page.evaluate(VISIBLE_JS, "data-status"))
    assert not shown & {u for u, _ in page.evaluate(VISIBLE_JS, "data-status")}
    assert errors == []
    page.close()
