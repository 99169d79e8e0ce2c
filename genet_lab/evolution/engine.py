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
0..t, duplicates within generation t included. With ``reuse_structures`` an
individual whose structure (canonical key) was already evaluated is not
trained; it takes the mean over the trained evaluations of that structure.
Knows numpy, the operators and the store; torch only through the fitness.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, Iterable

import numpy as np

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.presets import get_preset
from genet_lab.encoding.genome import NAMED, Genome, named
from genet_lab.encoding.graph import decode_stage
from genet_lab.evolution import events as ev
from genet_lab.evolution import operators as ops
from genet_lab.evolution.store import RunStore


@dataclass(frozen=True)
class SearchConfig:
    """A genetic run (kind "ga") or a random search (kind "random") and its evaluator."""

    kind: str = "ga"
    population: int = 20
    """N, individuals per generation."""
    generations: int = 50
    """T, generations after the initial one (T + 1 evaluated generations)."""
    pm: float = 0.8
    """p_M, probability that an individual outside a crossover is mutated."""
    qm: float = 0.05
    """q_M, probability that a bit of a mutated individual flips."""
    pc: float = 0.2
    """p_C, probability that a pair (1,2), (3,4), ... is crossed."""
    qc: float = 0.2
    """q_C, probability that a stage of a crossed pair is exchanged."""
    stages: tuple[int, ...] = (3, 4, 5)
    init: str = "random"
    """random, zeros, a genome name (chain, residual, dense, wrn, paper-best: base + flips) or file."""
    init_p: float = 0.5
    """Bernoulli probability of a 1 bit for random initialisation."""
    init_flips: int = 2
    """Bits flipped in each copy of a named base genome."""
    init_genomes: tuple[str, ...] = ()
    """The genomes read from an init file (kept here so the run never needs the file again)."""
    fitness: str = "train"
    reuse_structures: bool = False
    seed: int = 0
    preset: str = "paper-cifar10"
    dataset: str = "digits"
    data_dir: str | None = None
    train_size: int | None = None
    """Training images (None: the data set's default)."""
    val_size: int | None = None
    epochs: int = 1
    train: dict = field(default_factory=dict, hash=False, compare=True)
    """Other TrainConfig overrides (batch_size, lr, device, ...)."""

    def validated(self) -> "SearchConfig":
        from genet_lab.evolution.fitness import FITNESS_KINDS

        if self.kind not in ("ga", "random"):
            raise ValueError(f"kind must be 'ga' or 'random', got {self.kind!r}")
        if self.population < 2:
            raise ValueError(f"population must be at least 2 (selection needs a worst and a best), got {self.population}")
        if self.generations < 0:
            raise ValueError(f"generations must be >= 0, got {self.generations}")
        if not 0 <= int(self.seed) < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2^63) (stored as a SQLite integer), got {self.seed!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        for name in ("pm", "qm", "pc", "qc", "init_p"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} is a probability and must be in [0, 1], got {v}")
        if self.fitness not in FITNESS_KINDS:
            raise ValueError(f"unknown fitness {self.fitness!r}; known: {', '.join(FITNESS_KINDS)}")
        ops.stage_bounds(self.stages)
        get_preset(self.preset)
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"] = list(self.stages)
        d["init_genomes"] = list(self.init_genomes)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "SearchConfig":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        kw["stages"] = tuple(kw.get("stages", (3, 4, 5)))
        kw["init_genomes"] = tuple(kw.get("init_genomes", ()))
        return cls(**kw).validated()


def evaluation_seed(seed: int, gen: int, index: int) -> int:
    """The seed of one evaluation: independent streams per (run seed, generation, index)."""
    return int(np.random.SeedSequence([int(seed), int(gen), int(index)]).generate_state(1)[0])


def generation_stats(fitness: list[float], genomes: list[str]) -> dict:
    """Table 1's columns for one generation (std is the population std, ddof=0)."""
    best = int(np.argmax(fitness))
    return {"max": max(fitness), "min": min(fitness), "mean": statistics.fmean(fitness),
            "median": statistics.median(fitness), "std": statistics.pstdev(fitness),
            "best": genomes[best], "best_index": best}


class Engine:
    """Runs (or resumes) the search stored in ``store`` with ``fitness``.

    ``listeners`` are called with every event (see :mod:`.events`);
    ``should_stop()`` returning True ends the run cleanly after the current
    evaluation (the next resume carries on).
    """

    def __init__(self, store: RunStore, config: SearchConfig, fitness, listeners: Iterable[Callable] = (),
                 should_stop: Callable[[], bool] | None = None):
        self.store, self.config, self.fitness = store, config.validated(), fitness
        self.listeners = list(listeners)
        self.should_stop = should_stop or (lambda: False)
        self.bounds = ops.stage_bounds(config.stages)
        self._cache: dict[str, dict] = {}
        self._stage_cache: dict = {}
        self._cx_cache: dict = {}
        self.evaluations = self.reused = 0

    # -- plumbing ----------------------------------------------------------------------
    def _emit(self, event, persist: bool = True) -> None:
        if persist:
            self.store.add_event(event)
        self._notify(event)

    def _notify(self, event) -> None:
        for fn in self.listeners:
            fn(event)

    def _stage(self, k: int, bits: tuple) -> tuple[str, int, int]:
        """(canonical form, convolutions, depth) of one stage, cached: stages repeat far more than genomes."""
        hit = self._stage_cache.get((k, bits))
        if hit is None:
            st = decode_stage(k, bits)
            hit = self._stage_cache[(k, bits)] = (st.canonical, st.num_convs, st.depth)
        return hit

    def _describe(self, bits: np.ndarray) -> dict:
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
            info = {"genome": g.notation(), "bits": key, "structure_key": skey, "params": cx.params,
                    "macs": cx.macs}
            self._cache[key] = info
        return info

    def _store_generation(self, gen: int, pop: np.ndarray, meta: list[tuple[str, list[int], bool]],
                          rng: np.random.Generator) -> None:
        rows = []
        for i, (row, (op, parents, changed)) in enumerate(zip(pop, meta)):
            rows.append({**self._describe(row), "op": op, "parents": [int(p) for p in parents],
                         "changed": bool(changed), "seed": evaluation_seed(self.config.seed, gen, i)})
        event = ev.GenerationStarted(gen, len(rows))
        self.store.add_generation(gen, rows, rng.bit_generator.state, event)
        self._notify(event)

    # -- breeding ----------------------------------------------------------------------
    def _initial(self, rng: np.random.Generator) -> np.ndarray:
        c, n = self.config, self.config.population
        length = int(self.bounds[-1])
        if c.kind == "random" or c.init == "random":
            return ops.init_random(n, length, rng, c.init_p)
        if c.init == "zeros":
            return ops.init_zeros(n, length)
        if c.init in NAMED:
            return ops.init_from_base(named(c.init, c.stages), n, rng, c.init_flips)
        if c.init == "file":
            from genet_lab.encoding.genome import resolve

            return ops.from_genomes([resolve(t, c.stages) for t in c.init_genomes])
        raise ValueError(f"unknown init {c.init!r}; use random, zeros, {', '.join(NAMED)} or a genome file")

    def _breed(self, prev: list[dict], rng: np.random.Generator) -> tuple[np.ndarray, list]:
        c = self.config
        n = c.population
        if c.kind == "random":
            pop = ops.init_random(n, int(self.bounds[-1]), rng, 0.5)
            return pop, [("random", [], True)] * n
        parents_pop = np.array([[int(ch) for ch in r["bits"]] for r in prev], dtype=np.uint8)
        sel = ops.select_roulette([r["fitness"] for r in prev], rng, n)
        selected = parents_pop[sel]
        crossed_pop, crossed, partner = ops.crossover_stages(selected, rng, self.bounds, c.pc, c.qc)
        child, mutated = ops.mutate_flip(crossed_pop, rng, c.pm, c.qm, exclude=crossed)
        meta = []
        for i in range(n):
            changed = bool(np.any(child[i] != selected[i]))
            if crossed[i]:
                meta.append(("crossover", [sel[i], sel[partner[i]]], changed))
            elif mutated[i]:
                meta.append(("mutation", [sel[i]], changed))
            else:
                meta.append(("selection", [sel[i]], False))
        return child, meta

    # -- evaluation --------------------------------------------------------------------
    def _evaluate_generation(self, gen: int) -> None:
        many = getattr(self.fitness, "evaluate_many", None)
        if many is not None:
            self._evaluate_many(gen, many)  # what it leaves (reused structures) the loop below does
        rows = self.store.individuals(gen)
        total = len(rows)
        done = sum(r["state"] in ("done", "failed") for r in rows)
        by = "structure_key" if self.config.reuse_structures else "bits"
        seen = self.store.occurrences(gen, by) if self.config.reuse_structures else {}
        for r in rows:
            if r["state"] in ("done", "failed"):
                continue
            if self.should_stop():
                raise StopRequested()
            genome = Genome(self.config.stages, tuple(int(ch) for ch in r["bits"]))
            key = r[by]
            if self.config.reuse_structures and key in seen:
                acc = statistics.fmean(seen[key])
                done += 1
                event = ev.IndividualEvaluated(gen, r["index"], r["genome"], acc, "done", True, 0.0, done, total)
                self.store.finish_evaluation(gen, r["index"], accuracy=acc, loss=None, seconds=0.0, device="",
                                             reused=True, event=event)
                self.reused += 1
                self._notify(event)
                continue
            self.store.start_evaluation(gen, r["index"])

            def progress(p, _gen=gen, _idx=r["index"]):
                self._notify(ev.EvaluationProgress(_gen, _idx, p.epoch, p.epochs, p.step, p.steps, p.loss))

            result = self.fitness.evaluate(genome, r["seed"], progress=progress, should_stop=self.should_stop)
            if result.error == "cancelled":
                raise StopRequested()
            done += 1
            event = ev.IndividualEvaluated(gen, r["index"], r["genome"], result.accuracy,
                                           "failed" if result.failed else "done", False, result.seconds, done, total)
            self.store.finish_evaluation(gen, r["index"], accuracy=result.accuracy, loss=result.loss,
                                         seconds=result.seconds, device=result.device, failed=result.failed,
                                         error=result.error, event=event)
            self.evaluations += 1
            if self.config.reuse_structures:
                seen.setdefault(key, []).append(result.accuracy)
            self._notify(event)

    def _evaluate_many(self, gen: int, many) -> None:
        """Hand every individual that needs training to an executor at once (parallel
        processes, Ray, or one batched model); results are stored as they arrive.

        With ``reuse_structures`` only the first occurrence of each structure is sent; the
        serial loop then reuses its fitness for the others, as it would have.
        """
        from genet_lab.evolution.executors import Job

        rows = self.store.individuals(gen)
        total = len(rows)
        done = sum(r["state"] in ("done", "failed") for r in rows)
        by = "structure_key" if self.config.reuse_structures else "bits"
        seen = self.store.occurrences(gen, by) if self.config.reuse_structures else {}
        jobs, queued, by_index = [], set(), {r["index"]: r for r in rows}
        for r in rows:
            if r["state"] in ("done", "failed"):
                continue
            if self.config.reuse_structures and (r[by] in seen or r[by] in queued):
                continue
            queued.add(r[by])
            self.store.start_evaluation(gen, r["index"])
            jobs.append(Job(r["index"], Genome(self.config.stages, tuple(int(c) for c in r["bits"])), r["seed"]))
        if not jobs:
            return

        def on_done(index, result):
            nonlocal done
            if result.error == "cancelled":
                return  # left running: reset and redone on resume
            r = by_index[index]
            done += 1
            event = ev.IndividualEvaluated(gen, index, r["genome"], result.accuracy,
                                           "failed" if result.failed else "done", False, result.seconds, done, total)
            self.store.finish_evaluation(gen, index, accuracy=result.accuracy, loss=result.loss,
                                         seconds=result.seconds, device=result.device, failed=result.failed,
                                         error=result.error, event=event)
            self.evaluations += 1
            self._notify(event)

        many(jobs, on_done, self.should_stop)
        if self.should_stop():
            raise StopRequested()

    def _finish_generation(self, gen: int) -> list[dict]:
        rows = self.store.individuals(gen)
        by = "structure_key" if self.config.reuse_structures else "bits"
        occ = self.store.occurrences(gen, by)
        fitness = [statistics.fmean(occ[r[by]]) for r in rows]
        stats = generation_stats(fitness, [r["genome"] for r in rows])
        stats["evaluations"] = sum(not r["reused"] for r in rows)
        stats["reused"] = sum(r["reused"] for r in rows)
        event = ev.GenerationFinished(gen, stats["max"], stats["min"], stats["mean"], stats["median"], stats["std"],
                                      stats["best"])
        self.store.finish_generation(gen, fitness, stats, event)
        self._notify(event)
        for r, f in zip(rows, fitness):
            r["fitness"] = f
        return rows

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> dict:
        """Run to generation T (or until ``should_stop``); returns :meth:`RunStore.status`."""
        c = self.config
        gens = self.store.generations(finished_only=False)
        resumed = bool(gens)
        if resumed:
            self.store.reset_running()
        self._emit(ev.RunStarted(c.kind, c.population, c.generations, resumed))
        try:
            if not gens:
                rng = np.random.default_rng(c.seed)
                pop = self._initial(rng)
                op = "random" if c.kind == "random" else "init"
                self._store_generation(0, pop, [(op, [], False)] * len(pop), rng)
                gen = 0
            else:
                gen = gens[-1]["gen"]
            while True:
                self._evaluate_generation(gen)
                finished = self.store.generations()
                if finished and finished[-1]["gen"] == gen:
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
        totals = self.store.conn.execute(
            "SELECT COUNT(*) FILTER (WHERE reused=0), COUNT(*) FILTER (WHERE reused=1) FROM evaluations").fetchone()
        event = ev.RunFinished(gen + 1, totals[0], totals[1], status["best"], status["best_fitness"])
        self.store.finish_run(event)
        self._notify(event)
        return self.store.status()


class StopRequested(Exception):
    """Raised inside the loop when ``should_stop()`` says so; the run stays resumable."""


def extend(config: SearchConfig, generations: int) -> SearchConfig:
    """The same search with another T (resume may extend a finished run)."""
    return replace(config, generations=int(generations)).validated()
