"""autointerp: automated interpretability evaluation of SAE features and neurons.

The public Python API (everything else is private)::

    results = autointerp.evaluate(model, tokenizer=tok, sae=sae, sae_site="layers.6.resid_post", features=32)
    results.summary(); results.scores; results.report()
    results = autointerp.load("results/run")       # any run folder, from evaluate or the CLI

``import autointerp`` stays cheap: ``evaluate``, ``load`` and ``Results`` import torch and the pipeline when first
used. Errors are the one-line exceptions below (the CLI prints the same messages).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from autointerp.errors import (
    AutointerpError,
    BackendError,
    BudgetExceeded,
    ConfigError,
    InputError,
    RunHalted,
    RunLocked,
    StorageError,
)

__version__ = "0.1.0"

__all__ = [
    "AutointerpError",
    "BackendError",
    "BudgetExceeded",
    "ConfigError",
    "InputError",
    "Results",
    "RunHalted",
    "RunLocked",
    "StorageError",
    "__version__",
    "evaluate",
    "load",
]

_LAZY = {"evaluate": "autointerp.api", "load": "autointerp.api", "Results": "autointerp.report.results"}


def __getattr__(name: str):
    """``evaluate``, ``load`` and ``Results`` on first use (they import torch and the pipeline)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autointerp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

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
