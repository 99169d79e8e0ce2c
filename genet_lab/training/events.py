"""Events of one training, as small frozen dataclasses for front ends.

``genet-lab train --events`` prints them one JSON object a line (:func:`to_dict`:
``{"type": name, **fields}``, the format of :mod:`genet_lab.evolution.events`);
the TUI's training pane reads them back with :func:`from_dict`, and the notebook
``TrainPanel`` turns the trainer's progress into :class:`TrainingProgress` too, so
every front end handles the same types. :class:`TrainingPhase` says what the process is
doing before the first progress (importing torch, loading the data, measuring), so that a
front end has something to show during the start-up. Plain data only: no torch, no
numpy, JSON-friendly fields; nothing of genet_lab is imported, so any layer may
use this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class TrainingPhase:
    """What the trainer is doing before its first progress: ``importing``, ``loading``, ``measuring``."""

    phase: str
    detail: str = ""
    """One line for people: what is imported, loaded or measured."""


@dataclass(frozen=True)
class TrainingStarted:
    genome: str
    """Paper notation."""
    dataset: dict[str, Any]
    """The data set's summary: name, classes, image shape, split sizes, source."""
    train: dict[str, Any]
    """The training config (``TrainConfig.to_dict``)."""


@dataclass(frozen=True)
class TrainingProgress:
    """About ten times an epoch (``val_accuracy`` None) and after each epoch's validation.

    The fields of the trainer's ``TrainProgress``: ``epoch`` 1-based, ``step`` the SGD steps
    done so far out of ``steps`` for the whole run, ``val_accuracy`` a fraction (0..1).
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    val_accuracy: float | None

    @classmethod
    def of(cls, progress: Any) -> TrainingProgress:
        """The event for a trainer's ``TrainProgress`` (read by attribute: no torch here)."""
        return cls(progress.epoch, progress.epochs, progress.step, progress.steps, progress.loss, progress.val_accuracy)

    @property
    def done(self) -> float:
        """Epochs done so far, fractional (``epochs`` when the run is over)."""
        if self.val_accuracy is not None or not self.steps:
            return float(self.epoch)
        return self.epochs * self.step / self.steps


@dataclass(frozen=True)
class TrainingFinished:
    """What ``genet-lab train --json`` prints, as an event."""

    genome: str
    dataset: str
    train_images: int
    val_images: int
    val_accuracy: float
    """Fraction correct on the validation split (0..1); 0.0 for a failed run."""
    test_accuracy: float | None
    final_loss: float | None
    curve: list[dict[str, Any]]
    """One dict per epoch: epoch, loss, lr, val_accuracy, seconds."""
    seconds: float
    images_per_second: float
    params: int
    failed: bool
    error: str | None
    device: str
    precision: str = "fp32"
    channels_last: bool = False
    epochs_run: int = 0
    checkpoint: str | None = None
    """The file written by ``--save``, if any."""
    train: dict[str, Any] | None = None
    """The resolved training config (TrainConfig.to_dict(): the recipe and every value)."""


EVENT_TYPES = {cls.__name__: cls for cls in (TrainingPhase, TrainingStarted, TrainingProgress, TrainingFinished)}
TrainingEvent = TrainingPhase | TrainingStarted | TrainingProgress | TrainingFinished


def to_dict(event: TrainingEvent) -> dict[str, Any]:
    """``{"type": name, **fields}``."""
    return {"type": type(event).__name__, **asdict(event)}


def from_dict(data: Mapping[str, Any]) -> TrainingEvent:
    """Inverse of :func:`to_dict`; unknown fields are ignored (newer writers)."""
    cls = EVENT_TYPES.get(str(data.get("type", "")))
    if cls is None:
        raise ValueError(f"unknown training event type {data.get('type')!r}; known: {', '.join(EVENT_TYPES)}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:  # a field is missing
        raise ValueError(f"bad {cls.__name__} event: {exc}") from None
