"""Events of one training, for front ends: the trainer's own records.

``genet-lab train --events`` prints them one JSON object a line (:func:`to_dict`:
``{"type": name, **fields}``, the format of :mod:`genet_lab.evolution.events`);
the TUI's training pane reads them back with :func:`from_dict`, and the notebook
``TrainPanel`` gets the trainer's progress as is, so every front end handles the same
types. The progress event *is* the trainer's :class:`~genet_lab.training.config.TrainProgress`
(named ``TrainingProgress`` on the wire) and the last event is a
:class:`~genet_lab.training.config.TrainResult` with what was trained on
(:class:`TrainingFinished`): no mirror types. :class:`TrainingPhase` says what the process is
doing before the first progress (importing torch, loading the data, measuring), so that a
front end has something to show during the start-up. Plain data only, JSON-friendly fields;
imports only the torch-free :mod:`genet_lab.training.config`, so any front end may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from genet_lab.training.config import TrainProgress, TrainResult

__all__ = [
    "EVENT_TYPES",
    "TrainingEvent",
    "TrainingFinished",
    "TrainingPhase",
    "TrainingProgress",
    "TrainingStarted",
    "from_dict",
    "to_dict",
]


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


TrainingProgress = TrainProgress
"""About ten times an epoch (``val_accuracy`` None) and after each epoch's validation: the
trainer's own record, under its event name. Without a validation split (``val_size`` 0) the
epoch's end carries None too (JSON null), as does :class:`TrainingFinished`'s ``val_accuracy``:
no accuracy, not 0.0; a front end shows "-" (or the test accuracy, what such a run is judged on)."""


@dataclass(kw_only=True)
class TrainingFinished(TrainResult):
    """What ``genet-lab train --json`` prints, as an event: the :class:`TrainResult` and what was
    trained on (``final_loss`` is None where the run's was NaN: JSON has no NaN)."""

    genome: str
    """Paper notation."""
    dataset: str
    train_images: int
    val_images: int
    checkpoint: str | None = None
    """The file written by ``--save``, if any."""
    train: dict[str, Any] | None = None
    """The resolved training config (TrainConfig.to_dict(): the recipe and every value)."""


EVENT_TYPES: dict[str, type] = {
    "TrainingPhase": TrainingPhase,
    "TrainingStarted": TrainingStarted,
    "TrainingProgress": TrainProgress,
    "TrainingFinished": TrainingFinished,
}
"""The event name on the wire -> its record."""
_NAMES = {cls: name for name, cls in EVENT_TYPES.items()}
TrainingEvent = TrainingPhase | TrainingStarted | TrainProgress | TrainingFinished


def to_dict(event: TrainingEvent) -> dict[str, Any]:
    """``{"type": name, **fields}``."""
    name = _NAMES.get(type(event))
    if name is None:
        raise TypeError(f"not a training event: {type(event).__name__}; events: {', '.join(EVENT_TYPES)}")
    data = asdict(event)
    if isinstance(event, TrainingFinished):  # what was trained on first, as ``train --json`` prints it
        data = {k: data.pop(k) for k in ("genome", "dataset", "train_images", "val_images")} | data
    return {"type": name, **data}


def from_dict(data: Mapping[str, Any]) -> TrainingEvent:
    """Inverse of :func:`to_dict`; unknown fields are ignored (newer writers)."""
    cls = EVENT_TYPES.get(str(data.get("type", "")))
    if cls is None:
        raise ValueError(f"unknown training event type {data.get('type')!r}; known: {', '.join(EVENT_TYPES)}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:  # a field is missing
        raise ValueError(f"bad {_NAMES[cls]} event: {exc}") from None
