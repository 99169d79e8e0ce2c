"""An evolution run in another process: :class:`RunControl`, its store watched and its process.

A run is a ``python -m genet_lab evolve --resume DIR --json`` (``random-search`` for random search) child on a
run that :func:`genet_lab.evolution.run.create_run` made from a typed config; the front end only
reads the store, read-only, and may follow a run that another process writes or one that has
finished. A process that exits with an error is reported as a :class:`ProcessExit` holding its
``error:`` line, a store that cannot be read raises :class:`~genet_lab.errors.UsageError`, a store
that is not there yet (or busy) raises :class:`NotReady`.

Knows the command line and the store's readers only: no torch, no Textual, no ipywidgets.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from genet_lab.errors import UsageError
from genet_lab.evolution.records import GenerationStats, Individual, RunStatus
from genet_lab.evolution.store import RunStore, is_run_dir
from genet_lab.evolution.strategies import KINDS
from genet_lab.processes import PARENT_ENV

if TYPE_CHECKING:
    from genet_lab.evolution.config import SearchConfig

COMMANDS = {kind: "random-search" if kind == "random" else "evolve" for kind in KINDS}
"""Every stored run kind -> the command that runs (and resumes) it: random search is
``random-search``, every other strategy (the GA, aging evolution, local search) ``evolve``."""


def command_of(kind: str | None) -> str:
    """The command of a run of ``kind`` (``evolve`` for a kind this version does not know: the CLI
    then says which command holds it, in one line)."""
    return COMMANDS.get(kind or "ga", "evolve")


STOP_SECONDS = 5.0
"""How long :meth:`RunProcess.stop` waits after SIGTERM, and again after SIGKILL."""


class RunError(UsageError):
    """A run could not be started or resumed; the message says why."""


class NotReady(Exception):
    """The run directory holds no store yet, or the store is busy: poll again later."""


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a run process: this one's, unbuffered output, and this process's pid in
    :data:`~genet_lab.processes.PARENT_ENV` so that the child (paused or not) ends with it."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid()), **(env or {})}


def resume_argv(run_dir: str | Path, command: str = "evolve", python: str | None = None) -> list[str]:
    """``python -m genet_lab evolve --resume DIR --json``: run (or continue) a created run."""
    if command not in COMMANDS.values():
        raise ValueError(f"command must be 'evolve' or 'random-search', got {command!r}")
    return [python or sys.executable, "-m", "genet_lab", command, "--resume", str(run_dir), "--json"]


# -- the run process -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessExit:
    """How a run process ended."""

    returncode: int
    error: str
    """The last ``error:`` line of its output (else its last line); empty when there is none."""
    stopped: bool
    """Ended by :meth:`RunProcess.stop` (or another's SIGTERM/SIGKILL), not by itself."""

    @property
    def failed(self) -> bool:
        return self.returncode != 0 and not self.stopped

    def message(self) -> str:
        return f"the run process exited with status {self.returncode}" + (f": {self.error}" if self.error else "")


class RunProcess:
    """One ``genet-lab evolve`` child process.

    Its output goes to ``log`` (stdout and stderr) when given, else stdout is
    dropped and stderr kept in a temporary file, for the error line. The child
    runs in its own session, so an interrupt meant for the front end (Ctrl+C in
    a notebook) does not reach it; :meth:`stop` does.
    """

    def __init__(self, argv: Sequence[str], log: Path | None = None, env: Mapping[str, str] | None = None):
        self.argv = list(argv)
        self.log = log
        self.paused = False
        self._exit: ProcessExit | None = None
        self._stopping = False
        # without a log, stdout (the live table, or --json's report) is dropped: the store has it all
        out: IO[bytes] = open(log, "w+b") if log is not None else tempfile.TemporaryFile(mode="w+b")
        stdout: IO[bytes] | int = out if log is not None else subprocess.DEVNULL
        self._out = out
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=stdout,
                stderr=out,
                stdin=subprocess.DEVNULL,
                env=child_env(env),
                start_new_session=True,
            )
        except OSError as exc:
            out.close()
            raise RunError(f"cannot start {' '.join(self.argv[:4])}: {exc}") from None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def pause(self) -> None:
        """Suspend the process (SIGSTOP); :meth:`cont` lets it go on."""
        if self.running and not self.paused:
            self.popen.send_signal(signal.SIGSTOP)
            self.paused = True

    def cont(self) -> None:
        if self.running and self.paused:
            self.popen.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = STOP_SECONDS) -> ProcessExit:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL and wait again. Finished
        evaluations are kept in the store; ``--resume`` continues the run."""
        if self.running:
            self._stopping = True
            self.cont()  # a stopped process cannot act on SIGTERM
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        exit_ = self.exit()
        assert exit_ is not None
        return exit_

    def exit(self) -> ProcessExit | None:
        """None while the process runs; then how it ended (the same value every call)."""
        if self._exit is None and self.popen.poll() is not None:
            rc = self.popen.returncode
            stopped = self._stopping or rc in (-signal.SIGTERM, -signal.SIGKILL, 128 + signal.SIGTERM)  # 143: the CLI's
            self._exit = ProcessExit(rc, _error_line(self.tail()), stopped)
            self.paused = False
        return self._exit

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the process's output (stderr only without a log)."""
        if self._out.closed:
            return ""
        fd = self._out.fileno()
        # pread leaves the offset alone: the child writes through the same open file
        text = os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        """Release the output file (the process itself is left alone: :meth:`stop` ends it)."""
        self.exit()
        self._out.close()


