"""Starting and resuming runs: config + store + fitness + engine in one call.

:func:`evolve` is the Python entry point (``genet_lab.evolve``); :func:`start_run` and
:func:`resume_run` are what the CLI, the TUI's worker and the notebooks call.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from genet_lab.evolution.config import SearchConfig, extend
from genet_lab.evolution.engine import Engine, Listener
from genet_lab.evolution.fitness import Fitness, make_fitness
from genet_lab.evolution.records import RunStatus
from genet_lab.evolution.store import RunStore


def with_executor(fitness: Fitness, config: SearchConfig, execution: Mapping[str, Any] | None) -> Fitness:
    """Wrap ``fitness`` so a generation goes to the executor that ``execution`` asks for
    (``workers``, ``devices``, ``ray`` or ``batched``, as :func:`genet_lab.evolution.executors.make_executor`
    takes them); unchanged when it asks for none."""
    if not execution:
        return fitness
    from genet_lab.evolution.executors import ExecutorFitness, make_executor

    executor = make_executor(fitness, config.to_dict(), **execution)
    return ExecutorFitness(fitness, executor) if executor is not None else fitness


def start_run(run_dir: str | Path, config: SearchConfig, listeners: Iterable[Listener] = (),
              should_stop: Callable[[], bool] | None = None, fitness: Fitness | None = None,
              execution: Mapping[str, Any] | None = None) -> RunStatus:
    """Create a run in ``run_dir`` and run it to the end; returns the final status.

    ``execution`` chooses how a generation is evaluated (see :func:`with_executor`); it is
    not part of the run: a run may be resumed with another.
    """
    config = config.validated()
    fitness = with_executor(fitness or make_fitness(config), config, execution)  # fails before creating the dir
    with RunStore.create(run_dir, config.kind, config.seed, config.to_dict()) as store:
        return Engine(store, config, fitness, listeners, should_stop).run()


def resume_run(run_dir: str | Path, generations: int | None = None, listeners: Iterable[Listener] = (),
               should_stop: Callable[[], bool] | None = None, fitness: Fitness | None = None,
               execution: Mapping[str, Any] | None = None) -> RunStatus:
    """Continue the run in ``run_dir`` from its last finished evaluation.

    ``generations`` may raise T of the stored config (to extend a finished run).
    """
    with RunStore(run_dir) as store:
        config = SearchConfig.from_stored(store.config())
        if generations is not None and generations != config.generations:
            done = store.generations(finished_only=False)
            last = done[-1].gen if done else 0
            if generations < last:
                raise ValueError(f"the run already has generation {last}; --generations must be >= {last}")
            config = extend(config, generations)
            store.set_config(config.to_dict())
        fitness = with_executor(fitness or make_fitness(config), config, execution)
        return Engine(store, config, fitness, listeners, should_stop).run()


def evolve(run_dir: str | Path, config: SearchConfig | None = None, *, listeners: Iterable[Listener] = (),
           should_stop: Callable[[], bool] | None = None, execution: Mapping[str, Any] | None = None,
           **overrides: Any) -> RunStatus:
    """Run a search in ``run_dir`` to its end and return its final :class:`RunStatus`.

    ``config`` defaults to :class:`SearchConfig`'s (the paper's N = 20, T = 50, trained
    fitness); keyword ``overrides`` replace its fields, checked as a stored config is
    (``evolve("runs/a", fitness="toy", population=8, generations=5, train={"lr": 0.05})``);
    an unknown name is a :class:`~genet_lab.errors.UsageError`. ``fitness`` is the config's
    kind (train, proxy, toy); to evaluate with a fitness object of your own, call
    :func:`start_run`. Open the results with ``RunStore(run_dir, readonly=True)`` or report
    them with ``genet-lab report``.
    """
    config = config or SearchConfig()
    if overrides:
        config = config.with_overrides(**overrides)
    return start_run(run_dir, config, listeners, should_stop, execution=execution)
