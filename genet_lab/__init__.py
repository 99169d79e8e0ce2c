"""genet-lab: explore the search space of *Genetic CNN* (Xie & Yuille, 2017).

The public API, one import for notebooks and scripts::

    from genet_lab import Genome, parse, decode, genome_text, get_preset, complexity
    from genet_lab import load_dataset, default_train_config, train_genome      # torch, on first use
    from genet_lab import RunStore, SearchConfig, evolve

Layers, each ignorant of the one above: :mod:`genet_lab.encoding` (genomes, stage graphs,
drawings, presets; no torch) -> :mod:`genet_lab.training` (torch networks and training) ->
:mod:`genet_lab.evolution` (Algorithm 1, the run store) -> front ends (:mod:`genet_lab.cli`,
:mod:`genet_lab.tui`, :mod:`genet_lab.widgets`). The encoding names are imported here; the
training and evolution names are imported on first access (PEP 562), so importing this
package imports no torch. ``tests/test_layers.py`` checks both.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from genet_lab.encoding.complexity import Complexity, complexity
from genet_lab.encoding.draw import genome_text, have_dot, render, stage_text, to_dot
from genet_lab.encoding.genome import (
    PAPER_STAGES,
    Genome,
    chain,
    dense,
    named,
    pair_index,
    paper_best,
    parse,
    parse_stages,
    residual,
    residual_40,
    resolve,
    stage_length,
    zeros,
)
from genet_lab.encoding.graph import (
    StageGraph,
    decode,
    decode_stage,
    same_structure,
    structure_hash,
    structure_key,
)
from genet_lab.encoding.presets import NetworkConfig, get_preset, list_presets
from genet_lab.encoding.space import count_space, stage_classes, strings_sharing
from genet_lab.errors import UsageError

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and editors
    from genet_lab.evolution.config import SearchConfig
    from genet_lab.evolution.events import GenerationFinished, IndividualEvaluated
    from genet_lab.evolution.fitness import TrainFitness, make_fitness
    from genet_lab.evolution.operators import (
        crossover_stages,
        from_genomes,
        mutate_flip,
        roulette_probabilities,
        select_roulette,
        stage_bounds,
        to_genomes,
    )
    from genet_lab.evolution.report import best_so_far, compare, run_summary, table1, write_report
    from genet_lab.evolution.run import evolve, resume_run, start_run
    from genet_lab.evolution.store import RunStore
    from genet_lab.training.checkpoint import load_checkpoint, save_checkpoint
    from genet_lab.training.config import TrainConfig, TrainProgress, TrainResult, default_train_config
    from genet_lab.training.data import DataSplits, list_datasets, load_dataset
    from genet_lab.training.network import GeNet, build_network, count_parameters
    from genet_lab.training.population import train_population
    from genet_lab.training.recipes import RECIPES
    from genet_lab.training.trainer import train_genome

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # training (torch)
    "TrainConfig": "genet_lab.training.config",
    "TrainProgress": "genet_lab.training.config",
    "TrainResult": "genet_lab.training.config",
    "default_train_config": "genet_lab.training.config",
    "train_genome": "genet_lab.training.trainer",
    "train_population": "genet_lab.training.population",
    "RECIPES": "genet_lab.training.recipes",
    "DataSplits": "genet_lab.training.data",
    "list_datasets": "genet_lab.training.data",
    "load_dataset": "genet_lab.training.data",
    "GeNet": "genet_lab.training.network",
    "build_network": "genet_lab.training.network",
    "count_parameters": "genet_lab.training.network",
    "save_checkpoint": "genet_lab.training.checkpoint",
    "load_checkpoint": "genet_lab.training.checkpoint",
    # evolution (Algorithm 1; its fitness trains with torch)
    "SearchConfig": "genet_lab.evolution.config",
    "evolve": "genet_lab.evolution.run",
    "start_run": "genet_lab.evolution.run",
    "resume_run": "genet_lab.evolution.run",
    "RunStore": "genet_lab.evolution.store",
    "TrainFitness": "genet_lab.evolution.fitness",
    "make_fitness": "genet_lab.evolution.fitness",
    "roulette_probabilities": "genet_lab.evolution.operators",
    "select_roulette": "genet_lab.evolution.operators",
    "crossover_stages": "genet_lab.evolution.operators",
    "mutate_flip": "genet_lab.evolution.operators",
    "stage_bounds": "genet_lab.evolution.operators",
    "to_genomes": "genet_lab.evolution.operators",
    "from_genomes": "genet_lab.evolution.operators",
    "run_summary": "genet_lab.evolution.report",
    "table1": "genet_lab.evolution.report",
    "write_report": "genet_lab.evolution.report",
    "best_so_far": "genet_lab.evolution.report",
    "compare": "genet_lab.evolution.report",
    "GenerationFinished": "genet_lab.evolution.events",
    "IndividualEvaluated": "genet_lab.evolution.events",
}
"""Public name -> the module that defines it, imported on first access."""

_SUBPACKAGES = frozenset({"encoding", "training", "evolution", "cli", "tui", "widgets"})

__all__ = [
    # encoding (imported above)
    "Genome",
    "parse",
    "parse_stages",
    "resolve",
    "named",
    "zeros",
    "chain",
    "residual",
    "dense",
    "residual_40",
    "paper_best",
    "PAPER_STAGES",
    "stage_length",
    "pair_index",
    "StageGraph",
    "decode",
    "decode_stage",
    "structure_key",
    "structure_hash",
    "same_structure",
    "genome_text",
    "stage_text",
    "render",
    "to_dot",
    "have_dot",
    "Complexity",
    "complexity",
    "NetworkConfig",
    "get_preset",
    "list_presets",
    "count_space",
    "stage_classes",
    "strings_sharing",
    "UsageError",
    "__version__",
    # training and evolution (imported on first access, see _LAZY)
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "default_train_config",
    "train_genome",
    "train_population",
    "RECIPES",
    "DataSplits",
    "list_datasets",
    "load_dataset",
    "GeNet",
    "build_network",
    "count_parameters",
    "save_checkpoint",
    "load_checkpoint",
    "SearchConfig",
    "evolve",
    "start_run",
    "resume_run",
    "RunStore",
    "TrainFitness",
    "make_fitness",
    "roulette_probabilities",
    "select_roulette",
    "crossover_stages",
    "mutate_flip",
    "stage_bounds",
    "to_genomes",
    "from_genomes",
    "run_summary",
    "table1",
    "write_report",
    "best_so_far",
    "compare",
    "GenerationFinished",
    "IndividualEvaluated",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
