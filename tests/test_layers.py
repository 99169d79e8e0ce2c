"""Layering: who may import whom, no import cycles, and no torch below the training layer.

The layers, lowest first: ``errors``/``fileio`` (base utilities) <- ``encoding`` (no torch)
<- ``training`` (torch) <- ``evolution`` <- front ends (``cli``, ``tui``, ``widgets``).
Every import statement of every module counts, the ones inside functions too (they run
sooner or later); ``genet_lab/__init__.py``, the public API, is exempt.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

import genet_lab
import genet_lab.encoding

PACKAGE = "genet_lab"
ROOT = Path(genet_lab.__file__).resolve().parent

BASE = {"errors", "fileio", "processes"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "fileio": {"errors"},
    "processes": set(),
    "encoding": {"encoding"} | BASE,
    "training": {"training", "encoding"} | BASE,
    "bench": {"bench", "training", "encoding"} | BASE,
    "evolution": {"evolution", "bench", "training", "encoding"} | BASE,
    "supervisor": {"supervisor", "evolution", "training", "encoding"} | BASE,
}
"""Layer -> the layers its modules may import (a layer missing here is not restricted this way).
``bench`` (the tabular benchmark: builds by training, tables read as a fitness) sits between
training and evolution; ``supervisor`` (the front ends' processes: runs and trainings) sits under
the front ends."""

FORBIDDEN: dict[str, set[str]] = {
    "tui": {"widgets", "cli"},
    "widgets": {"tui", "cli"},
}
"""Front end -> the layers it must never import (front ends talk to the core, not to each other)."""


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    type_checking: bool
    """Inside ``if TYPE_CHECKING:``: a dependency of the design, but never executed."""


def _modules() -> dict[str, Path]:
    """Every module of the package, found on disk by pkgutil (nothing is imported)."""
    found = {PACKAGE: ROOT / "__init__.py"}

    def walk(path: Path, prefix: str) -> None:
        for info in pkgutil.iter_modules([str(path)], prefix + "."):
            leaf = info.name.rsplit(".", 1)[1]
            if info.ispkg:
                found[info.name] = path / leaf / "__init__.py"
                walk(path / leaf, info.name)
            else:
                found[info.name] = path / f"{leaf}.py"

    walk(ROOT, PACKAGE)
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(source: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = source.split(".")
    if MODULES[source].name != "__init__.py":
        parts = parts[:-1]  # a plain module's relative imports start at its package
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(source: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The genet_lab modules an import statement loads (``from pkg import sub`` is ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        module = _absolute(source, node)
        names = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]
    return sorted({n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")})


def _imports(source: str) -> list[Import]:
    tree = ast.parse(MODULES[source].read_text(), filename=str(MODULES[source]))
    found: list[Import] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend(Import(source, t, node.lineno, guarded) for t in _targets(source, node))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


IMPORTS = [imp for module in sorted(MODULES) for imp in _imports(module)]


def _layer(module: str) -> str:
    """``genet_lab.training.data.sources`` -> ``training``; the package itself -> ``genet_lab``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def _breaks_the_layers(imp: Import) -> bool:
    source, target = _layer(imp.source), _layer(imp.target)
    if imp.source == PACKAGE:
        return False
    if source in ALLOWED:
        return target not in ALLOWED[source]
    return target in FORBIDDEN.get(source, set())


def test_the_walk_sees_every_layer_and_its_imports():
    assert {_layer(m) for m in MODULES} >= {
        "encoding",
        "training",
        "evolution",
        "cli",
        "tui",
        "widgets",
        "errors",
        "fileio",
    }
    assert "genet_lab.training.data.sources" in MODULES  # subpackages are walked
    assert any(
        i.source == "genet_lab.evolution.fitness" and i.target == "genet_lab.training.trainer" for i in IMPORTS
    )  # imports inside functions count


def test_every_import_respects_the_layers():
    bad = [
        f"{MODULES[i.source].relative_to(ROOT.parent)}:{i.line}: {i.source} imports {i.target}"
        + (" (under TYPE_CHECKING)" if i.type_checking else "")
        for i in IMPORTS
        if _breaks_the_layers(i)
    ]
    rules = "; ".join(f"{k} may import {', '.join(sorted(v)) or 'nothing of genet_lab'}" for k, v in ALLOWED.items())
    assert not bad, f"layer rule broken ({rules}; tui and widgets never import each other or cli):\n" + "\n".join(bad)


def import_graph(type_checking: bool = True) -> nx.DiGraph:
    """Module -> module for every import; ``type_checking`` False leaves out the ``TYPE_CHECKING``
    ones (they never run, but a pane that names its app's type still depends on it)."""
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for imp in IMPORTS:
        if (type_checking or not imp.type_checking) and imp.source != imp.target:
            graph.add_edge(imp.source, imp.target, line=imp.line)
    return graph


def cycles(graph: nx.DiGraph) -> list[str]:
    """One cycle per strongly connected component, as ``a (line n) -> b (line m) -> a``."""
    found = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.subgraph(component))
            found.append(
                " -> ".join(f"{u} (line {graph.edges[u, v].get('line')})" for u, v in cycle) + f" -> {cycle[0][0]}"
            )
    return found


