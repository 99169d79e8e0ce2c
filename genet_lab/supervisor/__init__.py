"""Front-end processes: an evolution run and trainings, started, watched and stopped.

The front ends (the TUI, the notebook widgets) never run the core in their own process: a run
is an ``evolve --resume DIR`` child on a run created from a typed config
(:class:`RunControl`, :mod:`genet_lab.supervisor.runs`), a training a ``train --events`` child
(:class:`TrainSupervisor` with its warm trainer, :mod:`genet_lab.supervisor.trainings`). Both
front ends start, pause, stop and read their children through this package.

No torch, no Textual, no ipywidgets: a front end draws what this package reports.
"""

from __future__ import annotations

from genet_lab.supervisor.runs import (
    COMMANDS,
    STOP_SECONDS,
    NotReady,
    ProcessExit,
    RunControl,
    RunError,
    RunProcess,
    RunWatcher,
    Snapshot,
    command_of,
    resume_argv,
)
from genet_lab.supervisor.trainings import (
    WARM_CODE,
    StrayLine,
    TrainProcess,
    TrainSupervisor,
    WarmTrainer,
    parse_event,
    train_argv,
)

__all__ = [
    "COMMANDS",
    "STOP_SECONDS",
    "WARM_CODE",
    "NotReady",
    "ProcessExit",
    "RunControl",
    "RunError",
    "RunProcess",
    "RunWatcher",
    "Snapshot",
    "StrayLine",
    "TrainProcess",
    "TrainSupervisor",
    "WarmTrainer",
    "command_of",
    "parse_event",
    "resume_argv",
    "train_argv",
]
