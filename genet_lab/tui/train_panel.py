"""The training pane: train the edited genome in a subprocess and compare results.

Training runs as ``python -m genet_lab train GENOME --events ...``: a child
process that prints one JSON line per event of :mod:`genet_lab.training.events`
(TrainingStarted, TrainingProgress..., TrainingFinished). A thread worker reads
those lines and posts them as messages; cancelling kills the child. So this
module never imports torch, and a crashed training cannot take the terminal
down with it.

Start-up: importing torch takes seconds, so the pane keeps one *warm* trainer
process ready (``python -c WARM_CODE``: the trainer imported, waiting for its
command line on stdin) and hands it the next training; until the first
progress the label says what the trainer is doing (its TrainingPhase events).
Every finished training is appended to the history (:mod:`genet_lab.tui.history`)
and past ones are listed in the table: selecting a row shows its curve.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static
from textual_plotext import PlotextPlot

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import list_presets
from genet_lab.training.events import (
    TrainingEvent,
    TrainingFinished,
    TrainingPhase,
    TrainingProgress,
    TrainingStarted,
    from_dict,
)
from genet_lab.training.recipes import DEFAULT_RECIPE, RECIPES
from genet_lab.tui import history

if TYPE_CHECKING:
    from genet_lab.tui.app import GenetLabApp

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "svhn")
"""Offered in the data set picker; 'digits' is embedded and needs no files."""


def train_argv(
    python: str,
    genome: Genome,
    dataset: str,
    preset: str,
    epochs: int | None,
    extra: str = "",
    recipe: str = DEFAULT_RECIPE,
) -> list[str]:
    """The command line of one training run (``extra`` is split like a shell would); ``epochs``
    None leaves the data set's default, as ``genet-lab train`` does."""
    budget = [] if epochs is None else ["--epochs", str(epochs)]
    return [
        python,
        "-m",
        "genet_lab",
        "train",
        genome.notation(),
        "--events",
        "--phases",
        "--dataset",
        dataset,
        "--preset",
        preset,
        "--recipe",
        recipe,
        *budget,
        *shlex.split(extra),
    ]


WARM_CODE = """\
import json, sys
from genet_lab.cli.main import main
import genet_lab.cli.train, genet_lab.training.data, genet_lab.training.trainer  # the slow part: torch
line = sys.stdin.readline()
sys.exit(main(json.loads(line)) if line.strip() else 0)
"""
"""A trainer started ahead of time: it imports torch and the trainer, then waits for the
arguments of ``genet-lab train`` as one JSON line on stdin (an empty line ends it)."""

WARM_AFTER_SECONDS = 1.0
"""Delay before a warm trainer is started once the Train pane is shown (a quick look costs nothing)."""


class WarmTrainer:
    """One waiting ``python -c WARM_CODE`` process and the file its stderr goes to."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [python, "-c", WARM_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
            bufsize=1,
            env=env,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@dataclass
class SessionResult:
    """One row of the session list."""

    genome: str
    dataset: str
    preset: str
    epochs: int | None
    """None until the trainer says how many the data set's default is."""
    state: str = "running"
    finished: float | None = None
    """Unix time it ended; set for past trainings read from the history too."""
    past: bool = False
    """Read from the history (a training of an earlier session)."""
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    seconds: float | None = None
    error: str | None = None
    curve: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    """(epochs done, loss, validation accuracy) of each progress event, as they came."""

    @classmethod
    def of_past(cls, p: history.PastTraining) -> SessionResult:
        return cls(
            p.genome,
            p.dataset,
            p.preset,
            p.epochs,
            p.state,
            p.finished,
            True,
            p.val_accuracy,
            p.test_accuracy,
            p.params,
            p.seconds,
            p.error,
            list(p.points),
        )

    def to_past(self) -> history.PastTraining:
        return history.PastTraining(
            self.genome,
            self.dataset,
            self.preset,
            self.epochs,
            self.state,
            self.finished or time.time(),
            self.val_accuracy,
            self.test_accuracy,
            self.params,
            self.seconds,
            self.error,
            list(self.curve),
        )


class EpochsInput(Input):
    """The epochs box: digits only, so ``t`` (which could never be typed here) trains, as elsewhere in the pane."""

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "t":
            event.stop()
            event.prevent_default()
            for pane in self.ancestors:
                if isinstance(pane, TrainPane):
                    pane.action_train()
            return
        await super()._on_key(event)


