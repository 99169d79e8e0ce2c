"""The one seam between the engine and evaluation: an :class:`Executor` maps a generation's jobs.

The engine hands every job of a generation (a :class:`Job`: key, genome, evaluation seed) to
``executor.map(jobs, on_done, should_stop, on_start=..., on_progress=...)`` (DEAP's
``toolbox.map``): ``on_start(key)`` when a job is handed to an evaluator, ``on_progress(key, p)``
with training progress where the evaluator runs in this process, and ``on_done(key, evaluation)``
exactly once per job, in this (the coordinating) process, as results arrive. The engine writes
each result to the run store, which stays the single writer and the single source of truth.
``map`` returns when every job is delivered, or early, leaving jobs undelivered, when
``should_stop()`` says so; a cancelled evaluation is never delivered (the store resets it and
a resume redoes it).

* :class:`SerialExecutor` (the default): one evaluation after another in this process, with
  progress.
* :class:`ProcessExecutor` (execution option ``workers``; ``devices`` gives one worker per
  device): ``concurrent.futures`` with the spawn start method; each worker builds its fitness
  once (data loaded once per worker) from a picklable factory. A worker that dies (killed, out
  of memory, a crashed driver) loses only its running jobs: they are submitted again to a
  fresh pool, up to ``retries`` times; a delivered job is never run or reported again.
* :class:`BatchedExecutor` (``batched``): the whole list as one population training in this
  process (:meth:`~genet_lab.evolution.fitness.TrainFitness.evaluate_population`).
* :class:`RayExecutor` (``ray``, extra ``genet-lab[ray]``): one Ray task per job.

:func:`make_executor` builds the one a run's execution options ask for. Knows the fitness of
:mod:`genet_lab.evolution.fitness` and nothing of the store or the engine. Its errors name
config fields and execution options (``workers``, ``devices``, ``ray``, ``batched``), never a
command-line flag.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, runtime_checkable

from genet_lab.encoding.genome import Genome
from genet_lab.errors import ConfigError
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.fitness import (
    Evaluation,
    Fitness,
    Job,
    OnDone,
    StopCheck,
    TrainFitness,
    make_fitness,
)
from genet_lab.processes import exit_with_parent

__all__ = [
    "EXECUTION_OPTIONS",
    "BatchedExecutor",
    "Executor",
    "Job",
    "LostWorkers",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "exit_with_parent",
    "fitness_from_search",
    "make_executor",
    "parse_devices",
]

FitnessFactory = Callable[..., Fitness]
"""A picklable callable that builds a fitness in a worker (called with ``args``, then the device)."""
OnStart = Callable[[Any], None]
"""Called with a job's key when the job is handed to an evaluator."""
OnProgress = Callable[[Any, Any], None]
"""Called with (job key, :class:`~genet_lab.training.config.TrainProgress`) during a training."""
EXECUTION_OPTIONS = ("workers", "devices", "ray", "batched")
"""How a run may be evaluated (one at a time; none: serially). Not stored with the run."""


@runtime_checkable
class Executor(Protocol):
    """Evaluates jobs: see the module docstring for what ``map`` promises."""

    def map(
        self,
        jobs: Sequence[Job],
        on_done: OnDone,
        should_stop: StopCheck | None = None,
        on_start: OnStart | None = None,
        on_progress: OnProgress | None = None,
    ) -> None: ...


class LostWorkers(RuntimeError):
    """Workers kept dying: the jobs named here have no result after every retry."""


def _stop(should_stop: StopCheck | None) -> bool:
    return should_stop is not None and should_stop()


def parse_devices(text: str) -> list[str]:
    """``cuda:0,cuda:1`` -> ['cuda:0', 'cuda:1'] (cpu, cuda, cuda:N, mps accepted)."""
    from genet_lab.training.config import parse_device

    devices = [d.strip() for d in str(text).split(",") if d.strip()]
    if not devices:
        raise ConfigError(
            "devices", text, template="{option} needs a comma-separated list like cuda:0,cuda:1; got {value!r}"
        )
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


