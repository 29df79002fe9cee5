"""Every command the README and docs/*.md show, held to the code (fast: nothing here loads a model).

* every ``autointerp`` command (also under ``torchrun -m``) names a real command, and every ``--flag`` it shows is a
  flag of that command (the real argparse parser), so the docs cannot drift from the CLI;
* every ``python benchmarks/X.py`` script exists and accepts the flags the docs give it;
* the README's install and test commands are exactly what ``.ci/run`` runs;
* the commands that need no model, key or network run for real and exit 0 (listings, help, validation).

What is *not* run here, and where it is: the demo itself (``benchmarks/demo.py``, and the pipeline on real models in
tests/integration/test_local_stages.py), runs against API backends (tests/integration/test_run_hardening.py and
tests/unit/backends/ against the loopback server in tests/support/api_server.py), Hub downloads (tests/unit/
activations/test_hub.py against the offline cache in tests/support/hub_cache.py), compare-dicts, attribute, report
and compare (tests/unit/dictionaries/, tests/unit/report/).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from autointerp.cli import build_parser, main

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NESTED = {"models", "rubrics", "scorers", "protocols"}  # commands with their own sub-commands


def documented_commands() -> list[tuple[str, str]]:
    """(file, command) for every command line in a ```bash block and every inline `autointerp ...` / `python ...`."""
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = line.split("  #")[0].strip()
                if line and not line.startswith("#"):
                    out += [(path.name, part.strip()) for part in line.split("&&")]
        out += [(path.name, " ".join(span.split())) for span in re.findall(r"`((?:autointerp|python) [^`]+)`", text)]
    return out


COMMANDS = documented_commands()


def _autointerp_args(command: str) -> list[str] | None:
    words = command.split()
    if words[:1] == ["autointerp"]:
        return words[1:]
    if "-m" in words and words[words.index("-m") + 1: words.index("-m") + 2] == ["autointerp"]:
        return words[words.index("-m") + 2:]
    return None


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


CLI = [(f, c) for f, c in COMMANDS if _autointerp_args(c) is not None]


def test_the_docs_show_commands():
    assert len(CLI) >= 30 and any(f == "README.md" for f, _ in CLI)


@pytest.mark.parametrize("where, command", CLI, ids=[f"{f}:{c[:60]}" for f, c in CLI])
def test_every_autointerp_command_and_flag_exists(where, command):
    args = _autointerp_args(command)
    verbs = _subparsers(build_parser())
    assert args, f"{where}: `{command}` names no command"
    verb = args[0]
    assert verb in verbs, f"{where}: `{command}`: no command {verb!r} (have: {', '.join(verbs)})"
    parser = verbs[verb]
    if verb in NESTED and len(args) > 1 and not args[1].startswith("-"):
        inner = _subparsers(parser)
        for name in args[1].split("|"):  # 'rubrics list|validate' names both
            assert name in inner, f"{where}: `{command}`: {verb} has no {name!r} (have: {', '.join(inner)})"
    flags = {tok.split("=")[0].strip("[]") for tok in args if tok.lstrip("[").startswith("--")}
    known = set(parser._option_string_actions)
    unknown = sorted(flags - known)
    assert not unknown, f"{where}: `{command}`: {verb} has no flag {unknown}"


SCRIPTS = [(f, c) for f, c in COMMANDS if re.match(r"python (benchmarks/\S+\.py)", c)]


@pytest.mark.parametrize("where, command", SCRIPTS, ids=[c for _, c in SCRIPTS])
def test_every_benchmark_script_exists_with_its_flags(where, command):
    script = ROOT / command.split()[1]
    assert script.is_file(), f"{where}: `{command}`: no {script.relative_to(ROOT)}"
    source = script.read_text(encoding="utf-8")
    for flag in (t for t in command.split() if t.startswith("--")):
        assert f'"{flag}"' in source or f"'{flag}'" in source, f"{where}: `{command}`: the script takes no {flag}"


def test_the_readme_commands_are_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = [c for f, c in COMMANDS if f == "README.md"]
    assert readme[:4] == ["pip install torch==2.13.0", 'pip install -e ".[test]"', "autointerp demo",
                          "python -m pytest -q tests"], readme[:4]  # fmt: skip
    assert "pip install -q torch==2.13.0" in ci and 'pip install -q -e ".[test]"' in ci
    assert ci.rstrip().splitlines()[-1].strip() == "python -m pytest -q tests" or "python -m pytest -q tests" in ci


RUNNABLE = ["scorers list", "protocols list", "models list", "rubrics list", "rubrics validate", "run --help",
            "demo --help", "compare --help", "compare-dicts --help", "attribute --help", "inspect --help",
            "sample --help", "merge --help", "report --help"]  # fmt: skip


@pytest.mark.parametrize("command", RUNNABLE)
def test_commands_that_need_no_model_run(command, capsys):
    documented = {" ".join(_autointerp_args(c)[:2]) for _, c in CLI} | {_autointerp_args(c)[0] for _, c in CLI}
    verb = command.split()[0]
    assert verb in documented or command in documented, f"`autointerp {command}` is not in the docs"
    try:
        code = main(shlex.split(command))
    except SystemExit as exc:  # --help exits through argparse
        code = exc.code
    assert code == 0, capsys.readouterr()