def test_the_import_graph_has_no_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles (a function-level or TYPE_CHECKING import still closes a cycle):\n" + "\n".join(
        found
    )


def test_the_cycle_check_walks_the_front_ends():
    graph = import_graph()
    assert any(m.startswith("genet_lab.tui.") for m in graph) and any(m.startswith("genet_lab.widgets.") for m in graph)
    assert graph.has_edge("genet_lab.tui.app", "genet_lab.tui.editor")


def test_the_checks_catch_what_they_should():
    def imp(source: str, target: str) -> Import:
        return Import(f"genet_lab.{source}", f"genet_lab.{target}", 1, False)

    assert _breaks_the_layers(imp("encoding.graph", "training.network"))
    assert _breaks_the_layers(Import("genet_lab.encoding.graph", PACKAGE, 1, False))  # the public API sits on top
    assert _breaks_the_layers(imp("training.trainer", "evolution.fitness"))
    assert _breaks_the_layers(imp("evolution.engine", "cli.core"))
    assert _breaks_the_layers(imp("tui.app", "widgets.editor"))
    assert _breaks_the_layers(imp("widgets.editor", "cli.main"))
    assert _breaks_the_layers(imp("errors", "fileio")) and not _breaks_the_layers(imp("fileio", "errors"))
    assert not _breaks_the_layers(imp("evolution.fitness", "training.trainer"))
    assert not _breaks_the_layers(imp("tui.evolution", "evolution.store"))
    assert not _breaks_the_layers(imp("tui.evolution", "supervisor"))
    assert not _breaks_the_layers(imp("supervisor.runs", "evolution.store"))
    assert _breaks_the_layers(imp("supervisor.runs", "tui.app"))
    assert _breaks_the_layers(imp("supervisor.trainings", "widgets.train_panel"))
    assert _breaks_the_layers(imp("evolution.engine", "supervisor"))
    toy = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert len(cycles(toy)) == 1 and cycles(nx.DiGraph([("a", "b")])) == []


# -- no torch below the training layer ---------------------------------------------------

ENCODING_MODULES = sorted(
    info.name for info in pkgutil.iter_modules(genet_lab.encoding.__path__, "genet_lab.encoding.")
)
TORCH_FREE = [
    "genet_lab",
    "genet_lab.encoding",
    *ENCODING_MODULES,
    "genet_lab.errors",
    "genet_lab.fileio",
    "genet_lab.cli.core",
    "genet_lab.supervisor",
    "genet_lab.training.config",  # the records a front end reads: the network travels beside them
    "genet_lab.bench.build",  # the tabular benchmark: torch only where a training runs
    "genet_lab.bench.table",
]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_the_torch_free_list_comes_from_the_package():
    assert {"genet_lab.encoding.genome", "genet_lab.encoding.graph", "genet_lab.encoding.draw"} <= set(TORCH_FREE)


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_does_not_import_torch(module):
    out = _python(f"import sys, {module}; print('torch' in sys.modules)")
    assert out.stdout.strip() == "False"


def test_inspecting_a_genome_on_the_cli_does_not_import_torch():
    code = (
        "import sys; from genet_lab.cli.main import main; "
        "main(['show', 'paper-best', '--json']); print('torch' in sys.modules, file=sys.stderr)"
    )
    out = _python(code)
    assert out.stderr.strip().splitlines()[-1] == "False"


# -- the public API ------------------------------------------------------------------------


def test_the_public_api_loads_torch_only_when_a_torch_name_is_used():
    code = (
        "import sys, genet_lab; from genet_lab import Genome, decode, complexity, get_preset; "
        "names = dir(genet_lab); assert 'train_genome' in names and 'evolve' in names, names; "
        "print('torch' in sys.modules); genet_lab.train_genome; print('torch' in sys.modules)"
    )
    assert _python(code).stdout.split() == ["False", "True"]


def test_the_public_api_is_deliberate_and_each_name_is_written_once():
    """About 30 names a notebook or a script needs; each appears once in genet_lab/__init__.py
    (the API table), and internals stay in their modules."""
    source = (ROOT / "__init__.py").read_text()
    assert 20 <= len(genet_lab.__all__) <= 36, len(genet_lab.__all__)
    assert [n for n in genet_lab.__all__ if source.count(f'"{n}"') != 1] == []
    for internal in ("pair_index", "stage_bounds", "roulette_probabilities", "TrainFitness", "make_fitness"):
        assert internal not in genet_lab.__all__


@pytest.mark.parametrize("name", genet_lab.__all__)
def test_every_public_name_resolves(name):
    assert getattr(genet_lab, name) is not None
    assert name in dir(genet_lab)


def test_public_names_are_the_defining_modules_objects():
    from genet_lab.encoding.genome import Genome
    from genet_lab.training.trainer import train_genome

    assert genet_lab.Genome is Genome and genet_lab.train_genome is train_genome
    assert sorted(genet_lab.__all__) == sorted(set(genet_lab.__all__)), "a name is listed twice"
    assert list(genet_lab._API) == genet_lab.__all__, "__all__ is the API table"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        genet_lab.nonexistent  # noqa: B018
