"""A search on a benchmark table run in memory: the engine's exact rules without the run store.

``bench compare`` repeats every strategy a thousand times; through SQLite one run takes seconds.
:func:`run_in_memory` does what :class:`~genet_lab.evolution.engine.Engine` does with a
``table:NAME`` fitness, step for step, on numpy arrays and dicts:

* generation 0 is :func:`.population.initial_population` from :func:`.population.initial_rng`;
  every later one is bred by the same :mod:`.strategies` object (observe, then breed, on one RNG:
  the engine restores that RNG's stored state between generations, which continues the stream);
* each evaluation has the engine's seed (:func:`.engine.evaluation_seed`) and draws the recorded
  run :class:`~genet_lab.evolution.fitness.TableFitness` draws (``random.Random(seed)``); a failed
  recorded training, or a structure the table lacks, is a failed evaluation of accuracy 0;
* fitness is the averaging rule (:class:`.stats.Occurrences`: the mean of every trained evaluation
  of the same bits, or structure with ``reuse_structures``, in generations 0..t) through the
  objective; with ``reuse_structures`` a structure already trained is copied, not trained;
* the returned structure is the run's best: the highest fitness, the earliest on ties (the store's
  ``status().best``).

tests/evolution/test_strategies.py proves it: the same config evaluates the same genomes with the
same results in both. A ``budget`` stops after that many trained evaluations (the last generation
is cut there). Knows the strategies, the table and numpy; no store, no torch.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genet_lab.bench.compare import Outcome
from genet_lab.encoding.graph import decode_stage
from genet_lab.evolution import operators as ops
from genet_lab.evolution.config import SearchConfig, apply_objective, parse_objective
from genet_lab.evolution.engine import evaluation_seed
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.evolution.strategies import make_strategy

__all__ = ["Lookup", "Seeds", "Trace", "run_in_memory", "seed_sequence_words"]


class Lookup:
    """A table's recorded trainings by bit string: ``(entry index or -1, structure key)`` per bits
    (cached: computed once per distinct string), each entry's accuracies (0 for a failed training),
    parameters and multiply-adds."""

    def __init__(self, table: Any, means: Sequence[float] | np.ndarray | None = None):
        """``means``: each entry's true mean where the truth is another table's (a search on a
        short fidelity judged by a long one; its anytime curve then reads these), else its own."""
        self.table = table
        self.by_key = {e.key: k for k, e in enumerate(table.entries)}
        self.vals = [tuple(0.0 if r.failed else r.val for r in e.runs) for e in table.entries]
        self.failed = [tuple(r.failed for r in e.runs) for e in table.entries]
        self.means = np.array([e.mean for e in table.entries] if means is None else means, dtype=np.float64)
        self.bounds = ops.stage_bounds(table.stages).tolist()
        self._bits: dict[bytes, tuple[int, str]] = {}
        self._stages: dict[tuple[int, bytes], str] = {}

    def find(self, row: np.ndarray) -> tuple[int, str]:
        """(entry index or -1, structure key) of one bit string: the key is graph.structure_key's,
        built from each stage's canonical form (stages repeat far more than genomes: cached)."""
        whole = row.tobytes()
        hit = self._bits.get(whole)
        if hit is None:
            parts = []
            for s, k in enumerate(self.table.stages):
                bits = row[self.bounds[s] : self.bounds[s + 1]]
                canonical = self._stages.get((k, bits.tobytes()))
                if canonical is None:
                    canonical = decode_stage(k, tuple(int(b) for b in bits)).canonical
                    self._stages[(k, bits.tobytes())] = canonical
                parts.append(canonical)
            key = "|".join(parts)
            hit = self._bits[whole] = (self.by_key.get(key, -1), key)
        return hit

    def size(self, entry: int) -> tuple[int, int]:
        """(parameters, multiply-adds) of an entry ((0, 0) outside the table: only a failed evaluation)."""
        e = self.table.entries[entry] if entry >= 0 else None
        return (e.params, e.macs) if e else (0, 0)

    def evaluate(self, entry: int, seed: int) -> tuple[float, bool]:
        """(accuracy, failed) of one evaluation, drawn as TableFitness draws it."""
        if entry < 0:
            return 0.0, True
        vals = self.vals[entry]
        k = random.Random(int(seed)).randrange(len(vals))
        return vals[k], self.failed[entry][k]


class Seeds:
    """The engine's evaluation seeds (:func:`.engine.evaluation_seed`) of one run, computed for blocks
    of generations at once: numpy's SeedSequence hash, vectorised (equality is tested), since one
    SeedSequence per evaluation cost more than the rest of an in-memory evaluation."""

    BLOCK = 64

    def __init__(self, seed: int, population: int):
        self.seed, self.n = int(seed), int(population)
        self.words = _words(self.seed)
        self.blocks: dict[int, list[int]] = {}

    def __call__(self, gen: int, index: int) -> int:
        if index >= self.n:  # a generation larger than N (a genome file): one at a time
            return evaluation_seed(self.seed, gen, index)
        b = gen // self.BLOCK
        block = self.blocks.get(b)
        if block is None:
            g, i = np.divmod(np.arange(self.BLOCK * self.n, dtype=np.int64), self.n)
            block = self.blocks[b] = seed_sequence_words([*self.words, g + b * self.BLOCK, i]).tolist()
        return block[(gen - b * self.BLOCK) * self.n + index]


