import json

from autointerp.cli import main


def test_report_and_compare_commands(run_a, run_b, tmp_path, capsys):
    assert main(["report", str(run_a[0]), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run_a: features (12 units)") and "report.html" in out
    assert (tmp_path / "rep" / "report.html").is_file()
    assert main(["compare", str(run_a[0]), str(run_b[0]), "--out", str(tmp_path / "cmp")]) == 0
    assert "A=run_a vs B=run_b" in capsys.readouterr().out
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["run_b"]["name"] == "run_b"


def _one_line_error(capsys, argv, expected):
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("autointerp: error: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in captured.err


def test_bad_inputs_give_one_line_and_nonzero_exit(tmp_path, capsys):
    _one_line_error(capsys, ["report", str(tmp_path / "missing")], "run folder not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(capsys, ["report", str(empty)], "no records found")
    (empty / "simulations.jsonl").write_text('{"unit": "sae:x#0", "params": "p", "ok": true, "record": {"unit": 3}}\n')
    _one_line_error(capsys, ["report", str(empty)], "simulations.jsonl:1: invalid Simulation record")
    (empty / "simulations.jsonl").write_text('\n\n{"unit": broken}\n')
    _one_line_error(capsys, ["compare", str(empty), str(tmp_path / "missing")], "simulations.jsonl:3: not valid JSON")


def test_compare_a_run_with_itself_or_with_nothing_in_common_says_so(run_a, tmp_path, capsys):
    from tests.unit.report.synthetic import make_run

    _one_line_error(capsys, ["compare", str(run_a[0]), str(run_a[0])], "A and B are the same run folder")
    make_run(tmp_path / "only_features", n_neurons=0)
    make_run(tmp_path / "only_neurons", n_features=0, seed=1)
    _one_line_error(capsys, ["compare", str(tmp_path / "only_features"), str(tmp_path / "only_neurons"), "--out",
                             str(tmp_path / "cmp")], "nothing in common")  # fmt: skip
