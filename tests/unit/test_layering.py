"""The package layering of docs/architecture.md, enforced over every ``import`` in autointerp/ (ast, no import run).

Floors, lowest first; a module may import its own package and any package on a lower floor, never a higher one.
``backends`` is imported only by judging, scorers and runs (and the floors above them); ``dictionaries`` never
imports ``backends``. Imports under ``if TYPE_CHECKING:`` count like any other: there are none to excuse.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2] / "autointerp"
FLOORS = [
    {"errors", "registry", "secrets", "types"},  # the shared vocabulary: records, one exception family, registries
    {"activations"},  # subject models, sites, corpora, dictionaries
    {"backends"},  # LLM backends (the local one loads a subject model)
    {"sampling"},  # the streaming sampler
    {"dictionaries"},  # weights + subject model tools: compare, attribute, output evidence, steering
    {"judging"},  # prompts, parsers, the renderer, the explainer
    {"scorers"},  # every scorer, specificity and simulation included; protocols
    {"runs"},  # one run's life
    {"report"},  # statistics, verdict, HTML, compare
    {"api", "cli", "__main__", "__init__"},  # the two faces: Python (api, re-exported by __init__) and the command line
]
FLOOR = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}
LOOSE_ALLOWED = {"__init__", "__main__", "api", "errors", "registry", "secrets", "types"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autointerp":
            if node.module == "autointerp":
                yield from (f"autointerp.{a.name}" for a in node.names if a.name != "__version__")
            else:
                yield from (f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "autointerp")


def _graph() -> nx.DiGraph:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph = nx.DiGraph()
    for mod, path in modules.items():
        graph.add_node(mod)
        for target in _imports(path):
            while target not in modules:  # 'pkg.mod.Name' -> 'pkg.mod'
                target = target.rpartition(".")[0]
            if target not in (mod, "autointerp"):
                graph.add_edge(mod, target)
    return graph


def _room(mod: str) -> str:
    return mod.split(".")[1] if "." in mod else "__init__"


def test_every_room_has_a_floor_and_few_modules_lie_loose():
    rooms = {_room(m) for m in _graph()} - {"__init__"}
    assert rooms <= set(FLOOR), f"packages/modules without a floor: {sorted(rooms - set(FLOOR))}"
    loose = {p.stem for p in ROOT.glob("*.py")} - LOOSE_ALLOWED
    assert not loose, f"modules loose in autointerp/: {sorted(loose)} (give them a package)"


def test_no_import_climbs_a_floor():
    climbs = [(a, b) for a, b in _graph().edges if _room(a) != _room(b) and FLOOR[_room(b)] > FLOOR[_room(a)]]
    assert not climbs, "imports that run back up: " + ", ".join(f"{a} -> {b}" for a, b in climbs)


def test_backends_only_below_judging_and_never_from_dictionaries():
    users = {_room(a) for a, b in _graph().edges if _room(b) == "backends" and _room(a) != "backends"}
    assert "dictionaries" not in users
    assert all(FLOOR[u] >= FLOOR["judging"] for u in users), f"backends imported by {sorted(users)}"


def test_no_import_circles():
    cycles = list(nx.simple_cycles(_graph()))
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_the_graph_holds_the_real_imports():
    """The checks above see real edges: an empty graph would pass them all."""
    edges = set(_graph().edges)
    assert ("autointerp.sampling.stream", "autointerp.activations.source") in edges
    assert ("autointerp.runs.pipeline", "autointerp.scorers.orchestrate") in edges
    assert _graph().number_of_edges() > 300
