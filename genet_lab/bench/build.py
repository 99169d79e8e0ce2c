"""The build: every pending training of a build directory, run and recorded one by one.

:func:`build` opens (or creates) the build's store, hands its pending trainings to one
:class:`~genet_lab.bench.worker.Trainer` in this process (``workers=1``) or to a
:class:`~genet_lab.bench.worker.WorkerPool`, in chunks (one training for ``loop``, ``group``
trainings of one population for ``batched``), and records each result as it arrives in its own
transaction. Killed at any moment, a rerun continues from the store. :func:`projected_cost` says
what a build will cost before it starts. Progress goes to a callback; wording it is a front end's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genet_lab.bench.settings import BenchSettings
from genet_lab.bench.store import BenchStore
from genet_lab.bench.structures import count_structures
from genet_lab.bench.worker import MODES, Job
from genet_lab.errors import ConfigError

__all__ = ["DEFAULT_MODE", "EPOCH_SECONDS", "BuildProgress", "build", "projected_cost"]

DEFAULT_MODE = "loop"
"""Measured by benchmarks/bench_build.py (docs/bench.md)."""
EPOCH_SECONDS = {"digits": 0.2}
"""Seconds per epoch of one training on one CPU thread of the 2-core machine the tables were built
on, where measured (an estimate before a build has measured its own)."""


@dataclass
class BuildProgress:
    """Where a build stands: trainings done (of ``total``), this session's pace and the ETA."""

    done: int
    total: int
    session_done: int
    elapsed: float
    last: tuple[int, int, dict[str, Any]] | None = None

    @property
    def per_second(self) -> float:
        return self.session_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.per_second
        return (self.total - self.done) / rate if rate > 0 else None


def projected_cost(settings: BenchSettings, workers: int, measured: float | None = None) -> dict[str, Any]:
    """Structures x seeds x seconds per training / workers, from ``measured`` seconds per training
    or the estimate of :data:`EPOCH_SECONDS` (None where there is neither)."""
    structures = count_structures(settings.stages)
    trainings = structures * len(settings.seeds)
    per = measured
    source = "measured"
    if per is None and settings.dataset in EPOCH_SECONDS and settings.train_size is None:
        per, source = EPOCH_SECONDS[settings.dataset] * (settings.epochs or 1), "estimated"
    seconds = None if per is None else trainings * per / max(1, workers)
    return {
        "structures": structures,
        "seeds": len(settings.seeds),
        "trainings": trainings,
        "seconds_per_training": per,
        "source": source if per is not None else "unknown until the first trainings",
        "workers": workers,
        "seconds": seconds,
    }


def _chunks(jobs: Sequence[Job], size: int) -> Iterator[list[Job]]:
    for start in range(0, len(jobs), size):
        yield list(jobs[start : start + size])


def build(
    directory: str | Path,
    settings: BenchSettings,
    *,
    workers: int = 1,
    mode: str = DEFAULT_MODE,
    group: int = 8,
    device: str = "auto",
    threads: int = 0,
    progress: Callable[[BuildProgress], None] | None = None,
    store: BenchStore | None = None,
) -> dict[str, int]:
    """Run every pending training of the build in ``directory`` (created with ``settings`` when
    new); returns the store's counts at the end."""
    if mode not in MODES:
        raise ConfigError("mode", mode, accepted=MODES, what="build mode")
    if workers < 1:
        raise ConfigError("workers", workers, accepted=">= 1", what="workers")
    own = store is None
    if store is None:
        store, _ = BenchStore.open_or_create(directory, settings)
    try:
        counts = store.counts()
        total = sum(counts.values())
        state = BuildProgress(counts["done"], total, 0, 0.0)
        size = group if mode == "batched" else 1
        chunks = list(_chunks(store.pending(), size))
        start = time.perf_counter()

        def record(results: list[tuple[int, int, dict[str, Any]]]) -> None:
            for sid, seed, rec in results:
                if store.record(sid, seed, rec):
                    state.done += 1
                    state.session_done += 1
                state.last = (sid, seed, rec)
            state.elapsed = time.perf_counter() - start
            if progress is not None:
                progress(state)

        if workers == 1:
            _run_here(store, store.settings, chunks, mode, device, threads, record)
        else:
            _run_pool(store, store.settings, chunks, mode, workers, device, threads, record)
        return store.counts()
    finally:
        if own:
            store.close()


Record = Callable[[list[tuple[int, int, dict[str, Any]]]], None]


def _run_here(
    store: BenchStore, settings: BenchSettings, chunks: list[list[Job]], mode: str, device: str, threads: int,
    record: Record,
) -> None:  # fmt: skip
    if not chunks:
        return
    from genet_lab.bench.worker import Trainer

    trainer = Trainer(settings, device, threads)
    for chunk in chunks:
        store.mark_running([(sid, seed) for sid, seed, _ in chunk])
        record(trainer.train(chunk, mode))


def _run_pool(
    store: BenchStore, settings: BenchSettings, chunks: list[list[Job]], mode: str, workers: int, device: str,
    threads: int, record: Record,
) -> None:  # fmt: skip
    if not chunks:
        return
    from genet_lab.bench.worker import WorkerPool

    pool = WorkerPool(settings, workers, device, threads)
    todo = list(reversed(chunks))
    running: set[Future] = set()
    try:
        while todo or running:
            while todo and len(running) < 2 * workers:
                chunk = todo.pop()
                store.mark_running([(sid, seed) for sid, seed, _ in chunk])
                running.add(pool.submit(chunk, mode))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                record(fut.result())
    finally:
        pool.shutdown()
