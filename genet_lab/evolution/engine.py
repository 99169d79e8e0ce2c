"""The genetic process of Algorithm 1, driven through the run store so it can be killed and resumed.

One loop, one generation at a time:

1. breed generation t from generation t-1 (selection, crossover, mutation;
   or N fresh random strings for random search) with the RNG restored from
   the state stored after generation t-1 was bred, and store the individuals,
   one pending evaluation each and the new RNG state in one transaction;
2. evaluate every pending individual in index order, committing each result;
3. compute each individual's fitness and the generation's statistics.

Because every step starts from what is stored, a process killed at any
moment resumes at the first unfinished evaluation, and the run ends exactly
as an uninterrupted one would (for a deterministic fitness: each evaluation
has its own seed, derived from the run seed, the generation and the index).

Fitness used by selection (the paper: "the average accuracy over all its
occurrences"): when generation t is finished, an individual's fitness is the
mean of every finished evaluation of the same bit string in generations
0..t, duplicates within generation t included, put through the run's
``objective`` (accuracy itself unless a size penalty was asked for). With ``reuse_structures`` an
individual whose structure (canonical key) was already evaluated is not
trained; it takes the mean over the trained evaluations of that structure.
Knows numpy, the operators and the store; torch only through the fitness.
"""

from __future__ import annotations

import statistics
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
from genet_lab.evolution.fitness import BatchFitness, Evaluation, Fitness, Job
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.evolution.records import Individual, RunStatus
from genet_lab.evolution.store import RunStore

__all__ = ["Engine", "SearchConfig", "StopRequested", "evaluation_seed", "extend", "generation_stats"]

Listener = Callable[[Any], None]
"""Called with every event of :mod:`genet_lab.evolution.events`."""
Breeding = tuple[str, list[int], bool]
"""How an individual was made: (op, parent indices in the previous generation, changed)."""


def evaluation_seed(seed: int, gen: int, index: int) -> int:
    """The seed of one evaluation: independent streams per (run seed, generation, index)."""
    return int(np.random.SeedSequence([int(seed), int(gen), int(index)]).generate_state(1)[0])


def generation_stats(fitness: Sequence[float], genomes: Sequence[str]) -> dict[str, Any]:
    """Table 1's columns for one generation (std is the population std, ddof=0)."""
    best = int(np.argmax(fitness))
    return {
        "max": max(fitness),
        "min": min(fitness),
        "mean": statistics.fmean(fitness),
        "median": statistics.median(fitness),
        "std": statistics.pstdev(fitness),
        "best": genomes[best],
        "best_index": best,
    }


