"""The genetic process of Algorithm 1, driven through the run store so it can be killed and resumed.

One loop, one generation at a time:

1. breed generation t with the strategy of the run's kind (:mod:`.strategies`: the paper's
   selection, crossover and mutation from generation t-1; random, aging or local search, which
   observe every finished generation) with the RNG restored from
   the state stored after generation t-1 was bred, and store the individuals,
   one pending evaluation each and the new RNG state in one transaction;
2. hand every pending individual to the executor (one ``map`` over the generation's jobs:
   serial by default; worker processes, GPUs, Ray or population batching behind the same
   call, see :mod:`.executors`), committing each result as it arrives;
3. compute each individual's fitness (the averaging rule of :mod:`.stats`) and the
   generation's Table 1 statistics.

Because every step starts from what is stored, a process killed at any
moment resumes at the first unfinished evaluation, and the run ends exactly
as an uninterrupted one would (for a deterministic fitness: each evaluation
has its own seed, derived from the run seed, the generation and the index).

Fitness used by selection (the paper: "the average accuracy over all its
occurrences"): when generation t is finished, an individual's fitness is the
mean of every finished evaluation of the same bit string in generations
0..t, duplicates within generation t included (:class:`.stats.Occurrences`), put through the run's
``objective`` (accuracy itself unless a size penalty was asked for). With ``reuse_structures`` an
individual whose structure (canonical key) was already evaluated is not
trained; it takes the mean over the trained evaluations of that structure.
Generation 0 is :func:`.population.initial_population`. Knows numpy, the operators, the store
and the executor interface; torch only through the fitness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import decode_stage
from genet_lab.evolution import events as ev
from genet_lab.evolution import operators as ops
from genet_lab.evolution.config import SearchConfig, apply_objective, extend
from genet_lab.evolution.executors import Executor, SerialExecutor
from genet_lab.evolution.fitness import Evaluation, Fitness, Job
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.evolution.records import Individual, RunStatus
from genet_lab.evolution.stats import Occurrences, finished, table1_stats
from genet_lab.evolution.store import RunStore
from genet_lab.evolution.strategies import Breeding, Strategy, make_strategy

__all__ = ["Engine", "SearchConfig", "StopRequested", "evaluation_seed", "extend"]

Listener = Callable[[Any], None]
"""Called with every event of :mod:`genet_lab.evolution.events`."""


def evaluation_seed(seed: int, gen: int, index: int) -> int:
    """The seed of one evaluation: independent streams per (run seed, generation, index)."""
    return int(np.random.SeedSequence([int(seed), int(gen), int(index)]).generate_state(1)[0])


class Engine:
    """Runs (or resumes) the search stored in ``store`` with ``fitness``.

    ``listeners`` are called with every event (see :mod:`.events`);
    ``should_stop()`` returning True ends the run cleanly after the current
    evaluation (the next resume carries on). ``executor`` evaluates each generation's jobs
    (:class:`~.executors.SerialExecutor` over ``fitness`` when not given); ``fitness`` also
    names the network whose parameters and multiply-adds are stored.
    """

    def __init__(
        self,
        store: RunStore,
        config: SearchConfig,
        fitness: Fitness,
        listeners: Iterable[Listener] = (),
        should_stop: Callable[[], bool] | None = None,
        executor: Executor | None = None,
    ):
        self.store, self.config, self.fitness = store, config.validated(), fitness
        self.executor: Executor = executor or SerialExecutor(fitness)
        self._occurrences, self._history_upto = Occurrences(), -2
        self.listeners = list(listeners)
        self.should_stop: Callable[[], bool] = should_stop or (lambda: False)
        self.bounds = ops.stage_bounds(config.stages)
        self._cache: dict[str, dict[str, Any]] = {}
        self._stage_cache: dict[tuple[int, tuple[int, ...]], tuple[str, int, int]] = {}
        self._cx_cache: dict[tuple[tuple[int, int], ...], Any] = {}
        self.evaluations = self.reused = 0

    # -- plumbing ----------------------------------------------------------------------
    def _emit(self, event: object, persist: bool = True) -> None:
        if persist:
            self.store.add_event(event)
        self._notify(event)

    def _notify(self, event: object) -> None:
        for fn in self.listeners:
            fn(event)

    def _stage(self, k: int, bits: tuple[int, ...]) -> tuple[str, int, int]:
        """(canonical form, convolutions, depth) of one stage, cached: stages repeat far more than genomes."""
        hit = self._stage_cache.get((k, bits))
        if hit is None:
            st = decode_stage(k, bits)
            hit = self._stage_cache[(k, bits)] = (st.canonical, st.num_convs, st.depth)
        return hit

    def _describe(self, bits: np.ndarray) -> dict[str, Any]:
        key = "".join(map(str, bits.tolist()))
        info = self._cache.get(key)
        if info is None:
            g = Genome(self.config.stages, tuple(int(b) for b in bits))
            stages = [self._stage(k, b) for k, b in g.iter_stages()]
            # Same format as graph.structure_key (tested). Parameters and multiply-adds depend
            # on each stage's convolution count and depth only, so they are cached on those.
            skey = "|".join(s[0] for s in stages)
            shape = tuple(s[1:] for s in stages)
            cx = self._cx_cache.get(shape)
            if cx is None:
                cx = self._cx_cache[shape] = complexity(g, self.fitness.net_config)
            info = {"genome": g.notation(), "bits": key, "structure_key": skey, "params": cx.params, "macs": cx.macs}
            self._cache[key] = info
        return info

    def _store_generation(self, gen: int, pop: np.ndarray, meta: Sequence[Breeding], rng: np.random.Generator) -> None:
        rows = []
        for i, (row, (op, parents, changed)) in enumerate(zip(pop, meta)):
            rows.append(
                {
                    **self._describe(row),
                    "op": op,
                    "parents": [int(p) for p in parents],
                    "changed": bool(changed),
                    "seed": evaluation_seed(self.config.seed, gen, i),
                }
            )
        event = ev.GenerationStarted(gen, len(rows))
        self.store.add_generation(gen, rows, rng.bit_generator.state, event)
        self._notify(event)

    # -- breeding ----------------------------------------------------------------------
    def _strategy(self, upto: int) -> Strategy:
        """The strategy of ``config.kind`` (:mod:`.strategies`) having observed generations 0..upto-1
        (rebuilt from the store on a resume: observing draws nothing)."""
        strategy = make_strategy(self.config)
        by_gen: dict[int, list[Individual]] = {}
        for r in self.store.individuals() if upto > 0 else ():
            if r.gen < upto:
                by_gen.setdefault(r.gen, []).append(r)
        for gen in sorted(by_gen):
            self._observe(strategy, gen, by_gen[gen])
        return strategy

    def _observe(self, strategy: Strategy, gen: int, rows: Sequence[Individual]) -> None:
        pop = np.array([[int(ch) for ch in r.bits] for r in rows], dtype=np.uint8)
        strategy.observe(gen, pop, [_selected_fitness(r) for r in rows])

    # -- evaluation --------------------------------------------------------------------
    def _genome(self, ind: Individual) -> Genome:
        return Genome(self.config.stages, tuple(int(ch) for ch in ind.bits))

    def _history(self, gen: int) -> Occurrences:
        """The trained evaluations of generations before ``gen`` (kept from one generation to the next)."""
        if self._history_upto != gen - 1:
            by = "structure_key" if self.config.reuse_structures else "bits"
            self._occurrences = Occurrences(by).add(r for r in self.store.individuals() if r.gen < gen)
            self._history_upto = gen - 1
        return self._occurrences

    def _record(self, ind: Individual, result: Evaluation, done: int, total: int) -> None:
        """Store one trained evaluation and tell the listeners."""
        state = "failed" if result.failed else "done"
        event = ev.IndividualEvaluated(
            ind.gen, ind.index, ind.genome, result.accuracy, state, False, result.seconds, done, total
        )
        self.store.finish_evaluation(
            ind.gen,
            ind.index,
            accuracy=result.accuracy,
            loss=result.loss,
            seconds=result.seconds,
            device=result.device,
            failed=result.failed,
            error=result.error,
            test_accuracy=result.test_accuracy,
            event=event,
        )
        self.evaluations += 1
        self._notify(event)

    def _reuse(self, ind: Individual, accuracy: float, done: int, total: int) -> None:
        """Store a copy of an evaluated structure's averaged accuracy (``reuse_structures``)."""
        event = ev.IndividualEvaluated(ind.gen, ind.index, ind.genome, accuracy, "done", True, 0.0, done, total)
        self.store.finish_evaluation(
            ind.gen, ind.index, accuracy=accuracy, loss=None, seconds=0.0, device="", reused=True, event=event
        )
        self.reused += 1
        self._notify(event)

    def _evaluate_generation(self, gen: int) -> None:
        """Evaluate every individual of ``gen`` without a result, through the executor.

        Every such individual is one job, in index order; with ``reuse_structures`` only the
        first occurrence of a structure not yet evaluated is, and the others copy its result
        (a structure evaluated before is copied at once). Results are stored as they arrive;
        a job the executor leaves undelivered (asked to stop) stays for the resume."""
        rows = self.store.individuals(gen)
        total, done = len(rows), sum(finished(r) for r in rows)
        seen = self._history(gen).copy().add(rows) if self.config.reuse_structures else None
        jobs: list[Job] = []
        copies: dict[str, list[Individual]] = {}  # a structure in jobs -> its other occurrences
        for r in rows:
            if finished(r):
                continue
            if seen is not None:
                key = seen.key(r)
                if key in seen:
                    done += 1
                    self._reuse(r, seen.mean_of(key), done, total)
                    continue
                if key in copies:
                    copies[key].append(r)
                    continue
                copies[key] = []
            jobs.append(Job(r.index, self._genome(r), r.seed))
        by_index, delivered = {r.index: r for r in rows}, set()

        def on_start(index: Any) -> None:
            self.store.start_evaluation(gen, index)

        def on_progress(index: Any, p: Any) -> None:
            self._notify(ev.EvaluationProgress(gen, index, p.epoch, p.epochs, p.step, p.steps, p.loss))

        def on_done(index: Any, result: Evaluation) -> None:
            nonlocal done
            if result.error == "cancelled":
                return  # left running: reset and redone on resume
            delivered.add(index)
            done += 1
            self._record(by_index[index], result, done, total)
            if seen is not None:
                key = seen.key(by_index[index])
                seen.add_value(key, result.accuracy)
                for copy in copies.pop(key, []):
                    done += 1
                    self._reuse(copy, seen.mean_of(key), done, total)

        if jobs:
            self.executor.map(jobs, on_done, self.should_stop, on_start=on_start, on_progress=on_progress)
        if len(delivered) < len(jobs):
            raise StopRequested()

    def _finish_generation(self, gen: int) -> list[Individual]:
        rows = self.store.individuals(gen)
        seen = self._history(gen).add(rows)
        self._history_upto = gen
        # Selection sees only the objective of the averaged validation accuracy; a test accuracy
        # stored beside an evaluation never reaches this line.
        fitness = [apply_objective(self.config.objective, seen.mean_of(seen.key(r)), r.params, r.macs) for r in rows]
        stats = table1_stats(fitness, [r.genome for r in rows])
        stats["evaluations"] = sum(not r.reused for r in rows)
        stats["reused"] = sum(r.reused for r in rows)
        event = ev.GenerationFinished(
            gen, stats["max"], stats["min"], stats["mean"], stats["median"], stats["std"], stats["best"]
        )
        self.store.finish_generation(gen, fitness, stats, event)
        self._notify(event)
        return [replace(r, fitness=f) for r, f in zip(rows, fitness)]

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> RunStatus:
        """Run to generation T (or until ``should_stop``); returns :meth:`RunStore.status`."""
        c = self.config
        gens = self.store.generations(finished_only=False)
        resumed = bool(gens)
        if resumed:
            self.store.reset_running()
        self._emit(ev.RunStarted(c.kind, c.population, c.generations, resumed))
        try:
            if not gens:
                rng = initial_rng(c)
                pop = ops.from_genomes(initial_population(c, rng))
                op = "random" if c.kind == "random" else "init"
                self._store_generation(0, pop, [(op, [], False)] * len(pop), rng)
                gen = 0
            else:
                gen = gens[-1].gen
            strategy = self._strategy(gen)
            while True:
                self._evaluate_generation(gen)
                finished = self.store.generations()
                if finished and finished[-1].gen == gen:
                    rows = self.store.individuals(gen)
                else:
                    rows = self._finish_generation(gen)
                if gen >= c.generations:
                    break
                if self.should_stop():
                    raise StopRequested()
                self._observe(strategy, gen, rows)
                rng = np.random.default_rng()
                rng.bit_generator.state = self.store.rng_state(gen)
                pop, meta = strategy.breed(rng)
                gen += 1
                self._store_generation(gen, pop, meta, rng)
        except StopRequested:
            return self.store.status()
        status = self.store.status()
        trained, reused = self.store.evaluation_counts()
        event = ev.RunFinished(gen + 1, trained, reused, status.best or "", status.best_fitness or 0.0)
        self.store.finish_run(event)
        self._notify(event)
        return self.store.status()


class StopRequested(Exception):
    """Raised inside the loop when ``should_stop()`` says so; the run stays resumable."""


def _selected_fitness(ind: Individual) -> float:
    """The fitness selection uses; every individual of a finished generation has one."""
    if ind.fitness is None:
        raise RuntimeError(f"individual {ind.gen}:{ind.index} has no fitness: its generation is not finished")
    return ind.fitness
