"""Moved: run control for front ends lives in :mod:`genet_lab.supervisor`.

This module re-exports it for the code that still imports it here, and keeps the old way
of starting a run (``EvolveArgs`` flags parsed back by ``genet-lab evolve``) only until the
notebook widgets start runs with :meth:`genet_lab.supervisor.RunControl.create`; then it goes.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from genet_lab import supervisor
from genet_lab.evolution.store import is_run_dir
from genet_lab.supervisor import (  # noqa: F401 (re-exported)
    COMMANDS,
    STOP_SECONDS,
    NotReady,
    ProcessExit,
    RunError,
    RunProcess,
    RunWatcher,
    Snapshot,
    resume_argv,
)


@dataclass(frozen=True)
class EvolveArgs:
    """Flags of ``genet-lab evolve`` / ``random-search``; None (or False) leaves the command's default.

    Field order is the order of the flags on the command line. ``stages`` is a tuple
    of stage sizes or text such as ``"3,4,5"``; ``init`` and the operator probabilities
    (``pm``, ``qm``, ``pc``, ``qc``: the paper's p_M, q_M, p_C, q_C) are for ``evolve`` only.
    """

    dataset: str | None = None
    data_dir: str | None = None
    train_size: int | None = None
    val_size: int | None = None
    population: int | None = None
    generations: int | None = None
    stages: tuple[int, ...] | str | None = None
    init: str | None = None
    init_p: float | None = None
    init_flips: int | None = None
    pm: float | None = None
    qm: float | None = None
    pc: float | None = None
    qc: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    recipe: str | None = None
    lr: float | None = None
    schedule: str | None = None
    device: str | None = None
    threads: int | None = None
    fitness: str | None = None
    preset: str | None = None
    reuse_structures: bool = False
    eval_test: bool = False
    """Also score every evaluation on the test split (``--eval-test``)."""
    objective: str | None = None
    """What selection maximises: accuracy, params:LAMBDA or macs:LAMBDA (``--objective``)."""
    seed: int | None = None
    workers: int | None = None
    devices: str | None = None
    batched: str | None = None
    ray: str | None = None
    json: bool = False
    """Print only the final report, as JSON (no live table)."""

    def flags(self) -> list[str]:
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value is False:
                continue
            flag = "--" + f.name.replace("_", "-")
            if value is True:
                out.append(flag)
            else:
                out += [flag, ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)]
        return out


def _check_command(command: str) -> str:
    if command not in COMMANDS.values():
        raise ValueError(f"kind must be 'evolve' or 'random-search', got {command!r}")
    return command


def evolve_argv(
    run_dir: str | Path, command: str = "evolve", args: EvolveArgs = EvolveArgs(), python: str | None = None
) -> list[str]:
    """``python -m genet_lab evolve FLAGS --run-dir DIR`` (``command``: evolve or random-search)."""
    return [
        python or sys.executable,
        "-m",
        "genet_lab",
        _check_command(command),
        *args.flags(),
        "--run-dir",
        str(run_dir),
    ]


class RunControl(supervisor.RunControl):
    """:class:`genet_lab.supervisor.RunControl` with the old :meth:`start` (flags on a command line)."""

    @classmethod
    def start(
        cls,
        run_dir: str | Path,
        command: str = "evolve",
        args: EvolveArgs = EvolveArgs(),
        python: str | None = None,
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunControl:
        """Start ``genet-lab COMMAND ... --run-dir DIR`` on a directory that holds no run yet."""
        run_dir = Path(run_dir)
        if is_run_dir(run_dir):
            raise RunError(f"{run_dir} already holds a run; open it, resume it, or choose another directory")
        argv = evolve_argv(run_dir, command, args, python)
        run_dir.mkdir(parents=True, exist_ok=True)
        control = cls(run_dir, python)
        control.process = RunProcess(argv, log, env)
        return control
