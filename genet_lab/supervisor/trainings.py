"""Trainings in another process: :class:`TrainSupervisor`, :class:`TrainProcess`, :class:`WarmTrainer`.

A training is ``python -m genet_lab train GENOME --events --phases ...``: a child that prints one
JSON line per event of :mod:`genet_lab.training.events` (TrainingPhase..., TrainingStarted,
TrainingProgress..., TrainingFinished). Importing torch takes seconds, so a front end keeps one
*warm* trainer ready (``python -c WARM_CODE``: the trainer imported, waiting for its command line
on stdin) and hands it the next training. A crashed training cannot take the front end down.

No torch, no Textual, no ipywidgets: the front end reads :meth:`TrainProcess.events` in a worker
thread and draws what it gets.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genet_lab.supervisor.runs import child_env
from genet_lab.training.events import TrainingEvent, from_dict

if TYPE_CHECKING:
    from genet_lab.encoding.genome import Genome


def train_argv(
    python: str,
    genome: Genome,
    dataset: str,
    preset: str,
    epochs: int | None = None,
    extra: str = "",
    recipe: str | None = None,
) -> list[str]:
    """``python -m genet_lab train GENOME --events --phases ...``; ``extra`` is split as a shell
    would (ValueError for unbalanced quotes). ``epochs`` and ``recipe`` None leave the data set's
    budget and the default recipe to ``genet-lab train``, so a front end trains as the CLI does."""
    budget = [] if epochs is None else ["--epochs", str(epochs)]
    chosen = [] if recipe is None else ["--recipe", recipe]
    head = [python, "-m", "genet_lab", "train", genome.notation(), "--events", "--phases"]
    return [*head, "--dataset", dataset, "--preset", preset, *chosen, *budget, *shlex.split(extra)]


WARM_CODE = """\
import json, sys
from genet_lab.cli.main import main
import genet_lab.cli.train, genet_lab.training.data, genet_lab.training.trainer  # the slow part: torch
line = sys.stdin.readline()
sys.exit(main(json.loads(line)) if line.strip() else 0)
"""
"""A trainer started ahead of time: it imports torch and the trainer, then waits for the
arguments of ``genet-lab train`` as one JSON line on stdin (an empty line ends it)."""


class WarmTrainer:
    """One waiting ``python -c WARM_CODE`` process and the file its stderr goes to."""

    def __init__(self, python: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.err = tempfile.TemporaryFile(mode="w+")
        try:
            self.proc = subprocess.Popen(
                [python or sys.executable, "-c", WARM_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.err,
                text=True,
                bufsize=1,
                env=child_env(env),
            )
        except OSError:
            self.err.close()
            raise

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@dataclass(frozen=True)
class StrayLine:
    """A line of the trainer's stdout that is not an event."""

    line: str
    reason: str


def parse_event(line: str) -> TrainingEvent | StrayLine:
    """One stdout line of ``train --events``: its event, or why it is none."""
    try:
        return from_dict(json.loads(line))
    except (ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError; a list has no .get
        return StrayLine(line, str(exc))


class TrainProcess:
    """One ``genet-lab train --events`` child: started cold, or handed to a :class:`WarmTrainer`.

    :meth:`events` blocks while it reads (call it from a worker thread); :meth:`kill` may be
    called from any thread. Raises OSError when the process cannot be started.
    """

    def __init__(self, argv: Sequence[str], warm: WarmTrainer | None = None, env: Mapping[str, str] | None = None):
        self.argv = list(argv)
        self.killed = False
        if warm is not None:  # the trainer is imported already: give it the command line
            self.proc, self._err = warm.proc, warm.err
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(self.argv[3:]) + "\n")
            self.proc.stdin.close()
            return
        self._err = tempfile.TemporaryFile(mode="w+")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=subprocess.PIPE,
                stderr=self._err,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=child_env(env),
            )
        except OSError:
            self._err.close()
            raise

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def events(self) -> Iterator[TrainingEvent | StrayLine]:
        """Each non-empty stdout line, parsed, until the process closes its output."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                yield parse_event(line.strip())

    def finish(self) -> tuple[int, str]:
        """Wait for the exit: (return code, the last 2,000 characters of stderr); closes the stderr file."""
        rc = self.proc.wait()
        self._err.seek(0)
        tail = self._err.read()[-2000:]
        self._err.close()
        return rc, tail

    def kill(self) -> None:
        if self.running:
            self.killed = True
            self.proc.kill()


class TrainSupervisor:
    """A front end's trainings: one :class:`TrainProcess` at a time and one warm trainer waiting.

    ``command`` replaces ``python -m genet_lab train`` (tests use a fake trainer; no warm one then).
    """

    def __init__(self, python: str | None = None, command: Sequence[str] | None = None):
        self.python = python or sys.executable
        self.command = list(command) if command is not None else None
        self.process: TrainProcess | None = None
        self.warm: WarmTrainer | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    @property
    def can_warm(self) -> bool:
        return self.command is None and not os.environ.get("GENET_LAB_NO_WARM")

    def warm_up(self) -> None:
        """Start a trainer ahead of the next training (not while one runs: it would compete for the CPU)."""
        if not self.can_warm or self.running or (self.warm is not None and self.warm.alive):
            return
        if self.warm is not None:
            self.warm.close()
        try:
            self.warm = WarmTrainer(self.python)
        except OSError:
            self.warm = None  # trainings start cold

    def argv(self, genome: Genome, dataset: str, preset: str, epochs: int | None, extra: str, recipe: str | None):
        """The training's command line (see :func:`train_argv`), with ``command`` in front when set."""
        argv = train_argv(self.python, genome, dataset, preset, epochs, extra, recipe)
        return argv if self.command is None else [*self.command, *argv[4:]]

    def take_warm(self) -> WarmTrainer | None:
        """The warm trainer, if one is alive (it is then this caller's); None otherwise."""
        warm, self.warm = self.warm, None
        if warm is not None and not warm.alive:
            warm.close()
            return None
        return warm if self.command is None else None

    def start(self, argv: Sequence[str], warm: WarmTrainer | None = None) -> TrainProcess:
        """Start a training (on ``warm`` when given); OSError when it cannot start."""
        self.process = TrainProcess(argv, warm)
        return self.process

    def cancel(self) -> bool:
        """Kill the running training; False when none runs."""
        if not self.running or self.process is None:
            return False
        self.process.kill()
        return True

    def close(self) -> None:
        """Kill the training and the warm trainer (the front end is going away)."""
        self.cancel()
        if self.warm is not None:
            self.warm.close()
            self.warm = None
