"""The closing console lines: one per cause, lengths folded together, downstream 'no explanation' lines not repeated."""

from __future__ import annotations

from collections import Counter

from autointerp.runs.outcome import RunOutcome, StageStatus, cause_of


def _outcome() -> RunOutcome:
    explain = StageStatus("explain", 16, ok=14, failed=2, causes=Counter({
        cause_of("unreadable answer after 2 attempt(s): the explanation is 320 characters long; at most 200"): 1}))
    explain.causes[cause_of("unreadable answer after 2 attempt(s): the explanation is 249 characters long; at most 200")] += 1
    rubric = StageStatus("rubric", 16, ok=13, failed=3,
                         causes=Counter({cause_of("no explanation to score"): 2, cause_of("backend error: boom"): 1}))
    simulate = StageStatus("simulate", 16, ok=14, failed=2, causes=Counter({cause_of("no explanation to simulate"): 2}))
    return RunOutcome(run_dir=None, n_units=16, stages={"explain": explain, "rubric": rubric, "simulate": simulate})


def test_one_line_per_cause_and_no_repeats_downstream():
    lines = _outcome().error_lines()
    assert lines == [
        "explain: 2 units failed: unreadable answer after 2 attempt(s): the explanation is too long; at most 200",
        "rubric: 1 unit failed: boom",
        "rubric, simulate: not run for 2 units without an explanation (see explain above)",
    ]


def _execute(monkeypatch, capsys, demo: bool):
    import argparse
    from pathlib import Path

    import autointerp.api
    from autointerp.cli import run as cli_run
    from autointerp.report.summary import ReportSummary, RunInfo
    from autointerp.runs.config import RunConfig

    outcome = _outcome()
    outcome.run_dir = Path("results/x")
    summary = ReportSummary(run=RunInfo(name="x", path="results/x"), bootstrap_seed=0, n_resamples=1)
    monkeypatch.setattr(autointerp.api, "run_and_report", lambda config, **kw: (outcome, summary))
    args = argparse.Namespace(dry_run=False, check=False, no_progress=True)
    code = cli_run._execute(RunConfig(), args, progress=False, demo=demo)
    return code, *capsys.readouterr()


def test_the_demo_exits_0_with_its_failed_units_listed_once(monkeypatch, capsys):
    code, out, err = _execute(monkeypatch, capsys, demo=True)
    assert code == 0 and "error" not in err
    assert "demo: finished; 7 unit-stages failed, shown in the report" in out
    assert out.count("without an explanation") == 1 and out.count("too long") == 1


def test_run_keeps_its_exit_code(monkeypatch, capsys):
    code, _, err = _execute(monkeypatch, capsys, demo=False)
    assert code == 5 and err.count("autointerp: error:") == 3
