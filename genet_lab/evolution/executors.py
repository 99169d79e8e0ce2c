"""Evaluating many individuals at once: worker processes, one worker per device, or in-process batches.

An executor takes a list of :class:`Job` (a key such as (generation, index), the genome and its
evaluation seed) and calls ``on_done(key, evaluation)`` once per job as results arrive, in the
coordinating process: the caller (the evolution engine) writes each result to the run store,
which stays the single writer and the single source of truth. A worker that dies (killed,
out of memory, a crashed driver) loses only its running jobs: they are submitted again to a
fresh pool, up to ``retries`` times; a job whose result was delivered is never run or
reported again, so nothing is counted twice. A crash of the coordinating process itself is
the run store's business: evaluations left ``running`` are reset and redone on resume.

* :class:`ProcessExecutor` (``--workers N``; ``--devices cuda:0,cuda:1`` gives one worker per
  device): ``concurrent.futures`` with the spawn start method; each worker builds its fitness
  once (data loaded once per worker) from a picklable factory.
* :class:`BatchedExecutor`: the whole list as one population training in this process
  (:meth:`~genet_lab.evolution.fitness.TrainFitness.evaluate_population`: batched or a loop,
  whichever its probe measured faster).
* :class:`RayExecutor` (``--ray ADDRESS``, extra ``genet-lab[ray]``): one Ray task per job.

Knows the fitness protocols of :mod:`genet_lab.evolution.fitness` and nothing of the store or
the engine.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.errors import UsageError
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.fitness import (
    Evaluation,
    Fitness,
    Job,
    OnDone,
    PopulationFitness,
    Progress,
    StopCheck,
    make_fitness,
)

FitnessFactory = Callable[..., Fitness]
"""A picklable callable that builds a fitness in a worker (called with ``args``, then the device)."""


class Executor(Protocol):
    """Runs ``jobs`` and calls ``on_done(key, evaluation)`` once per job as results arrive."""

    def run(self, jobs: Sequence[Job], on_done: OnDone, should_stop: StopCheck | None = None) -> None: ...


class LostWorkers(RuntimeError):
    """Workers kept dying: the jobs named here have no result after every retry."""


def parse_devices(text: str) -> list[str]:
    """``cuda:0,cuda:1`` -> ['cuda:0', 'cuda:1'] (cpu, cuda, cuda:N, mps accepted)."""
    from genet_lab.training.devices import parse_device

    devices = [d.strip() for d in str(text).split(",") if d.strip()]
    if not devices:
        raise UsageError(f"--devices needs a comma-separated list like cuda:0,cuda:1; got {text!r}")
    return [parse_device(d) for d in devices]


def fitness_from_search(config: Mapping[str, Any], device: str | None = None) -> Fitness:
    """Picklable factory: the fitness the :class:`~genet_lab.evolution.config.SearchConfig` dict
    ``config`` describes, trained on ``device`` when given."""
    search = SearchConfig.from_dict(config)
    if device is not None:
        search = search.with_overrides(train={**search.train.to_dict(), "device": device})
    return make_fitness(search)


# -- worker side --------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(factory: FitnessFactory, args: tuple[Any, ...], devices: Any, parent: int | None = None) -> None:
    if parent is not None:
        exit_with_parent(parent)
    device = devices.get() if devices is not None else None
    _WORKER["fitness"] = factory(*args, device) if devices is not None else factory(*args)
    _WORKER["device"] = device


def exit_with_parent(parent: int, poll: float = 1.0) -> None:
    """Make this worker process end when the coordinating process ``parent`` dies, even by kill -9
    (a worker left behind would hold its memory, up to a GB of data, for ever).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, so the kernel signals the worker at once. Everywhere:
    a daemon thread that checks every ``poll`` seconds whether the parent pid changed (the worker
    was re-parented) and exits the process. The parent may have died before either was in place:
    that is checked once the signal is armed."""
    import os
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="genet-lab-parent-watchdog", daemon=True).start()


def _run_job(genome: Genome, seed: int) -> Evaluation:
    fitness: Fitness = _WORKER["fitness"]
    return fitness.evaluate(genome, seed)


# -- executors -----------------------------------------------------------------------------------------


class ProcessExecutor:
    """``workers`` processes (or one per entry of ``devices``), each with its own fitness."""

    def __init__(
        self,
        factory: FitnessFactory,
        args: tuple[Any, ...] = (),
        workers: int = 2,
        devices: Sequence[str] | None = None,
        retries: int = 2,
    ):
        if devices:
            workers = len(devices)
        if workers < 1:
            raise UsageError(f"--workers must be at least 1, got {workers}")
        self.factory, self.args, self.workers = factory, tuple(args), int(workers)
        self.devices = list(devices) if devices else None
        self.retries = int(retries)
        self.restarts = 0

    def _pool(self, ctx: Any) -> ProcessPoolExecutor:
        queue = None
        if self.devices:
            queue = ctx.Queue()
            for d in self.devices:
                queue.put(d)
        import os

        return ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.factory, self.args, queue, os.getpid()),
        )

    def run(self, jobs: Sequence[Job], on_done: OnDone, should_stop: StopCheck | None = None) -> None:
        ctx = mp.get_context("spawn")
        pending = {job.key: job for job in jobs}
        attempts = 0
        while pending:
            pool = self._pool(ctx)
            try:
                futures = {pool.submit(_run_job, j.genome, j.seed): key for key, j in pending.items()}
                while futures:
                    done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    if should_stop is not None and should_stop():
                        for f in futures:
                            f.cancel()
                        return
                    for f in done:
                        key = futures.pop(f)
                        try:
                            result = f.result()
                        except BrokenProcessPool:
                            continue  # stays pending: retried in a fresh pool below
                        pending.pop(key, None)
                        on_done(key, result)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            if pending:
                attempts += 1
                self.restarts += 1
                if attempts > self.retries:
                    raise LostWorkers(f"workers died {attempts} times; no result for {sorted(map(str, pending))}")


class SerialExecutor:
    """One evaluation after another in this process (the reference the others are tested against)."""

    def __init__(self, fitness: Fitness):
        self.fitness = fitness

    def run(self, jobs: Sequence[Job], on_done: OnDone, should_stop: StopCheck | None = None) -> None:
        for job in jobs:
            if should_stop is not None and should_stop():
                return
            on_done(job.key, self.fitness.evaluate(job.genome, job.seed, should_stop=should_stop))


class BatchedExecutor:
    """Every job as one population training (:meth:`PopulationFitness.evaluate_population`: the
    train fitness only)."""

    def __init__(self, fitness: Fitness, mode: str = "auto"):
        if not isinstance(fitness, PopulationFitness):
            raise UsageError("batched evaluation needs the train fitness (--fitness train)")
        self.fitness: PopulationFitness = fitness
        self.mode = mode

    def run(self, jobs: Sequence[Job], on_done: OnDone, should_stop: StopCheck | None = None) -> None:
        results = self.fitness.evaluate_population(jobs, should_stop=should_stop, mode=self.mode)
        for job, result in zip(jobs, results):
            if result.error == "cancelled":
                return
            on_done(job.key, result)


class RayExecutor:
    """One Ray task per job on the cluster at ``address`` ('local' starts one here).

    Ray retries a task whose worker died (``max_retries``); results are reported as they come.
    """

    def __init__(
        self,
        factory: FitnessFactory,
        args: tuple[Any, ...] = (),
        address: str = "auto",
        num_gpus: float = 0.0,
        retries: int = 2,
        init_kwargs: dict[str, Any] | None = None,
    ):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--ray needs Ray: pip install 'genet-lab[ray]' (or pip install ray)") from None
        self.factory, self.args, self.address = factory, tuple(args), address
        self.num_gpus, self.retries, self.init_kwargs = num_gpus, retries, dict(init_kwargs or {})

    def connect(self) -> None:
        """Join (or, for 'local', start) the Ray cluster; a cluster that cannot be reached is a
        one-line usage error. Called before a run directory is made, so nothing is left behind."""
        import ray

        if ray.is_initialized():
            return
        self._check_reachable()
        try:
            ray.init(address=None if self.address == "local" else self.address, **self.init_kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(
                f"cannot reach a Ray cluster at {self.address!r} ({' '.join(str(exc).split())[:200]}); "
                "start one with 'ray start --head' or use --ray local"
            ) from None

    def _check_reachable(self, timeout: float = 5.0) -> None:
        """ray.init retries an unreachable head for ever: try its port first."""
        import socket

        if self.address in ("local", "auto") or "://" in self.address:
            return
        host, sep, port = self.address.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise UsageError(f"--ray takes HOST:PORT (e.g. 10.0.0.5:6379), 'auto' or 'local'; got {self.address!r}")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except OSError as exc:
            raise UsageError(
                f"cannot reach a Ray cluster at {self.address} ({exc.strerror or exc}); "
                "start one with 'ray start --head' or use --ray local"
            ) from None

    def run(self, jobs: Sequence[Job], on_done: OnDone, should_stop: StopCheck | None = None) -> None:
        import ray

        self.connect()
        factory, args = self.factory, self.args

        @ray.remote(num_gpus=self.num_gpus, max_retries=self.retries)
        def evaluate(genome: Genome, seed: int) -> Evaluation:
            return factory(*args).evaluate(genome, seed)

        refs = {evaluate.remote(j.genome, j.seed): j.key for j in jobs}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            if should_stop is not None and should_stop():
                for ref in refs:
                    ray.cancel(ref)
                return
            for ref in done:
                on_done(refs.pop(ref), ray.get(ref))


class ExecutorFitness:
    """A :class:`~genet_lab.evolution.fitness.BatchFitness` whose ``evaluate_many`` hands a
    generation's jobs to ``executor``.

    ``name``, ``unit``, ``net_config`` and single ``evaluate`` calls are the wrapped fitness's,
    so it can be given wherever a fitness is (``start_run(..., fitness=...)``).
    """

    def __init__(self, fitness: Fitness, executor: Executor):
        self.fitness, self.executor = fitness, executor

    @property
    def name(self) -> str:
        return self.fitness.name

    @property
    def unit(self) -> str:
        return self.fitness.unit

    @property
    def net_config(self) -> NetworkConfig:
        return self.fitness.net_config

    def evaluate(
        self, genome: Genome, seed: int, progress: Progress | None = None, should_stop: StopCheck | None = None
    ) -> Evaluation:
        return self.fitness.evaluate(genome, seed, progress=progress, should_stop=should_stop)

    def evaluate_many(self, jobs: Sequence[Job], on_done: OnDone, should_stop: StopCheck | None = None) -> None:
        self.executor.run(jobs, on_done, should_stop)


def make_executor(
    fitness: Fitness,
    search_config: Mapping[str, Any],
    workers: int = 0,
    devices: str | None = None,
    ray: str | None = None,
    batched: str = "off",
) -> Executor | None:
    """The executor the CLI options ask for, or None for the engine's own serial loop.

    ``batched``: off, on (always batched groups) or auto (batched or loop, by the probe).
    """
    chosen = [
        name
        for name, on in (
            ("--workers", workers),
            ("--devices", devices),
            ("--ray", ray),
            ("--batched", batched != "off"),
        )
        if on
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one of --workers, --devices, --ray and --batched; got {' and '.join(chosen)}")
    if batched not in ("off", "on", "auto"):
        raise UsageError(f"--batched must be off, on or auto; got {batched!r}")
    if ray:
        cuda = str((search_config.get("train") or {}).get("device", "auto")).startswith("cuda")
        on_ray = RayExecutor(fitness_from_search, (search_config,), address=ray, num_gpus=1.0 if cuda else 0.0)
        on_ray.connect()
        return on_ray
    if devices:
        return ProcessExecutor(fitness_from_search, (search_config,), devices=parse_devices(devices))
    if workers:
        return ProcessExecutor(fitness_from_search, (search_config,), workers=workers)
    if batched != "off":
        return BatchedExecutor(fitness, mode="batched" if batched == "on" else "auto")
    return None
