"""genet-lab: explore the search space of *Genetic CNN* (Xie & Yuille, 2017).

The public API: the names a notebook or a script needs, one import::

    from genet_lab import Genome, parse, decode, complexity, get_preset       # no torch
    from genet_lab import load_dataset, default_train_config, train_genome    # torch, on first use
    from genet_lab import SearchConfig, create_run, evolve, RunStore, write_report

Each name is written once, in :data:`_API` (name -> defining module), and imported from its
module on first access (PEP 562), so ``import genet_lab`` imports no torch. Everything else
stays importable from its own module (``from genet_lab.evolution.operators import
select_roulette``). Layers, each ignorant of the one above: :mod:`genet_lab.encoding` (genomes,
stage graphs, drawings, presets; no torch) -> :mod:`genet_lab.training` (torch networks and
training; its catalog of data sets and recipes is torch-free) -> :mod:`genet_lab.evolution`
(Algorithm 1, the run store) -> front ends (:mod:`genet_lab.cli`, :mod:`genet_lab.tui`,
:mod:`genet_lab.widgets`, through :mod:`genet_lab.supervisor`). ``tests/test_layers.py``
checks both.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API: dict[str, str] = {
    # genomes and stage graphs (encoding: no torch)
    "Genome": "genet_lab.encoding.genome",
    "parse": "genet_lab.encoding.genome",
    "named": "genet_lab.encoding.genome",
    "zeros": "genet_lab.encoding.genome",
    "chain": "genet_lab.encoding.genome",
    "residual": "genet_lab.encoding.genome",
    "dense": "genet_lab.encoding.genome",
    "paper_best": "genet_lab.encoding.genome",
    "decode": "genet_lab.encoding.graph",
    "structure_key": "genet_lab.encoding.graph",
    "genome_text": "genet_lab.encoding.draw",
    "render": "genet_lab.encoding.draw",
    "have_dot": "genet_lab.encoding.draw",
    "complexity": "genet_lab.encoding.complexity",
    "count_space": "genet_lab.encoding.space",
    "get_preset": "genet_lab.encoding.presets",
    "list_presets": "genet_lab.encoding.presets",
    # what can be trained, and how (the catalog: no torch)
    "list_datasets": "genet_lab.training.catalog",
    "list_recipes": "genet_lab.training.catalog",
    # training one network (torch)
    "load_dataset": "genet_lab.training.data",
    "default_train_config": "genet_lab.training.config",
    "train_genome": "genet_lab.training.trainer",
    "train_model": "genet_lab.training.trainer",
    "load_checkpoint": "genet_lab.training.checkpoint",
    # searching (the run store; its fitness trains with torch)
    "SearchConfig": "genet_lab.evolution.config",
    "initial_population": "genet_lab.evolution.population",
    "create_run": "genet_lab.evolution.run",
    "evolve": "genet_lab.evolution.run",
    "resume_run": "genet_lab.evolution.run",
    "RunStore": "genet_lab.evolution.store",
    "run_summary": "genet_lab.evolution.report",
    "write_report": "genet_lab.evolution.report",
    # errors every front end reports in one line
    "UsageError": "genet_lab.errors",
}
"""Public name -> the module that defines it (imported on first access)."""

__all__ = list(_API)

_SUBPACKAGES = frozenset({"encoding", "training", "evolution", "cli", "tui", "widgets", "supervisor"})


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBPACKAGES:  # `import genet_lab; genet_lab.evolution.store` after the submodule was imported
        return importlib.import_module(f"genet_lab.{name}")
    raise AttributeError(f"module 'genet_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