def _run_job(genome: Genome, seed: int) -> Evaluation:
    fitness: Fitness = _WORKER["fitness"]
    return fitness.evaluate(genome, seed)


# -- executors -----------------------------------------------------------------------------------------


class SerialExecutor:
    """One evaluation after another in this process, with progress (the default, and the
    reference the others are tested against)."""

    def __init__(self, fitness: Fitness):
        self.fitness = fitness

    def map(
        self,
        jobs: Sequence[Job],
        on_done: OnDone,
        should_stop: StopCheck | None = None,
        on_start: OnStart | None = None,
        on_progress: OnProgress | None = None,
    ) -> None:
        for job in jobs:
            if _stop(should_stop):
                return
            if on_start is not None:
                on_start(job.key)
            progress = None if on_progress is None else (lambda p, key=job.key: on_progress(key, p))
            result = self.fitness.evaluate(job.genome, job.seed, progress=progress, should_stop=should_stop)
            if result.error == "cancelled":
                return
            on_done(job.key, result)


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
            raise ConfigError("workers", workers, template="{option} must be at least 1, got {value}")
        self.factory, self.args, self.workers = factory, tuple(args), int(workers)
        self.devices = list(devices) if devices else None
        self.retries = int(retries)
        self.restarts = 0

    def _pool(self, ctx: Any) -> ProcessPoolExecutor:
        import os

        queue = None
        if self.devices:
            queue = ctx.Queue()
            for d in self.devices:
                queue.put(d)
        return ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.factory, self.args, queue, os.getpid()),
        )

    def map(
        self,
        jobs: Sequence[Job],
        on_done: OnDone,
        should_stop: StopCheck | None = None,
        on_start: OnStart | None = None,
        on_progress: OnProgress | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        pending = {job.key: job for job in jobs}
        if on_start is not None:
            for key in pending:
                on_start(key)
        attempts = 0
        while pending:
            pool = self._pool(ctx)
            try:
                futures = {pool.submit(_run_job, j.genome, j.seed): key for key, j in pending.items()}
                while futures:
                    done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    if _stop(should_stop):
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


class BatchedExecutor:
    """Every job as one population training in this process (the train fitness only)."""

    def __init__(self, fitness: Fitness, mode: str = "auto"):
        if not isinstance(fitness, TrainFitness):
            raise ConfigError(
                "batched", template="{option} evaluation needs the train fitness ({fitness} train)", also=("fitness",)
            )
        self.fitness: TrainFitness = fitness
        self.mode = mode

    def map(
        self,
        jobs: Sequence[Job],
        on_done: OnDone,
        should_stop: StopCheck | None = None,
        on_start: OnStart | None = None,
        on_progress: OnProgress | None = None,
    ) -> None:
        if on_start is not None:
            for job in jobs:
                on_start(job.key)
        results = self.fitness.evaluate_population(jobs, should_stop=should_stop, mode=self.mode)
        for job, result in zip(jobs, results):
            if result.error == "cancelled":
                return
            on_done(job.key, result)


def _literal(text: object) -> str:
    """``text`` for a ConfigError template: braces doubled, so it is printed as it is."""
    return " ".join(str(text).split())[:200].replace("{", "{{").replace("}", "}}")


_NO_CLUSTER = "cannot reach a Ray cluster at {value} (%s); start one with 'ray start --head' or use {option} local"


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
            raise ConfigError(
                "ray", address, template="{option} needs Ray: pip install 'genet-lab[ray]' (or pip install ray)"
            ) from None
        self.factory, self.args, self.address = factory, tuple(args), address
        self.num_gpus, self.retries, self.init_kwargs = num_gpus, retries, dict(init_kwargs or {})

    def connect(self) -> None:
        """Join (or, for 'local', start) the Ray cluster; a cluster that cannot be reached is a
        one-line :class:`ConfigError` on ``ray``. Called before a run directory is made, so
        nothing is left behind."""
        import ray

        if ray.is_initialized():
            return
        self._check_reachable()
        try:
            ray.init(address=None if self.address == "local" else self.address, **self.init_kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError("ray", self.address, template=_NO_CLUSTER % _literal(exc)) from None

    def gpus_for(self, device: str) -> float:
        """GPUs each task asks for to train on ``device``, on the connected cluster
        (:func:`genet_lab.training.devices.gpus_per_task`: auto takes one where the cluster has any)."""
        import ray

        from genet_lab.training.devices import gpus_per_task

        return gpus_per_task(device, float(ray.cluster_resources().get("GPU", 0)))

    def _check_reachable(self, timeout: float = 5.0) -> None:
        """ray.init retries an unreachable head for ever: try its port first."""
        import socket

        if self.address in ("local", "auto") or "://" in self.address:
            return
        host, sep, port = self.address.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ConfigError(
                "ray",
                self.address,
                template="{option} takes HOST:PORT (e.g. 10.0.0.5:6379), 'auto' or 'local'; got {value!r}",
            )
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except OSError as exc:
            raise ConfigError("ray", self.address, template=_NO_CLUSTER % _literal(exc.strerror or exc)) from None

    def map(
        self,
        jobs: Sequence[Job],
        on_done: OnDone,
        should_stop: StopCheck | None = None,
        on_start: OnStart | None = None,
        on_progress: OnProgress | None = None,
    ) -> None:
        import ray

        self.connect()
        factory, args = self.factory, self.args

        @ray.remote(num_gpus=self.num_gpus, max_retries=self.retries)
        def evaluate(genome: Genome, seed: int) -> Evaluation:
            return factory(*args).evaluate(genome, seed)

        if on_start is not None:
            for j in jobs:
                on_start(j.key)
        refs = {evaluate.remote(j.genome, j.seed): j.key for j in jobs}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            if _stop(should_stop):
                for ref in refs:
                    ray.cancel(ref)
                return
            for ref in done:
                on_done(refs.pop(ref), ray.get(ref))


def make_executor(fitness: Fitness, config: SearchConfig, execution: Mapping[str, Any] | None = None) -> Executor:
    """The executor ``execution`` asks for (:data:`EXECUTION_OPTIONS`, at most one set:
    ``workers`` N, ``devices`` "cuda:0,cuda:1", ``ray`` ADDRESS, ``batched`` off, on or auto);
    :class:`SerialExecutor` over ``fitness`` when it asks for none. Workers and Ray tasks build
    their own fitness from ``config``."""
    options = dict(execution or {})
    for name in options:
        if name not in EXECUTION_OPTIONS:
            raise ConfigError(
                name, accepted=EXECUTION_OPTIONS, template="unknown execution option {option}; accepted: {accepted}"
            )
    workers, devices, ray = options.get("workers") or 0, options.get("devices"), options.get("ray")
    batched = options.get("batched") or "off"
    if batched not in ("off", "on", "auto"):
        raise ConfigError("batched", batched, template="{option} must be off, on or auto; got {value!r}")
    chosen = [name for name, on in zip(EXECUTION_OPTIONS, (workers, devices, ray, batched != "off")) if on]
    if len(chosen) > 1:
        got = " and ".join("{" + name + "}" for name in chosen)
        raise ConfigError(
            chosen[-1],
            template="choose one of {workers}, {devices}, {ray} and {batched}; got " + got,
            also=EXECUTION_OPTIONS,
        )
    spec = config.to_dict()
    if ray:
        on_ray = RayExecutor(fitness_from_search, (spec,), address=ray)
        on_ray.connect()
        on_ray.num_gpus = on_ray.gpus_for(str(spec["train"].get("device", "auto")))
        return on_ray
    if devices:
        names = parse_devices(devices)
        if any(d.startswith(("cuda", "mps")) for d in names):  # a worker on a device this machine lacks
            from genet_lab.training.devices import check_devices

            check_devices(names)
        return ProcessExecutor(fitness_from_search, (spec,), devices=names)
    if workers:
        return ProcessExecutor(fitness_from_search, (spec,), workers=int(workers))
    if batched != "off":
        return BatchedExecutor(fitness, mode="batched" if batched == "on" else "auto")
    return SerialExecutor(fitness)