class TrainPane(Vertical):
    """Train one genome at a time; every run stays in the session table."""

    BINDINGS = [
        Binding("t", "train", "Train"),
        Binding("k,escape", "cancel", "Cancel"),
        Binding("e", "to_editor", "Edit row"),
    ]

    @dataclass
    class Event(Message):
        """One event from the training process."""

        run: int
        event: TrainingEvent

    @dataclass
    class Stray(Message):
        """A line of the training process's stdout that is not an event."""

        run: int
        line: str
        reason: str

    @dataclass
    class Ended(Message):
        """The training process exited."""

        run: int
        returncode: int
        stderr_tail: str

    def __init__(self, genome: Genome, python: str | None = None, command: list[str] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.genome = genome
        self.python = python or sys.executable
        self.command = command
        """Replaces ``python -m genet_lab train`` (tests use a fake trainer)."""
        self.results: list[SessionResult] = []
        self._proc: subprocess.Popen | None = None
        self._cancelled: set[int] = set()
        self._strays: set[int] = set()
        self._warm: WarmTrainer | None = None
        self._started_at = 0.0
        self.startup_seconds: list[float] = []
        """Seconds from pressing Train to the first progress, per training of this session."""
        self.history_note = ""
        """What loading the history said (unreadable lines skipped), '' when all was well."""

    def compose(self) -> ComposeResult:
        yield Static(id="train-genome")
        with Horizontal(id="train-controls"):
            yield Select([(d, d) for d in DATASETS], value="digits", allow_blank=False, id="train-dataset")
            yield Select([(p, p) for p in list_presets()], value="paper-cifar10", allow_blank=False, id="train-preset")
            yield Select([(r, r) for r in RECIPES], value=DEFAULT_RECIPE, allow_blank=False, id="train-recipe")
            yield Button("Train", variant="success", id="train-start")
            yield Button("Cancel", variant="error", id="train-cancel", disabled=True)
        with Horizontal(id="train-options"):
            yield EpochsInput(
                "",
                placeholder="epochs",
                type="integer",
                id="train-epochs",
                tooltip="epochs; empty: the data set's default, as genet-lab train. Enter or t trains",
            )
            yield Input(
                "", placeholder="more options, e.g. --train-size 500 --lr 0.03 (Enter trains)", id="train-extra"
            )
        with Horizontal(id="train-status"):
            yield ProgressBar(total=1, show_eta=False, id="train-progress")
            yield Label("idle: press t to train the genome of the editor", id="train-label")
        yield PlotextPlot(id="train-plot")
        yield DataTable(id="train-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "state", "val acc", "ep", "time", "params", "data", "genome", "when")
        self.set_genome(self.genome)
        self._plot(None)
        self._load_history()

    def _load_history(self) -> None:
        past, bad = history.load()
        table = self.query_one(DataTable)
        for p in past:
            self.results.append(SessionResult.of_past(p))
            run = len(self.results) - 1
            table.add_row(*self._cells(run), key=str(run))
        if bad:  # said once, at start-up
            self.history_note = f"skipped {bad} unreadable line(s) of {history.history_path()}"
            self.notify(self.history_note, severity="warning", timeout=8)
        if past:
            self._set_label(
                f"idle: t trains the editor's genome; {len(past)} past training(s) listed below (select one: its curve)"
            )
            table.move_cursor(row=len(past) - 1)

    def on_show(self) -> None:
        if self.command is None and self._warm is None and not os.environ.get("GENET_LAB_NO_WARM"):
            self.set_timer(WARM_AFTER_SECONDS, self._warm_up)

    def _warm_up(self) -> None:
        """Start a trainer ahead of the next training (not while one runs: it would compete for the CPU)."""
        if self.command is not None or self.running or (self._warm is not None and self._warm.alive):
            return
        if self._warm is not None:
            self._warm.close()
        try:
            self._warm = WarmTrainer(self.python, {**os.environ, "PYTHONUNBUFFERED": "1"})
        except OSError:
            self._warm = None  # trainings start cold

    def _take_warm(self) -> WarmTrainer | None:
        warm, self._warm = self._warm, None
        if warm is not None and not warm.alive:
            warm.close()
            return None
        return warm

    def default_focus(self) -> DataTable:
        return self.query_one(DataTable)

    def set_genome(self, genome: Genome) -> None:
        self.genome = genome
        self.query_one("#train-genome", Static).update(
            f"[b]Genome[/b]  [reverse] {genome.notation()} [/]  [dim](edit it in the editor, 1)[/dim]"
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- start / cancel ---------------------------------------------------------------
    @on(Input.Submitted)
    @on(Button.Pressed, "#train-start")
    def action_train(self) -> None:
        if self.running:
            self.notify("a training is running; cancel it first (k)", severity="warning")
            return
        text = self.query_one("#train-epochs", Input).value.strip()
        try:
            epochs = int(text) if text else None
            if epochs is not None and epochs < 1:
                raise ValueError
        except ValueError:
            self.notify("epochs must be a positive integer (empty: the data set's default)", severity="error")
            return
        recipe = str(self.query_one("#train-recipe", Select).value)
        dataset = str(self.query_one("#train-dataset", Select).value)
        preset = str(self.query_one("#train-preset", Select).value)
        extra = self.query_one("#train-extra", Input).value
        try:
            argv = train_argv(self.python, self.genome, dataset, preset, epochs, extra, recipe)
        except ValueError as exc:
            self.notify(f"cannot read the options: {exc}", severity="error")
            return
        if self.command is not None:
            argv = [*self.command, *argv[4:]]
        self.results.append(SessionResult(self.genome.notation(), dataset, preset, epochs))
        run = len(self.results) - 1
        table = self.query_one(DataTable)
        table.add_row(*self._cells(run), key=str(run))
        table.move_cursor(row=run)
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        self._started_at = time.monotonic()
        self._set_label(f"starting: {' '.join(argv[1:5])} ...")
        self.query_one("#train-start", Button).disabled = True
        self.query_one("#train-cancel", Button).disabled = False
        self._plot(None)
        self._run(run, argv)

    @on(Button.Pressed, "#train-cancel")
    def action_cancel(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self.notify("no training is running")
            return
        self._cancelled.add(len(self.results) - 1)
        proc.kill()
        self.notify("training cancelled")

    def action_to_editor(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            from genet_lab.encoding.genome import parse

            app = cast("GenetLabApp", self.app)
            app.editor.set_genome(parse(self.results[table.cursor_row].genome), "from the session list")

    def _run(self, run: int, argv: list[str]) -> None:
        warm = self._take_warm() if self.command is None else None
        self._run_in(run, argv, warm)

    @work(thread=True, exclusive=True, group="train")
    def _run_in(self, run: int, argv: list[str], warm: WarmTrainer | None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with tempfile.TemporaryFile(mode="w+") if warm is None else warm.err as err:
            try:
                if warm is not None:  # the trainer is imported already: give it the command line
                    proc = warm.proc
                    assert proc.stdin is not None
                    proc.stdin.write(json.dumps(argv[3:]) + "\n")
                    proc.stdin.close()
                else:
                    proc = subprocess.Popen(
                        argv,
                        stdout=subprocess.PIPE,
                        stderr=err,
                        stdin=subprocess.DEVNULL,
                        text=True,
                        bufsize=1,
                        env=env,
                    )
            except OSError as exc:
                self._post(self.Ended(run, -1, str(exc)))
                return
            self._proc = proc
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.strip()
                if line:
                    self._post(self._message(run, line))
            rc = proc.wait()
            err.seek(0)
            tail = err.read()[-2000:]
        self._post(self.Ended(run, rc, tail))

    def _message(self, run: int, line: str) -> Message:
        try:
            return self.Event(run, from_dict(json.loads(line)))
        except (ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError; a list has no .get
            return self.Stray(run, line, str(exc))

    def _post(self, message: Message) -> None:
        """Hand a message from the reader thread to the app's event loop."""
        try:
            self.app.call_from_thread(self.post_message, message)
        except RuntimeError:  # the app is shutting down
            pass

    # -- events --------------------------------------------------------------------------
    def on_train_pane_event(self, message: Event) -> None:
        r = self.results[message.run]
        event = message.event
        if isinstance(event, TrainingPhase):
            self._set_label(f"{event.phase} ({time.monotonic() - self._started_at:.1f} s): {event.detail} ...")
        elif isinstance(event, TrainingStarted):
            r.epochs = event.train.get("epochs", r.epochs)
            self._refresh_row(message.run)
            size = event.dataset.get("train"), event.dataset.get("val")
            self._set_label(
                f"training on {event.dataset.get('dataset')}: {size[0]} images, {size[1]} for "
                f"validation, {event.train.get('epochs')} epochs"
            )
        elif isinstance(event, TrainingProgress):
            if not r.curve:
                self.startup_seconds.append(time.monotonic() - self._started_at)
            r.curve.append((event.done, event.loss, event.val_accuracy))
            bar = self.query_one(ProgressBar)
            bar.update(total=max(event.epochs, 1), progress=max(0.0, min(event.done, event.epochs)))
            acc = event.val_accuracy
            self._set_label(
                f"epoch {event.epoch}/{event.epochs}  loss {event.loss:.3f}"
                + (f"  val acc {acc:.3f}" if acc is not None else "")
            )
            if self.query_one(DataTable).cursor_row == message.run:  # not while a past curve is looked at
                self._plot(r)
        elif isinstance(event, TrainingFinished):
            r.val_accuracy, r.test_accuracy = event.val_accuracy, event.test_accuracy
            r.params, r.seconds, r.error = event.params, event.seconds, event.error
            r.state = "failed" if event.failed else "done"
        self._refresh_row(message.run)

    def on_train_pane_stray(self, message: Stray) -> None:
        if message.run in self._strays:  # one warning per run is enough
            return
        self._strays.add(message.run)
        self.notify(
            f"ignored a line of the trainer that is not an event ({message.reason}): {message.line[:80]}",
            severity="warning",
        )

    def on_train_pane_ended(self, message: Ended) -> None:
        r = self.results[message.run]
        self._proc = None
        if message.run in self._cancelled:
            r.state, r.error = "cancelled", "the training process was stopped (k); t trains again"
        elif r.state == "running":
            r.state = "failed"
            last = [ln for ln in message.stderr_tail.splitlines() if ln.strip()]
            r.error = last[-1] if last else f"exit status {message.returncode}"
        r.finished = time.time()
        self._refresh_row(message.run)
        self._remember(r)
        self.query_one("#train-start", Button).disabled = False
        self.query_one("#train-cancel", Button).disabled = True
        bar = self.query_one(ProgressBar)
        if r.state == "done":
            bar.update(total=1, progress=1)
            self._set_label(f"done: val acc {r.val_accuracy:.4f} in {r.seconds or 0:.1f}s")
        else:
            bar.update(total=1, progress=0)
            self._set_label(f"{r.state}: {r.error or ''}"[:200])
            if r.state == "failed":
                self.notify(f"training failed: {r.error}", severity="error", timeout=8)
        self._plot(r)
        if self.command is None and not os.environ.get("GENET_LAB_NO_WARM"):
            self.set_timer(WARM_AFTER_SECONDS, self._warm_up)  # ready for the next one

    def _remember(self, r: SessionResult) -> None:
        try:
            history.append(r.to_past())
        except OSError as exc:
            self.notify(
                f"could not add the training to the history {history.history_path()}: {exc}",
                severity="warning",
                timeout=8,
            )

    @on(DataTable.RowHighlighted, "#train-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """A past (or finished) training: its curve and result."""
        run = event.cursor_row
        if run is None or not 0 <= run < len(self.results) or (self.running and run == len(self.results) - 1):
            return
        r = self.results[run]
        self._plot(r)
        if r.state == "running":
            return
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.finished)) if r.finished else ""
        result = f"val acc {r.val_accuracy:.4f}" if r.val_accuracy is not None else (r.error or "")
        self._set_label(
            f"{'past' if r.past else 'this session'} #{run + 1} {when}: {r.state}, {result}, "
            f"{r.dataset}, {r.epochs or '?'} epochs"[:200]
        )

    def _set_label(self, text: str) -> None:
        self.query_one("#train-label", Label).update(text)

    def _cells(self, run: int) -> tuple:
        r = self.results[run]
        acc = f"{r.val_accuracy:.4f}" if r.val_accuracy is not None else "-"
        epochs = "-" if r.epochs is None else str(r.epochs)
        when = time.strftime("%m-%d %H:%M", time.localtime(r.finished)) if r.finished else "now"
        return (
            str(run + 1),
            r.state,
            acc,
            epochs,
            f"{r.seconds:.1f}s" if r.seconds is not None else "-",
            f"{r.params:,}" if r.params else "-",
            r.dataset,
            r.genome,
            when,
        )

    def _refresh_row(self, run: int) -> None:
        table = self.query_one(DataTable)
        for col, value in enumerate(self._cells(run)):
            table.update_cell_at(Coordinate(run, col), value, update_width=True)  # "cancelled" > "running"

    def _plot(self, r: SessionResult | None) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("training: loss (left) and validation accuracy (right)")
        plt.xlabel("epoch")
        if r is not None and r.curve:
            steps = [(done, loss) for done, loss, _ in r.curve if loss is not None]
            epochs = [(done, acc) for done, _, acc in r.curve if acc is not None]
            if steps:
                plt.plot([d for d, _ in steps], [v for _, v in steps], label="loss", color="red")
            if epochs:
                plt.plot(
                    [d for d, _ in epochs],
                    [v for _, v in epochs],
                    label="val acc",
                    color="green",
                    yside="right",
                    marker="dot",
                )
        widget.refresh()

    def on_unmount(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:  # self.running
            proc.kill()
        if self._warm is not None:
            self._warm.close()
            self._warm = None
