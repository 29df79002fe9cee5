"""Reports: specificity histograms, features-vs-neurons comparison, per-unit tables, HTML, run-vs-run comparison.

Public API::

    summary = write_report("results/run1", per_unit=False, seed=0)   # -> ReportSummary, files in results/run1/report/
    print(summary_line(summary))
    compare_runs("results/run1", "results/run2", "results/run1/report/compare_run2", seed=0)  # -> CompareSummary

May import: runs (the store it reads), scorers, judging, dictionaries and below; never cli.
"""

from autointerp.report.summary import (
    CompareSummary,
    ReportSummary,
    compare_line,
    compare_schema,
    report_schema,
    summary_line,
)
from autointerp.report.writer import compare_runs, write_report

__all__ = [
    "CompareSummary",
    "ReportSummary",
    "compare_line",
    "compare_runs",
    "compare_schema",
    "report_schema",
    "summary_line",
    "write_report",
]
