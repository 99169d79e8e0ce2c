"""Search strategies: how the next generation is bred from the evaluated ones, one class per ``kind``.

A strategy is a small state machine shared by the engine (through the run store) and the in-memory
driver (:mod:`.inmemory`), so both breed exactly the same genomes from the same seed:

* :meth:`Strategy.observe` is fed every finished generation in order (its bit strings and the
  fitness selection uses, the averaging rule of :mod:`.stats`); it is the only method that changes
  the state, and it draws nothing, so a resumed run rebuilds the state by observing the stored
  generations again;
* :meth:`Strategy.breed` returns the next generation of N individuals and how each was made
  (op, parent indices in the previous generation, changed), drawing only from the ``rng`` it is
  given (the engine stores that RNG's state with the generation).

Kinds (every one breeds N individuals a generation, so a run costs N x (T + 1) evaluations):

* ``ga``: the paper's Algorithm 1 (roulette selection, stage crossover p_C/q_C, bit-flip mutation
  p_M/q_M), exactly as before this module existed;
* ``random``: N fresh random strings a generation (every bit 1 with probability 0.5);
* ``aging``: regularised (aging) evolution, Real et al. 2019, in batches of N children: the
  population is the P (``aging_population``) most recently evaluated individuals; while it holds
  fewer than P, a generation is N random strings (Real et al.'s P random models); after that each
  of the N children is one tournament: S (``sample_size``) members drawn without replacement, the
  best of them (ties: the youngest) copied with one uniformly chosen bit flipped. When a
  generation is observed its N children join the population and the N oldest die;
* ``local``: local search, White et al. 2020, in generations of N: the current point starts as the
  best of generation 0 (or of a restart); each generation evaluates N of its one-bit neighbours
  never evaluated in the run, drawn at random (all when fewer are left; the slots left over
  re-evaluate the current point, sharpening its noisy fitness). After each generation the current
  point moves to its best evaluated neighbour while one beats it (strictly, on the latest fitness of
  each bit string); when every neighbour has been evaluated and none beats it (a local optimum) the
  next generation is N random strings and the climb restarts from their best.

A parent recorded for a child is an index in the previous generation; an aging or local child whose
parent is older records none. Knows numpy and the operators only: no config module (it is handed a
config object), no store, no torch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from genet_lab.errors import ConfigError
from genet_lab.evolution import operators as ops

__all__ = ["KINDS", "TITLES", "Breeding", "Strategy", "check_strategy", "make_strategy"]

KINDS = ("ga", "random", "aging", "local")
TITLES = {"ga": "genetic process", "random": "random search", "aging": "aging evolution", "local": "local search"}
"""What each kind of search is called where a front end names it."""
"""Every ``SearchConfig.kind``: the paper's GA, random search, aging evolution, local search."""
Breeding = tuple[str, list[int], bool]
"""How an individual was made: (op, parent indices in the previous generation, changed)."""


def check_strategy(config: Any) -> None:
    """Refuse an unknown kind, or aging evolution's P and S out of range (ConfigError on the field)."""
    if config.kind not in KINDS:
        raise ConfigError("kind", config.kind, accepted=KINDS, what="kind")
    p, s = config.aging_population, config.sample_size
    if p < 1:
        raise ConfigError("aging_population", p, template="{option} (P) must be >= 1, got {value}")
    if not 1 <= s <= p:
        raise ConfigError(
            "sample_size",
            s,
            template="{option} (S) must be between 1 and {aging_population} (P = " + f"{p}), got {{value}}",
            also=("aging_population",),
        )


class Strategy:
    """The base of every kind: ``observe`` each finished generation, then ``breed`` the next."""

    def __init__(self, config: Any, bounds: np.ndarray):
        self.config, self.bounds = config, bounds
        self.length = int(bounds[-1])
        self.last_gen = -1

    def observe(self, gen: int, pop: np.ndarray, fitness: Sequence[float]) -> None:
        """Take in finished generation ``gen``: its (n, L) bit strings and each one's fitness."""
        self.last_gen = gen

    def breed(self, rng: np.random.Generator) -> tuple[np.ndarray, list[Breeding]]:
        raise NotImplementedError

    def _random(self, rng: np.random.Generator, p: float) -> tuple[np.ndarray, list[Breeding]]:
        n = self.config.population
        return ops.init_random(n, self.length, rng, p), [("random", [], True)] * n


class GeneticStrategy(Strategy):
    """Algorithm 1: generation t bred from generation t-1 alone."""

    def observe(self, gen: int, pop: np.ndarray, fitness: Sequence[float]) -> None:
        super().observe(gen, pop, fitness)
        self.pop, self.fitness = np.asarray(pop, dtype=np.uint8), list(fitness)

    def breed(self, rng: np.random.Generator) -> tuple[np.ndarray, list[Breeding]]:
        c = self.config
        n = c.population
        sel = ops.select_roulette(self.fitness, rng, n)
        selected = self.pop[sel]
        crossed_pop, crossed, partner = ops.crossover_stages(selected, rng, self.bounds, c.pc, c.qc)
        child, mutated = ops.mutate_flip(crossed_pop, rng, c.pm, c.qm, exclude=crossed)
        meta: list[Breeding] = []
        differs = np.any(child != selected, axis=1).tolist()
        for i in range(n):
            changed = bool(differs[i])
            if crossed[i]:
                meta.append(("crossover", [int(sel[i]), int(sel[partner[i]])], changed))
            elif mutated[i]:
                meta.append(("mutation", [int(sel[i])], changed))
            else:
                meta.append(("selection", [int(sel[i])], False))
        return child, meta


