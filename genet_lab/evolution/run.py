"""Starting and resuming runs: config + store + fitness + engine in one call."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from .engine import Engine, SearchConfig
from .store import RunStore


def start_run(run_dir: str | Path, config: SearchConfig, listeners: Iterable[Callable] = (),
              should_stop: Callable[[], bool] | None = None, fitness=None) -> dict:
    """Create a run in ``run_dir`` and run it to the end; returns the final status."""
    from .fitness import make_fitness

    config = config.validated()
    fitness = fitness or make_fitness(config)  # fails (bad dataset...) before creating the directory
    with RunStore.create(run_dir, config.kind, config.seed, config.to_dict()) as store:
        return Engine(store, config, fitness, listeners, should_stop).run()


def resume_run(run_dir: str | Path, generations: int | None = None, listeners: Iterable[Callable] = (),
               should_stop: Callable[[], bool] | None = None, fitness=None) -> dict:
    """Continue the run in ``run_dir`` from its last finished evaluation.

    ``generations`` may raise T of the stored config (to extend a finished run).
    """
    from .fitness import make_fitness

    with RunStore(run_dir) as store:
        config = SearchConfig.from_dict(store.config())
        if generations is not None and generations != config.generations:
            done = store.generations(finished_only=False)
            last = done[-1]["gen"] if done else 0
            if generations < last:
                raise ValueError(f"the run already has generation {last}; --generations must be >= {last}")
            config = replace(config, generations=int(generations)).validated()
            store.set_config(config.to_dict())
        fitness = fitness or make_fitness(config)
        return Engine(store, config, fitness, listeners, should_stop).run()
