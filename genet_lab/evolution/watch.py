"""Moved: run control for front ends is :mod:`genet_lab.supervisor`. Import it from there.

Kept only as a re-export for code that still imports this name (tests/evolution/test_store_faults.py
at the time of the move); delete it, and ``MOVED`` in tests/test_layers.py, once nothing does.
``EvolveArgs``, ``evolve_argv`` and ``RunControl.start`` are gone: a front end creates a run from a
typed config with :meth:`genet_lab.supervisor.RunControl.create`.
"""

from __future__ import annotations

from genet_lab.supervisor import (
    COMMANDS,
    STOP_SECONDS,
    NotReady,
    ProcessExit,
    RunControl,
    RunError,
    RunProcess,
    RunWatcher,
    Snapshot,
    resume_argv,
)

__all__ = [
    "COMMANDS",
    "STOP_SECONDS",
    "NotReady",
    "ProcessExit",
    "RunControl",
    "RunError",
    "RunProcess",
    "RunWatcher",
    "Snapshot",
    "resume_argv",
]