class Engine:
    """Runs (or resumes) the search stored in ``store`` with ``fitness``.

    ``listeners`` are called with every event (see :mod:`.events`);
    ``should_stop()`` returning True ends the run cleanly after the current
    evaluation (the next resume carries on).
    """

    def __init__(
        self,
        store: RunStore,
        config: SearchConfig,
        fitness: Fitness,
        listeners: Iterable[Listener] = (),
        should_stop: Callable[[], bool] | None = None,
    ):
        self.store, self.config, self.fitness = store, config.validated(), fitness
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
    def _breed(self, prev: Sequence[Individual], rng: np.random.Generator) -> tuple[np.ndarray, list[Breeding]]:
        c = self.config
        n = c.population
        if c.kind == "random":
            pop = ops.init_random(n, int(self.bounds[-1]), rng, 0.5)
            return pop, [("random", [], True)] * n
        parents_pop = np.array([[int(ch) for ch in r.bits] for r in prev], dtype=np.uint8)
        sel = ops.select_roulette([_selected_fitness(r) for r in prev], rng, n)
        selected = parents_pop[sel]
        crossed_pop, crossed, partner = ops.crossover_stages(selected, rng, self.bounds, c.pc, c.qc)
        child, mutated = ops.mutate_flip(crossed_pop, rng, c.pm, c.qm, exclude=crossed)
        meta: list[Breeding] = []
        for i in range(n):
            changed = bool(np.any(child[i] != selected[i]))
            if crossed[i]:
                meta.append(("crossover", [int(sel[i]), int(sel[partner[i]])], changed))
            elif mutated[i]:
                meta.append(("mutation", [int(sel[i])], changed))
            else:
                meta.append(("selection", [int(sel[i])], False))
        return child, meta

    # -- evaluation --------------------------------------------------------------------
    def _genome(self, ind: Individual) -> Genome:
        return Genome(self.config.stages, tuple(int(ch) for ch in ind.bits))

    def _key(self, ind: Individual) -> str:
        """What fitness is averaged over: the structure with ``reuse_structures``, else the bits."""
        return ind.structure_key if self.config.reuse_structures else ind.bits

    def _by(self) -> str:
        return "structure_key" if self.config.reuse_structures else "bits"

    def _record(self, ind: Individual, result: Evaluation, done: int, total: int) -> None:
        """Store one trained evaluation and tell the listeners."""
        event = ev.IndividualEvaluated(
            ind.gen,
            ind.index,
            ind.genome,
            result.accuracy,
            "failed" if result.failed else "done",
            False,
            result.seconds,
            done,
            total,
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

    def _evaluate_generation(self, gen: int) -> None:
        if isinstance(self.fitness, BatchFitness):
            self._evaluate_many(gen, self.fitness)  # what it leaves (reused structures) the loop below does
        rows = self.store.individuals(gen)
        total = len(rows)
        done = sum(r.state in ("done", "failed") for r in rows)
        seen = self.store.occurrences(gen, self._by()) if self.config.reuse_structures else {}
        for r in rows:
            if r.state in ("done", "failed"):
                continue
            if self.should_stop():
                raise StopRequested()
            key = self._key(r)
            if self.config.reuse_structures and key in seen:
                acc = statistics.fmean(seen[key])
                done += 1
                event = ev.IndividualEvaluated(gen, r.index, r.genome, acc, "done", True, 0.0, done, total)
                self.store.finish_evaluation(
                    gen, r.index, accuracy=acc, loss=None, seconds=0.0, device="", reused=True, event=event
                )
                self.reused += 1
                self._notify(event)
                continue
            self.store.start_evaluation(gen, r.index)

            def progress(p: Any, _gen: int = gen, _idx: int = r.index) -> None:
                self._notify(ev.EvaluationProgress(_gen, _idx, p.epoch, p.epochs, p.step, p.steps, p.loss))

            result = self.fitness.evaluate(self._genome(r), r.seed, progress=progress, should_stop=self.should_stop)
            if result.error == "cancelled":
                raise StopRequested()
            done += 1
            self._record(r, result, done, total)
            if self.config.reuse_structures:
                seen.setdefault(key, []).append(result.accuracy)

    def _evaluate_many(self, gen: int, fitness: BatchFitness) -> None:
        """Hand every individual that needs training to an executor at once (parallel
        processes, Ray, or one batched model); results are stored as they arrive.

        With ``reuse_structures`` only the first occurrence of each structure is sent; the
        serial loop then reuses its fitness for the others, as it would have.
        """
        rows = self.store.individuals(gen)
        total = len(rows)
        done = sum(r.state in ("done", "failed") for r in rows)
        seen = self.store.occurrences(gen, self._by()) if self.config.reuse_structures else {}
        jobs, queued, by_index = [], set(), {r.index: r for r in rows}
        for r in rows:
            if r.state in ("done", "failed"):
                continue
            key = self._key(r)
            if self.config.reuse_structures and (key in seen or key in queued):
                continue
            queued.add(key)
            self.store.start_evaluation(gen, r.index)
            jobs.append(Job(r.index, self._genome(r), r.seed))
        if not jobs:
            return

        def on_done(index: Any, result: Evaluation) -> None:
            nonlocal done
            if result.error == "cancelled":
                return  # left running: reset and redone on resume
            done += 1
            self._record(by_index[index], result, done, total)

        fitness.evaluate_many(jobs, on_done, self.should_stop)
        if self.should_stop():
            raise StopRequested()

    def _finish_generation(self, gen: int) -> list[Individual]:
        rows = self.store.individuals(gen)
        occ = self.store.occurrences(gen, self._by())
        # Selection sees only the objective of the averaged validation accuracy; a test accuracy
        # stored beside an evaluation never reaches this line.
        fitness = [
            apply_objective(self.config.objective, statistics.fmean(occ[self._key(r)]), r.params, r.macs) for r in rows
        ]
        stats = generation_stats(fitness, [r.genome for r in rows])
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
                rng = np.random.default_rng()
                rng.bit_generator.state = self.store.rng_state(gen)
                pop, meta = self._breed(rows, rng)
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
