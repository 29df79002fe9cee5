"""autointerp: automated interpretability evaluation of SAE features and neurons."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

# Modules that moved into packages (docs/architecture.md). Their old import paths keep working for one release,
# with a DeprecationWarning naming the new home; nothing else of the package is imported through them.
_MOVED = {
    **{f"autointerp.{m}": f"autointerp.runs.{m}" for m in (
        "bases", "config", "demo", "guard", "outcome", "pipeline", "plan", "preflight", "rundir", "spend", "store")},
    **{f"autointerp.{m}": f"autointerp.judging.{m}" for m in ("explain", "parsers", "prompts", "render")},
    "autointerp.rubric": "autointerp.scorers.specificity",
    "autointerp.simulate": "autointerp.scorers.simulation",
    "autointerp.scoring": "autointerp.scorers.metrics",
    "autointerp.train_sae": "autointerp.activations.train_sae",
    "autointerp.scorers.answers": "autointerp.judging.answers",
    "autointerp.scorers.steered_answers": "autointerp.judging.steered_answers",
    "autointerp.dictionaries.attribute_run": "autointerp.runs.attribute",
    "autointerp.dictionaries.matched": "autointerp.report.matched",
    "autointerp.report.logits": "autointerp.runs.logits",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an old module path to the module at its new home (the same object), warning once per import."""

    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name in _MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {_MOVED[spec.name]}; the old path goes away in the next release",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(_MOVED[spec.name])

    def exec_module(self, module) -> None:
        return None


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
