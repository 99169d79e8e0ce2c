"""Starting and resuming runs: config + store + fitness + engine in one call."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from genet_lab.evolution.engine import Engine, SearchConfig
from genet_lab.evolution.store import RunStore


def with_executor(fitness, config: SearchConfig, execution: dict | None):
    """Wrap ``fitness`` so a generation goes to the executor that ``execution`` asks for
    (``workers``, ``devices``, ``ray`` or ``batched``, as :func:`genet_lab.evolution.executors.make_executor`
    takes them); unchanged when it asks for none."""
    if not execution:
        return fitness
    from genet_lab.evolution.executors import ExecutorFitness, make_executor

    executor = make_executor(fitness, config.to_dict(), **execution)
    return ExecutorFitness(fitness, executor) if executor is not None else fitness


def start_run(run_dir: str | Path, config: SearchConfig, listeners: Iterable[Callable] = (),
              should_stop: Callable[[], bool] | None = None, fitness=None, execution: dict | None = None) -> dict:
    """Create a run in ``run_dir`` and run it to the end; returns the final status.

    ``execution`` chooses how a generation is evaluated (see :func:`with_executor`); it is
    not part of the run: a run may be resumed with another.
    """
    from genet_lab.evolution.fitness import make_fitness

    config = config.validated()
    fitness = with_executor(fitness or make_fitness(config), config, execution)  # fails before creating the dir
    with RunStore.create(run_dir, config.kind, config.seed, config.to_dict()) as store:
        return Engine(store, config, fitness, listeners, should_stop).run()


def resume_run(run_dir: str | Path, generations: int | None = None, listeners: Iterable[Callable] = (),
               should_stop: Callable[[], bool] | None = None, fitness=None, execution: dict | None = None) -> dict:
    """Continue the run in ``run_dir`` from its last finished evaluation.

    ``generations`` may raise T of the stored config (to extend a finished run).
    """
    from genet_lab.evolution.fitness import make_fitness

    with RunStore(run_dir) as store:
        config = SearchConfig.from_dict(store.config())
        if generations is not None and generations != config.generations:
            done = store.generations(finished_only=False)
            last = done[-1]["gen"] if done else 0
            if generations < last:
                raise ValueError(f"the run already has generation {last}; --generations must be >= {last}")
            config = replace(config, generations=int(generations)).validated()
            store.set_config(config.to_dict())
        fitness = with_executor(fitness or make_fitness(config), config, execution)
        return Engine(store, config, fitness, listeners, should_stop).run()