class RandomStrategy(Strategy):
    """Random search: every generation N fresh strings (bits 1 with probability 0.5)."""

    def breed(self, rng: np.random.Generator) -> tuple[np.ndarray, list[Breeding]]:
        return self._random(rng, 0.5)


class AgingStrategy(Strategy):
    """Regularised evolution: tournaments of S among the P youngest, one-bit mutation, the oldest die."""

    def __init__(self, config: Any, bounds: np.ndarray):
        super().__init__(config, bounds)
        self.members: deque[tuple[int, int, np.ndarray, float]] = deque()
        """(gen, index, bits, fitness), oldest first."""

    def observe(self, gen: int, pop: np.ndarray, fitness: Sequence[float]) -> None:
        super().observe(gen, pop, fitness)
        for i, (row, f) in enumerate(zip(np.asarray(pop, dtype=np.uint8), fitness)):
            self.members.append((gen, i, row, float(f)))
        while len(self.members) > self.config.aging_population:
            self.members.popleft()

    def breed(self, rng: np.random.Generator) -> tuple[np.ndarray, list[Breeding]]:
        c = self.config
        p, s, n = c.aging_population, c.sample_size, c.population
        if len(self.members) < p:
            return self._random(rng, c.init_p)
        fit = np.array([m[3] for m in self.members])
        # S distinct members per child: the S smallest of P uniform keys (a uniform S-subset)
        sample = np.argpartition(rng.random((n, p)), s - 1, axis=1)[:, :s]
        # the best of each sample; among equals the youngest (the largest position)
        best = np.array([max(row, key=lambda k: (fit[k], k)) for row in sample.tolist()], dtype=np.int64)
        flips = rng.integers(0, self.length, size=n)
        child = np.array([self.members[b][2] for b in best], dtype=np.uint8)
        child[np.arange(n), flips] ^= 1
        meta: list[Breeding] = []
        for b in best:
            gen, index = self.members[b][0], self.members[b][1]
            meta.append(("mutation", [index] if gen == self.last_gen else [], True))
        return child, meta


class LocalStrategy(Strategy):
    """Local search with random restarts over one-bit neighbourhoods."""

    def __init__(self, config: Any, bounds: np.ndarray):
        super().__init__(config, bounds)
        self.known: dict[bytes, float] = {}
        """Every bit string evaluated -> its latest fitness."""
        self.where: dict[bytes, tuple[int, int]] = {}
        """Every bit string evaluated -> (gen, index) of its latest occurrence."""
        self.current: np.ndarray | None = None

    def neighbours(self, bits: np.ndarray) -> np.ndarray:
        """The L one-bit neighbours of ``bits``, neighbour j with bit j flipped."""
        return np.asarray(bits, dtype=np.uint8)[None, :] ^ np.eye(self.length, dtype=np.uint8)

    def untried(self) -> list[int]:
        """The bits j whose flip gives a neighbour of the current point never evaluated."""
        assert self.current is not None
        return [j for j, row in enumerate(self.neighbours(self.current)) if row.tobytes() not in self.known]

    def at_optimum(self) -> bool:
        """No current point yet, or every neighbour evaluated and none better: the next generation restarts."""
        return self.current is None or not self.untried()

    def observe(self, gen: int, pop: np.ndarray, fitness: Sequence[float]) -> None:
        restarted = self.at_optimum()  # what breed decided before this generation was made
        super().observe(gen, pop, fitness)
        pop = np.asarray(pop, dtype=np.uint8)
        for i, (row, f) in enumerate(zip(pop, fitness)):
            self.known[row.tobytes()] = float(f)
            self.where[row.tobytes()] = (gen, i)
        if restarted:
            self.current = pop[int(np.argmax(np.asarray(fitness, dtype=np.float64)))].copy()
        while True:  # move while an evaluated neighbour beats the current point
            assert self.current is not None
            here = self.known[self.current.tobytes()]
            scored = [(self.known[r.tobytes()], -j) for j, r in enumerate(self.neighbours(self.current))
                      if r.tobytes() in self.known]  # fmt: skip
            if not scored or max(scored)[0] <= here:
                break
            self.current = self.neighbours(self.current)[-max(scored)[1]]

    def breed(self, rng: np.random.Generator) -> tuple[np.ndarray, list[Breeding]]:
        c = self.config
        if self.at_optimum():
            return self._random(rng, c.init_p)
        assert self.current is not None
        gen, index = self.where[self.current.tobytes()]
        parents = [index] if gen == self.last_gen else []
        picked = rng.permutation(self.untried())[: c.population]
        rows = self.neighbours(self.current)[picked]
        again = c.population - len(picked)
        pop = np.concatenate([rows, np.tile(self.current, (again, 1))]) if again else rows
        meta: list[Breeding] = [("mutation", parents, True)] * len(picked) + [("selection", parents, False)] * again
        return pop.astype(np.uint8), meta


_CLASSES: dict[str, type[Strategy]] = {
    "ga": GeneticStrategy,
    "random": RandomStrategy,
    "aging": AgingStrategy,
    "local": LocalStrategy,
}


def make_strategy(config: Any) -> Strategy:
    """The strategy of ``config.kind`` (a validated search config), with no generation observed yet."""
    check_strategy(config)
    return _CLASSES[config.kind](config, ops.stage_bounds(config.stages))
