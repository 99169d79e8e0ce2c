"""What the New-run dialog offers and how its preview words a choice: the search strategies,
every fitness (training, the zero-cost proxies, each shipped benchmark table) and a table's settings.

Reads the table registry (:mod:`genet_lab.bench.table`: the names without reading a file, a table's
settings once per process); no torch, no Textual.
"""

from __future__ import annotations

import functools

from genet_lab.evolution.config import FITNESS_KINDS, TABLE_PREFIX, UNITS, SearchConfig, table_ref
from genet_lab.evolution.strategies import KINDS
from genet_lab.training import proxies

STRATEGIES = KINDS
"""SearchConfig.kind: the paper's GA, random search, aging evolution, local search."""
STRATEGY_NAMES = {
    "ga": "the paper's GA",
    "random": "random search",
    "aging": "aging evolution",
    "local": "local search",
}


def table_names() -> list[str]:
    """The shipped benchmark tables (:func:`genet_lab.bench.table.shipped`; no file is read)."""
    from genet_lab.bench.table import shipped

    return list(shipped())


@functools.cache
def table_settings(name: str) -> tuple[tuple[int, ...], str, str, int | None]:
    """(stages, data set, preset, epochs) of shipped table ``name``, read once per process."""
    from genet_lab.bench.table import load_table

    table = load_table(name)
    s = table.settings
    return table.stages, s.dataset, s.preset, s.epochs


def fitness_choices() -> list[str]:
    """Every fitness the dialog offers: train, proxy, toy, each ``proxy:NAME`` and each ``table:NAME``."""
    return [*FITNESS_KINDS, *proxies.FITNESSES, *(TABLE_PREFIX + name for name in table_names())]


def search_text(config: SearchConfig) -> str:
    """The strategy and its budget, as the preview says it."""
    name = STRATEGY_NAMES.get(config.kind, config.kind)
    if config.kind == "aging":
        name += f" (P {config.aging_population}, S {config.sample_size})"
    reuse = ", structures reused" if config.reuse_structures else ""
    return f"{name}, {config.population} x {config.generations + 1} evaluations{reuse}"


def fitness_text(config: SearchConfig) -> str:
    """What a fitness value will be, as the preview says it."""
    ref = table_ref(config.fitness)
    if config.fitness == "train":
        return f"fitness: trained {config.epochs} epochs at batch {config.train.batch_size or '-'}"
    if ref is not None:
        return f"fitness: table {ref}, one recorded seed's val. accuracy ({config.epochs} epochs on {config.dataset})"
    return f"fitness: {UNITS.get(config.fitness, config.fitness)}"