def _error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or [""])[-1]


# -- the store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What a poll of the store found."""

    config: dict[str, Any]
    """The search config as stored, with ``kind`` and ``seed``."""
    status: RunStatus
    generations: tuple[GenerationStats, ...]
    """Finished generations (Table 1's rows), oldest first."""
    current: tuple[Individual, ...]
    """The latest generation's individuals."""
    events: tuple[tuple[int, object], ...]
    """(seq, event) stored since the previous poll."""
    changed: bool
    """False when nothing but the status was read again (no new event)."""

    @property
    def state(self) -> str:
        return self.status.state


class RunWatcher:
    """Polls one run directory's store, read-only; the store may not exist yet."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.seq = 0
        self.last: Snapshot | None = None
        self._store: RunStore | None = None

    def _open(self) -> RunStore:
        if self._store is None:
            if not is_run_dir(self.run_dir):
                raise NotReady(f"{self.run_dir} holds no run yet (no run.sqlite)")
            self._store = RunStore(self.run_dir, readonly=True)  # UsageError for a foreign file
        return self._store

    def poll(self) -> Snapshot:
        """Read what changed since the last poll. Raises NotReady (try again) or UsageError."""
        store = self._open()
        try:
            events = store.events_since(self.seq)
            status = store.status()  # cheap, and a writer may die without an event
            if events or self.last is None or not self.last.generations:
                config, gens = store.config(), tuple(store.generations())
                current = tuple(store.individuals(status.gen)) if status.gen is not None else ()
                changed = True
            else:
                config, gens, current, changed = self.last.config, self.last.generations, self.last.current, False
        except sqlite3.OperationalError as exc:  # a writer holds the database for a moment
            raise NotReady(f"the store is busy ({exc})") from None
        if events:
            self.seq = events[-1][0]
        self.last = Snapshot(config, status, gens, current, tuple(events), changed)
        return self.last

    def status(self) -> RunStatus:
        """The run's status now, without counting as a poll (NotReady when there is no store)."""
        try:
            return self._open().status()
        except sqlite3.OperationalError as exc:
            raise NotReady(f"the store is busy ({exc})") from None

    def individuals(self, gen: int) -> list[Individual]:
        """Generation ``gen``'s individuals (NotReady while the store is busy)."""
        try:
            return self._open().individuals(gen)
        except sqlite3.OperationalError as exc:
            raise NotReady(f"the store is busy ({exc})") from None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# -- both ------------------------------------------------------------------------------------


