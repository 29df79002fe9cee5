"""Shared, session-scoped synthetic runs and one written report (built once: report writing is the slow part)."""

from __future__ import annotations

import matplotlib
import pytest

from autointerp.report import write_report
from tests.unit.report.synthetic import make_run

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def run_a(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "run_a"
    return path, make_run(path, seed=0)


@pytest.fixture(scope="session")
def run_b(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "run_b"
    return path, make_run(path, seed=1, shift=0.7)


@pytest.fixture(scope="session")
def report_a(run_a):
    """The report of run_a with per-unit plots: (report folder, summary, facts)."""
    path, facts = run_a
    summary = write_report(path, per_unit=True, seed=3, n_resamples=999)
    return path / "report", summary, facts
