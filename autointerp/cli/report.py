"""`autointerp report RUN [--per-unit]` and `autointerp compare RUN_A RUN_B [--out DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from autointerp.report import summary_line, write_report  # matplotlib/scipy only when the command runs

    summary = write_report(args.run, per_unit=args.per_unit, seed=args.seed, out_dir=args.out)
    out = Path(args.out) if args.out else Path(args.run) / "report"
    print(summary_line(summary))
    print(f"report: {out / 'report.html'} ({len(summary.files)} files in {out})")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from autointerp.errors import InputError
    from autointerp.report import compare_line, compare_runs

    if Path(args.run_a).resolve() == Path(args.run_b).resolve():
        raise InputError(f"compare: A and B are the same run folder ({args.run_a}); give two different runs")
    out = Path(args.out) if args.out else Path(args.run_a) / "report" / f"compare_{Path(args.run_b).resolve().name}"
    summary = compare_runs(args.run_a, args.run_b, out, seed=args.seed)
    if not summary.tests:
        kinds = {name: sorted({m.group.split(":", 1)[1] for m in summary.metrics if m.group.startswith(f"{name}:")
                               and m.n}) for name in ("A", "B")}  # fmt: skip
        raise InputError(f"compare {args.run_a} {args.run_b}: nothing in common: no unit kind has a metric scored in "
                         f"both runs (A: {', '.join(kinds['A']) or 'none'}; B: {', '.join(kinds['B']) or 'none'})")
    print(compare_line(summary))
    print(f"comparison: {out / 'compare.html'} ({len(summary.files)} files in {out})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="Write a run's report: every scorer's features-vs-neurons table and figure, histograms, unit browser.",
        description="Write <RUN>/report/: specificity.{csv,png,svg}, comparison.* (every scorer's metrics, "
        "Mann-Whitney U), units.{csv,parquet}, summary.json and a self-contained report.html (headline, cost "
        "per stage, unit cards to sort, filter and search).",
    )
    report.add_argument("run", metavar="RUN", help="Run folder (results/<run>).")
    report.add_argument("--per-unit", action="store_true", help="Also write one specificity plot + table per unit.")
    report.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap confidence intervals.")
    report.add_argument("--out", default=None, help="Output folder (default: RUN/report).")
    report.set_defaults(func=_report)

    compare = subparsers.add_parser(
        "compare",
        help="Compare two runs per unit kind: medians with CIs, paired or unpaired tests, figures, tables, HTML.",
        description="Compare every scorer's metrics of two runs (e.g. two SAEs or two explainer models): "
        "features of A vs features of B, neurons of A vs neurons of B. Units shared by both runs are compared "
        "unit by unit (Wilcoxon signed-rank, paired bootstrap); disjoint units with Mann-Whitney U. Writes "
        "compare.{csv,json,png,svg,html}.",
    )
    compare.add_argument("run_a", metavar="RUN_A", help="First run folder.")
    compare.add_argument("run_b", metavar="RUN_B", help="Second run folder.")
    compare.add_argument("--out", default=None, help="Output folder (default: RUN_A/report/compare_<RUN_B name>).")
    compare.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap confidence intervals.")
    compare.set_defaults(func=_compare)