class RunControl:
    """A run directory: its store, watched, and the process this session started on it (if any)."""

    def __init__(self, run_dir: str | Path, python: str | None = None):
        self.run_dir = Path(run_dir)
        self.python = python
        self.watcher = RunWatcher(self.run_dir)
        self.process: RunProcess | None = None
        self.kind: str | None = None
        """The run's kind (ga, random, aging, local) once known: from the config it was created with, or the store."""

    @classmethod
    def create(
        cls,
        run_dir: str | Path,
        config: SearchConfig,
        python: str | None = None,
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunControl:
        """Create the run from ``config`` (:func:`genet_lab.evolution.run.create_run`: resolved,
        validated, stored; no data loaded) and start ``evolve --resume DIR`` (or random-search) on it.

        Raises :class:`~genet_lab.errors.UsageError` (RunExists, a bad config) before any process starts.
        """
        from genet_lab.evolution.run import create_run  # the core makes the run: no data, no torch

        run_dir = Path(create_run(run_dir, config))
        control = cls(run_dir, python)
        control.kind = config.kind
        control.process = RunProcess(resume_argv(run_dir, command_of(config.kind), python), log, env)
        return control

    @property
    def command(self) -> str:
        """The command that runs (and resumes) this run: random-search for random search, else evolve."""
        kind = self.kind
        if kind is None and self.watcher.last is not None:
            kind = self.watcher.last.config.get("kind")
        return command_of(kind)

    @property
    def running(self) -> bool:
        """Whether the process this session started is alive."""
        return self.process is not None and self.process.running

    @property
    def paused(self) -> bool:
        return self.process is not None and self.process.paused

    def poll(self) -> Snapshot:
        """See :meth:`RunWatcher.poll`."""
        try:
            snap = self.watcher.poll()
        except UsageError as exc:
            if self.running and self.watcher.last is None:  # our child is creating the store right now
                raise NotReady(f"the run is being created ({exc})") from None
            raise
        self.kind = snap.config.get("kind", self.kind)
        return snap

    def reap(self) -> ProcessExit | None:
        """How this session's process ended, once it has (then the process is forgotten); else None."""
        process = self.process
        ended = None if process is None else process.exit()
        if process is None or ended is None:
            return None
        process.close()
        self.process = None
        return ended

    def pause(self) -> None:
        if self.process is not None:
            self.process.pause()

    def cont(self) -> None:
        if self.process is not None:
            self.process.cont()

    def stop(self, timeout: float = STOP_SECONDS) -> ProcessExit | None:
        """End this session's process (see :meth:`RunProcess.stop`); None when there is none."""
        return None if self.process is None else self.process.stop(timeout)

    def resume(self, log: Path | None = None, env: Mapping[str, str] | None = None) -> RunStatus:
        """Continue the stored run with ``--resume`` in a new process; returns the status it resumed from.

        Raises RunError while this session's process or another writer is still on it.
        """
        if self.running:
            raise RunError(f"the run in {self.run_dir} is still going")
        try:
            status = self.watcher.status()
        except NotReady as exc:
            raise RunError(f"cannot resume {self.run_dir}: {exc}") from None
        if status.state == "running":
            raise RunError(f"another process is writing {self.run_dir}")
        if self.process is not None:
            self.process.close()
        self.kind = status.kind
        self.process = RunProcess(resume_argv(self.run_dir, command_of(status.kind), self.python), log, env)
        return status

    def close(self, stop: bool = True) -> None:
        """Close the store; with ``stop``, end this session's process first."""
        if self.process is not None:
            if stop:
                self.process.stop()
            self.process.close()
        self.watcher.close()
