"""Events of a run, as small frozen dataclasses for front ends.

The engine hands every event to its listeners and stores all but
:class:`EvaluationProgress` in the run store, so a reader in another process
can follow a run with ``RunStore.events_since(seq)``. Plain data only: no
torch, no numpy, JSON-friendly fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class RunStarted:
    kind: str
    """"ga" or "random"."""
    population: int
    generations: int
    """T: the run has generations 0..T."""
    resumed: bool


@dataclass(frozen=True)
class GenerationStarted:
    gen: int
    size: int
    """Individuals in this generation (N)."""


@dataclass(frozen=True)
class EvaluationProgress:
    """Progress inside one evaluation (training epochs); not persisted."""

    gen: int
    index: int
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float


@dataclass(frozen=True)
class IndividualEvaluated:
    gen: int
    index: int
    genome: str
    """Paper notation."""
    accuracy: float
    """This occurrence's evaluation (0 for a failed one)."""
    state: str
    """"done" or "failed"."""
    reused: bool
    """True when the value was copied from an identical structure instead of trained."""
    seconds: float
    done: int
    """Evaluations finished in this generation, this one included."""
    total: int


@dataclass(frozen=True)
class GenerationFinished:
    gen: int
    max: float
    min: float
    mean: float
    median: float
    std: float
    best: str
    """Notation of the individual with the highest fitness."""


@dataclass(frozen=True)
class RunFinished:
    generations: int
    """Generations finished (T + 1 with generation 0)."""
    evaluations: int
    """Trainings actually run (reused ones excluded)."""
    reused: int
    best: str
    best_fitness: float


EVENT_TYPES = {
    cls.__name__: cls
    for cls in (RunStarted, GenerationStarted, EvaluationProgress, IndividualEvaluated, GenerationFinished, RunFinished)
}


def to_dict(event) -> dict:
    """``{"type": name, **fields}``."""
    return {"type": type(event).__name__, **asdict(event)}


def from_dict(data: dict):
    """Inverse of :func:`to_dict`; unknown fields are ignored (newer writers)."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}; known: {', '.join(EVENT_TYPES)}")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
