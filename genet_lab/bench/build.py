"""The build: every pending training of a build directory, run and recorded one by one.

:func:`build` opens (or creates) the build's store, hands its pending trainings to one
:class:`~genet_lab.bench.worker.Trainer` in this process (``workers=1``) or to a
:class:`~genet_lab.bench.worker.WorkerPool`, in chunks (one training for ``loop``, a fixed
group of one seed for ``batched``), and records each chunk's results as they arrive in one
transaction. Killed at any moment, a rerun continues from the store. :func:`projected_cost` says
what a build will cost before it starts. Progress goes to a callback; wording it is a front end's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genet_lab.bench.settings import BenchSettings
from genet_lab.bench.store import BenchStore
from genet_lab.bench.structures import count_structures
from genet_lab.bench.worker import Job
from genet_lab.errors import ConfigError, UsageError

__all__ = ["EPOCH_SECONDS", "BuildProgress", "build", "chunks", "projected_cost"]

EPOCH_SECONDS = {"digits": 0.26}
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
    if settings.sample is not None:
        structures = min(structures, settings.sample)
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


def chunks(jobs: Sequence[Job], settings: BenchSettings) -> list[list[Job]]:
    """The units of work: one training (loop), or the pending structures ``[g*group, (g+1)*group)``
    of one seed (batched; fixed groups, so a resumed build trains the same groups)."""
    if settings.mode != "batched":
        return [[job] for job in jobs]
    groups: dict[tuple[int, int], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job[1], job[0] // settings.group), []).append(job)
    return list(groups.values())


def build(
    directory: str | Path,
    settings: BenchSettings,
    *,
    workers: int = 1,
    device: str = "auto",
    progress: Callable[[BuildProgress], None] | None = None,
) -> dict[str, int]:
    """Run every pending training of the build in ``directory`` (created with ``settings`` when
    new; a stored build with other settings is refused); returns the store's counts at the end."""
    if workers < 1:
        raise ConfigError("workers", workers, accepted=">= 1", what="workers")
    store, _ = BenchStore.open_or_create(directory, settings)
    try:
        counts = store.counts()
        state = BuildProgress(counts["done"], sum(counts.values()), 0, 0.0)
        work = chunks(store.pending(), store.settings)
        start = time.perf_counter()

        def record(results: list[tuple[int, int, dict[str, Any]]]) -> None:
            new = store.record(results)
            state.done += new
            state.session_done += new
            state.last = results[-1]
            state.elapsed = time.perf_counter() - start
            if progress is not None:
                progress(state)

        if work and workers == 1:
            _run_here(store, work, device, record)
        elif work:
            _run_pool(store, work, workers, device, record)
        return store.counts()
    finally:
        store.close()


Record = Callable[[list[tuple[int, int, dict[str, Any]]]], None]


def _run_here(store: BenchStore, work: list[list[Job]], device: str, record: Record) -> None:
    from genet_lab.bench.worker import Trainer

    trainer = Trainer(store.settings, device)
    for chunk in work:
        store.mark_running([(sid, seed) for sid, seed, _ in chunk])
        record(trainer.train(chunk))


def _run_pool(store: BenchStore, work: list[list[Job]], workers: int, device: str, record: Record) -> None:
    from genet_lab.bench.worker import WorkerPool

    pool = WorkerPool(store.settings, workers, device)
    todo = list(reversed(work))
    running: set[Future] = set()
    try:
        while todo or running:
            while todo and len(running) < 2 * workers:
                chunk = todo.pop()
                store.mark_running([(sid, seed) for sid, seed, _ in chunk])
                running.add(pool.submit(chunk))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    results = fut.result()
                except BrokenProcessPool:
                    raise UsageError(
                        "a worker process died (killed, or out of memory); every recorded training is kept: "
                        "rerun the same command to resume (with fewer workers if memory ran out)"
                    ) from None
                record(results)
    finally:
        pool.shutdown()
