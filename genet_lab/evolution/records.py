"""Typed records read from a run store: what the engine, report, TUI and widgets see.

The store (:mod:`genet_lab.evolution.store`) is the only module that speaks SQL; it
turns rows into these frozen dataclasses, so readers use attributes that a type
checker knows (``ind.fitness``) instead of string keys. Knows nothing of sqlite3,
torch or numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Individual:
    """One individual of one generation, with its evaluation.

    ``fitness`` is the value selection used (see docs/evolution.md; None until the
    generation finishes); ``accuracy`` is this occurrence's own evaluation.
    """

    gen: int
    index: int
    genome: str
    """The paper's notation, e.g. ``1-01 0-01-100``."""
    bits: str
    parents: tuple[int, ...]
    """Indices in generation ``gen - 1`` (empty for generation 0 and random search)."""
    op: str
    """init, selection, crossover, mutation or random."""
    changed: bool
    """Differs from its first parent."""
    fitness: float | None
    structure_key: str
    params: int | None
    macs: int | None
    state: str
    """pending, running, done or failed."""
    accuracy: float | None
    loss: float | None
    seconds: float | None
    device: str | None
    reused: bool
    error: str | None
    seed: int
    test_accuracy: float | None = None
    """This occurrence's test accuracy, when the run was asked for it (``eval_test``); never
    seen by selection."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["parents"] = list(self.parents)
        return d


@dataclass(frozen=True)
class GenerationStats:
    """Statistics of one generation's fitness: Table 1's columns."""

    gen: int
    max: float | None
    min: float | None
    mean: float | None
    median: float | None
    std: float | None
    best: str | None
    """The best individual's notation."""
    best_index: int | None
    evaluations: int | None
    """Trainings run in this generation (repeated individuals are trained again)."""
    reused: int | None
    started: float
    finished: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands, for a watcher that polls the store."""

    state: str
    """running, finished, or stopped (unfinished with no writer)."""
    kind: str
    """ga or random."""
    gen: int | None
    """The latest generation stored."""
    generations: int | None
    """T."""
    population: int | None
    """N."""
    evaluations_done: int
    evaluations_total: int | None
    """The whole run: N x (T + 1)."""
    best: str | None
    best_fitness: float | None

    def to_dict(self) -> dict:
        return asdict(self)
