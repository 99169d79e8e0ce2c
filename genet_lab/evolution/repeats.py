"""Each search strategy repeated many times on a table at an equal budget: what ``bench compare`` runs.

The strategies compared, by name (each a :class:`~.config.SearchConfig` on the table, run by
:func:`.inmemory.run_in_memory` until ``budget`` trained evaluations):

* ``ga``: the paper's GA (N = 20, p_M 0.8, q_M 0.05, p_C 0.2, q_C 0.2, random start);
* ``ga-reuse``: the same with ``reuse_structures`` (a structure already trained is not trained
  again, so it runs more generations for the same budget);
* ``aging``: aging evolution, N = 10 children a generation, P = 50, S = 10;
* ``local``: local search, N = L (one generation can hold every one-bit neighbour);
* ``random``: random search, N = 20.

Repeat r of every strategy has the same run seed (from ``seed`` and r), so the comparison is as
fair as independent runs can be. Metrics: :mod:`genet_lab.bench.compare`. Knows the config, the
in-memory driver and the table; no store, no torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from genet_lab.bench.compare import Outcome, truth_means
from genet_lab.bench.table import load_table
from genet_lab.errors import UsageError
from genet_lab.evolution import operators as ops
from genet_lab.evolution.config import MAX_GENERATIONS, TABLE_PREFIX, SearchConfig
from genet_lab.evolution.inmemory import Lookup, run_in_memory

__all__ = ["STRATEGIES", "check_names", "repeat_seed", "run_repeats", "strategy_config"]

STRATEGIES: dict[str, dict[str, Any]] = {
    "ga": {"kind": "ga", "population": 20},
    "ga-reuse": {"kind": "ga", "population": 20, "reuse_structures": True},
    "aging": {"kind": "aging", "population": 10, "aging_population": 50, "sample_size": 10},
    "local": {"kind": "local", "population": None},
    "random": {"kind": "random", "population": 20},
}
"""Name -> the SearchConfig fields of that strategy (population None: L, the genome's bits)."""
GENERATIONS_FACTOR = 4
"""A run stops after this many times the generations ``budget`` pays for without reuse
(``ceil(budget / N)``) even when short of the budget: a GA with structure reuse whose population
has converged trains (almost) nothing new, and the evaluations it did use are reported."""


def check_names(names: Sequence[str]) -> list[str]:
    """The strategy names, checked (one line naming the accepted ones), without repeats."""
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        what = f"unknown strategy {unknown[0]!r}" if unknown else "no strategy given"
        raise UsageError(f"{what}; accepted: {', '.join(STRATEGIES)}")
    return list(dict.fromkeys(names))


def strategy_config(name: str, table_ref: str, budget: int) -> SearchConfig:
    """The resolved config of strategy ``name`` on table ``table_ref`` for ``budget`` evaluations."""
    fields = dict(STRATEGIES[check_names([name])[0]])
    base = SearchConfig(fitness=TABLE_PREFIX + table_ref, **{k: v for k, v in fields.items() if v is not None})
    config = base.resolve()
    if fields.get("population", 0) is None:
        config = replace(config, population=int(ops.stage_bounds(config.stages)[-1]))
    t = min(MAX_GENERATIONS, GENERATIONS_FACTOR * -(-budget // config.population) - 1)
    return replace(config, generations=t).validated()


def repeat_seed(seed: int, repeat: int) -> int:
    """The run seed of repeat ``repeat`` (the same for every strategy), in [0, 2^63)."""
    return int(np.random.SeedSequence([int(seed), int(repeat)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def run_repeats(
    table_ref: str,
    names: Sequence[str],
    repeats: int,
    budget: int,
    seed: int = 0,
    progress: Callable[[str, int, float], None] | None = None,
    truth: Any = None,
) -> tuple[Any, dict[str, list[Outcome]], dict[str, float]]:
    """Run each strategy ``repeats`` times at ``budget`` trained evaluations on the table.

    Returns the table, each strategy's outcomes and its seconds; ``progress(name, done, seconds)``
    is called after each strategy. A partial table is refused: regret needs every structure's mean.
    ``truth`` (a loaded table of the same space, another fidelity): the anytime curves read its
    means, so a search on a short fidelity is judged by the long one."""
    if repeats < 1:
        raise UsageError(f"repeats must be at least 1, got {repeats}")
    if budget < 1:
        raise UsageError(f"the budget must be at least 1 evaluation, got {budget}")
    names = check_names(names)
    table = load_table(table_ref)
    if not table.complete:
        raise UsageError(f"table {table.name} is partial; comparing strategies needs every structure's mean")
    lookup = Lookup(table, None if truth is None else truth_means(table, truth))
    results: dict[str, list[Outcome]] = {}
    seconds: dict[str, float] = {}
    for name in names:
        config = strategy_config(name, table_ref, budget)
        start = time.perf_counter()
        results[name] = [
            run_in_memory(replace(config, seed=repeat_seed(seed, r)), lookup, budget).outcome for r in range(repeats)
        ]
        seconds[name] = time.perf_counter() - start
        if progress is not None:
            progress(name, repeats, seconds[name])
    return table, results, seconds
