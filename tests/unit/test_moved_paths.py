"""Old import paths of modules that moved into packages work for one release, with a DeprecationWarning."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("old", "new", "name"), [
    ("autointerp.spend", "autointerp.runs.spend", "spend_by_stage"),
    ("autointerp.pipeline", "autointerp.runs.pipeline", "run"),
    ("autointerp.render", "autointerp.judging.render", "highlight"),
    ("autointerp.rubric", "autointerp.scorers.specificity", "RubricConfig"),
    ("autointerp.simulate", "autointerp.scorers.simulation", "SimulateConfig"),
    ("autointerp.scorers.answers", "autointerp.judging.answers", "IdVerdicts"),
])
def test_old_path_is_the_new_module_and_warns(old, new, name):
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        f"assert old is new and hasattr(old, {name!r})\n"
        f"assert any(issubclass(x.category, DeprecationWarning) and {new!r} in str(x.message) for x in w), w\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_scorers_summarise_still_resolves():
    from autointerp.scorers import summarise
    from autointerp.scorers.catalog import summarise as new

    assert summarise is new