_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _MASK = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF


def _words(n: int) -> list[int]:
    """A non-negative int as SeedSequence takes it: 32-bit words, least significant first."""
    out = [n & _MASK]
    n >>= 32
    while n:
        out.append(n & _MASK)
        n >>= 32
    return out


def seed_sequence_words(entropy: list[Any]) -> np.ndarray:
    """``SeedSequence(entropy).generate_state(1)[0]`` for each position of the arrays in ``entropy``
    (each element one 32-bit word, at most 4 words: numpy's pool size), as uint32."""
    shape = np.broadcast(*[np.asarray(e) for e in entropy]).shape
    words = [np.broadcast_to(np.asarray(e, dtype=np.uint32), shape) for e in entropy]
    if len(words) > 4:
        raise ValueError("at most 4 entropy words (the pool size) are vectorised")
    h = _INIT_A

    def hashmix(v: np.ndarray) -> np.ndarray:
        nonlocal h
        v = v ^ np.uint32(h)
        h = (h * _MULT_A) & _MASK
        v = v * np.uint32(h)
        return v ^ (v >> np.uint32(16))

    zero = np.zeros(shape, dtype=np.uint32)
    mixer = [hashmix(words[k] if k < len(words) else zero) for k in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                r: np.ndarray = np.uint32(_MIX_L) * mixer[dst] - np.uint32(_MIX_R) * hashmix(mixer[src])
                mixer[dst] = r ^ (r >> np.uint32(16))
    v = (mixer[0] ^ np.uint32(_INIT_B)) * np.uint32((_INIT_B * _MULT_B) & _MASK)
    return v ^ (v >> np.uint32(16))


@dataclass
class Trace:
    """What one in-memory run did: the outcome, and (``record``) every individual as the store has it."""

    outcome: Outcome
    log: list[tuple[int, int, str, int, float, bool]] = field(default_factory=list)
    """(gen, index, bits, seed, accuracy, reused) of every evaluated individual, in order."""
    fitness: list[tuple[int, int, float]] = field(default_factory=list)
    """(gen, index, fitness) of every individual of a finished generation."""


def run_in_memory(config: SearchConfig, lookup: Lookup, budget: int | None = None, record: bool = False) -> Trace:
    """Run ``config`` (resolved, ``table:`` fitness on ``lookup``'s table) to generation T, or until
    ``budget`` trained evaluations; ``record`` keeps every individual (for the equivalence test)."""
    c = config
    strategy = make_strategy(c)
    rng = initial_rng(c)
    pop = ops.from_genomes(initial_population(c, rng))
    seeds = Seeds(c.seed, c.population)
    plain = parse_objective(c.objective)[0] == "accuracy"
    groups: dict[Any, list[float]] = {}  # the averaging rule: key -> trained accuracies
    reuse = c.reuse_structures
    trained, gen = 0, 0
    best_fit, best_entry, best_bits = float("-inf"), -1, ""
    curve: list[tuple[int, float]] = []
    trace = Trace(Outcome(-1, float("nan"), 0, "", []))
    while True:
        found = [lookup.find(row) for row in pop]
        keys: list[Any] = [s for _, s in found] if reuse else [row.tobytes() for row in pop]
        kept = len(pop)
        fresh: dict[Any, float] = {}  # reuse: the structures trained in this generation
        for i, ((entry, _), key) in enumerate(zip(found, keys)):
            if reuse and (key in groups or key in fresh):
                if record:
                    acc = statistics.fmean(groups[key]) if key in groups else fresh[key]
                    trace.log.append((gen, i, _text(pop[i]), seeds(gen, i), acc, True))
                continue
            if budget is not None and trained >= budget:
                kept = i
                break
            acc, _failed = lookup.evaluate(entry, seeds(gen, i))
            trained += 1
            if reuse:
                fresh[key] = acc
            else:
                groups.setdefault(key, []).append(acc)
            if record:
                trace.log.append((gen, i, _text(pop[i]), seeds(gen, i), acc, False))
        for key, acc in fresh.items():
            groups.setdefault(key, []).append(acc)
        if kept == 0:
            break
        pop = pop[:kept]
        fitness = [statistics.fmean(groups[key]) for key in keys[:kept]]
        if not plain:
            fitness = [apply_objective(c.objective, f, *lookup.size(e)) for f, (e, _) in zip(fitness, found)]
        for i, f in enumerate(fitness):
            if f > best_fit:
                best_fit, best_entry, best_bits = f, found[i][0], _text(pop[i])
            if record:
                trace.fitness.append((gen, i, f))
        curve.append((trained, float(lookup.means[best_entry]) if best_entry >= 0 else float("nan")))
        if gen >= c.generations or kept < len(found) or (budget is not None and trained >= budget):
            break
        strategy.observe(gen, pop, fitness)
        pop, _meta = strategy.breed(rng)
        gen += 1
    trace.outcome = Outcome(best_entry, best_fit, trained, best_bits, curve)
    return trace


def _text(row: np.ndarray) -> str:
    return "".join(map(str, row.tolist()))
