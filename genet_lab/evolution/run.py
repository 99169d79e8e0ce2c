"""Starting and resuming runs: config + store + fitness + engine in one call.

:func:`evolve` is the Python entry point (``genet_lab.evolve``); :func:`start_run` and
:func:`resume_run` are what the CLI and the notebooks call; :func:`create_run` stores a new run
without running it (a front end then runs ``genet-lab evolve --resume DIR`` in a process).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from genet_lab.errors import ConfigError, UsageError, show
from genet_lab.evolution.config import (  # noqa: F401  (check_size and its limits: also imported from here)
    MAX_GENERATION_BITS,
    MAX_GENERATIONS,
    MAX_POPULATION,
    SearchConfig,
    check_size,
    extend,
)
from genet_lab.evolution.engine import Engine, Listener
from genet_lab.evolution.executors import make_executor
from genet_lab.evolution.fitness import Fitness, make_fitness
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.evolution.records import RunStatus
from genet_lab.evolution.store import RunStore, check_new_run_dir


def data_fingerprint(fitness: Fitness) -> dict[str, Any] | None:
    """What identifies the data a fitness measures on (None for one without data, the toy):
    data set name, class names, images per class in each split, image shape and a hash of the
    loaded tensors. Stored with a run; a resume on other data is refused (see :func:`data_change`)."""
    data = getattr(fitness, "data", None)
    if data is None or not hasattr(data, "train_x"):
        return None
    import numpy as np

    digest = hashlib.blake2b(digest_size=16)
    counts: dict[str, list[int]] = {}
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"{split}_x", None), getattr(data, f"{split}_y", None)
        if x is None or y is None:
            continue
        for name, t in (("x", x), ("y", y)):
            a = np.ascontiguousarray(t.detach().cpu().numpy())
            digest.update(f"{split}_{name} {a.dtype} {a.shape};".encode())
            digest.update(a.view(np.uint8).reshape(-1).data)
        labels = np.asarray(y.detach().cpu().numpy()).reshape(-1).astype(np.int64)
        counts[split] = np.bincount(labels[labels >= 0], minlength=int(data.num_classes)).tolist()
    return {
        "dataset": str(data.name),
        "classes": [str(c) for c in data.classes],
        "counts": counts,
        "shape": [int(d) for d in data.train_x.shape[1:]],
        "hash": digest.hexdigest(),
    }


def data_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """What differs between two fingerprints, in words (None when they agree)."""
    if dict(old) == dict(new):
        return None
    parts = []
    if old.get("dataset") != new.get("dataset"):
        parts.append(f"data set {old.get('dataset')} -> {new.get('dataset')}")
    was, now = list(old.get("classes") or []), list(new.get("classes") or [])
    if was != now:
        added, removed = [c for c in now if c not in was], [c for c in was if c not in now]
        extra = "; ".join(
            f"{k} {', '.join(show(c) for c in v[:5])}{' ...' if len(v) > 5 else ''}"
            for k, v in (("added", added), ("removed", removed))
            if v
        )
        parts.append(f"{len(was)} -> {len(now)} classes" + (f" ({extra})" if extra else ""))
    for split, was_n in (old.get("counts") or {}).items():
        now_n = (new.get("counts") or {}).get(split)
        if was_n != now_n and now_n is not None and len(was_n) == len(now_n):
            parts.append(
                f"{split} images {sum(was_n)} -> {sum(now_n)}"
                if sum(was_n) != sum(now_n)
                else f"{split} images per class changed"
            )
    if old.get("shape") != new.get("shape"):
        parts.append(f"image shape {old.get('shape')} -> {new.get('shape')}")
    return "; ".join(parts) or "the images differ (same classes and counts)"


def _prepared(config: SearchConfig) -> SearchConfig:
    """``config`` resolved (:meth:`SearchConfig.resolve`), with ``data_dir`` made absolute."""
    config = config.resolve()
    if config.data_dir:
        config = replace(config, data_dir=str(Path(config.data_dir).expanduser().resolve()))
    return config


def check_start(run_dir: str | Path, config: SearchConfig) -> SearchConfig:
    """``config`` resolved, with everything a new run in ``run_dir`` needs checked before anything
    is made: the config, generation 0 (every genome of the start), the directory (its name, no
    run in it, no planted link). Loads no data. What ``--dry-run`` checks too."""
    config = _prepared(config)
    check_new_run_dir(run_dir)
    initial_population(config, initial_rng(config))
    return config


def resumed_config(store: RunStore, generations: int | None) -> tuple[SearchConfig, dict[str, Any] | None]:
    """The config a resume of ``store`` runs with, T raised to ``generations`` when given, and the
    config to store (None when unchanged). A T below the last stored generation is refused."""
    config = SearchConfig.from_stored(store.config())
    changed = None
    if generations is not None and generations != config.generations:
        done = store.generations(finished_only=False)
        last = done[-1].gen if done else 0
        if generations < last:
            raise ConfigError(
                "generations",
                generations,
                template=f"the run already has generation {last}; {{option}} must be >= {last}",
            )
        config = extend(config, generations)
        changed = config.to_dict()
    check_size(config)
    return config, changed


def create_run(run_dir: str | Path, config: SearchConfig) -> Path:
    """Resolve and check ``config`` and store it as a new run in ``run_dir``, not started; returns
    the run directory. Loads no data and imports no torch: a front end creates the run, then
    continues it in a process of its own (``genet-lab evolve --resume DIR``), where the data is
    loaded and fingerprinted. A directory that already holds a run is a
    :class:`~genet_lab.evolution.store.RunExists`."""
    config = check_start(run_dir, config)
    with RunStore.create(run_dir, config.kind, config.seed, config.to_dict()) as store:
        return store.dir


def start_run(
    run_dir: str | Path,
    config: SearchConfig,
    listeners: Iterable[Listener] = (),
    should_stop: Callable[[], bool] | None = None,
    fitness: Fitness | None = None,
    execution: Mapping[str, Any] | None = None,
) -> RunStatus:
    """Create a run in ``run_dir`` as :func:`create_run` does and run it to the end; returns the
    final status. The data is loaded (and the executor made) before the directory is: a bad data
    directory leaves nothing behind.

    ``execution`` chooses how a generation is evaluated (``workers``, ``devices``, ``ray`` or
    ``batched``, see :func:`~genet_lab.evolution.executors.make_executor`); it is
    not part of the run: a run may be resumed with another. ``data_dir`` is stored resolved
    (absolute), with a fingerprint of the data (:func:`data_fingerprint`).
    """
    config = check_start(run_dir, config)
    base = fitness or make_fitness(config)  # fails before creating the dir
    data = data_fingerprint(base)
    executor = make_executor(base, config, execution)
    with RunStore.create(run_dir, config.kind, config.seed, config.to_dict(), data=data) as store:
        return Engine(store, config, base, listeners, should_stop, executor).run()


def resume_run(
    run_dir: str | Path,
    generations: int | None = None,
    listeners: Iterable[Listener] = (),
    should_stop: Callable[[], bool] | None = None,
    fitness: Fitness | None = None,
    execution: Mapping[str, Any] | None = None,
) -> RunStatus:
    """Continue the run in ``run_dir`` from its last finished evaluation.

    ``generations`` may raise T of the stored config (to extend a finished run). Everything is
    checked (the config, the data against the stored fingerprint, the executor) before the
    store is changed: a refused resume leaves the run as it was.
    """
    with RunStore(run_dir) as store:
        config, changed = resumed_config(store, generations)
        base = fitness or make_fitness(config)
        stored, data = store.data_fingerprint(), data_fingerprint(base)
        if stored is not None and data is not None and (what := data_change(stored, data)):
            where = f" ({show(config.data_dir)})" if config.data_dir else ""
            raise UsageError(
                f"the data{where} differs from what the run in {show(store.dir)} was measured on: "
                f"{what}; restore that data to resume, or start a new run"
            )
        engine = Engine(store, config, base, listeners, should_stop, make_executor(base, config, execution))
        store.update_run(config=changed, data=data if stored is None else None)
        return engine.run()


def evolve(
    run_dir: str | Path,
    config: SearchConfig | None = None,
    *,
    listeners: Iterable[Listener] = (),
    should_stop: Callable[[], bool] | None = None,
    execution: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> RunStatus:
    """Run a search in ``run_dir`` to its end and return its final :class:`RunStatus`.

    ``config`` defaults to :class:`SearchConfig`'s (the laptop budget: N = 10, T = 10 on digits;
    :meth:`SearchConfig.paper` is the paper's process); keyword ``overrides`` replace its fields,
    then the config is resolved and checked (:meth:`SearchConfig.resolve`)
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
