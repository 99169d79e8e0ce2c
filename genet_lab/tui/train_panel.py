"""The training pane: train the edited genome in a subprocess and compare results.

Training runs as ``python -m genet_lab train GENOME --events ...``: a child
process that prints one JSON line per event of :mod:`genet_lab.training.events`
(TrainingStarted, TrainingProgress..., TrainingFinished). A thread worker reads
those lines and posts them as messages; cancelling kills the child. So this
module never imports torch, and a crashed training cannot take the terminal
down with it.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static
from textual_plotext import PlotextPlot

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import list_presets
from genet_lab.training.events import TrainingEvent, TrainingFinished, TrainingProgress, TrainingStarted, from_dict
from genet_lab.training.recipes import DEFAULT_RECIPE, RECIPES

if TYPE_CHECKING:
    from genet_lab.tui.app import GenetLabApp

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "svhn")
"""Offered in the data set picker; 'digits' is embedded and needs no files."""


def train_argv(python: str, genome: Genome, dataset: str, preset: str, epochs: int | None, extra: str = "",
               recipe: str = DEFAULT_RECIPE) -> list[str]:
    """The command line of one training run (``extra`` is split like a shell would); ``epochs``
    None leaves the data set's default, as ``genet-lab train`` does."""
    budget = [] if epochs is None else ["--epochs", str(epochs)]
    return [python, "-m", "genet_lab", "train", genome.notation(), "--events", "--dataset", dataset,
            "--preset", preset, "--recipe", recipe, *budget, *shlex.split(extra)]


@dataclass
class SessionResult:
    """One row of the session list."""

    genome: str
    dataset: str
    preset: str
    epochs: int | None
    """None until the trainer says how many the data set's default is."""
    state: str = "running"
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    seconds: float | None = None
    error: str | None = None
    curve: list[TrainingProgress] = field(default_factory=list)
    """The progress events as they came."""


class TrainPane(Vertical):
    """Train one genome at a time; every run stays in the session table."""

    BINDINGS = [
        Binding("t", "train", "Train"),
        Binding("k,escape", "cancel", "Cancel"),
        Binding("e", "to_editor", "Load row", show=False),
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

    def compose(self) -> ComposeResult:
        yield Static(id="train-genome")
        with Horizontal(id="train-controls"):
            yield Select([(d, d) for d in DATASETS], value="digits", allow_blank=False, id="train-dataset")
            yield Select([(p, p) for p in list_presets()], value="paper-cifar10", allow_blank=False, id="train-preset")
            yield Select([(r, r) for r in RECIPES], value=DEFAULT_RECIPE, allow_blank=False, id="train-recipe")
            yield Button("Train", variant="success", id="train-start")
            yield Button("Cancel", variant="error", id="train-cancel", disabled=True)
        with Horizontal(id="train-options"):
            yield Input("", placeholder="epochs", type="integer", id="train-epochs",
                        tooltip="epochs; empty: the data set's default, as genet-lab train")
            yield Input("", placeholder="more options, e.g. --train-size 500 --lr 0.03", id="train-extra")
        with Horizontal(id="train-status"):
            yield ProgressBar(total=1, show_eta=False, id="train-progress")
            yield Label("idle: press t to train the genome of the editor", id="train-label")
        yield PlotextPlot(id="train-plot")
        yield DataTable(id="train-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "genome", "data", "ep", "val acc", "params", "time", "state")
        self.set_genome(self.genome)
        self._plot(None)

    def default_focus(self) -> DataTable:
        return self.query_one(DataTable)

    def set_genome(self, genome: Genome) -> None:
        self.genome = genome
        self.query_one("#train-genome", Static).update(f"[b]Genome[/b]  [reverse] {genome.notation()} [/]  "
                                                       "[dim](edit it in the editor, 1)[/dim]")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- start / cancel ---------------------------------------------------------------
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

    @work(thread=True, exclusive=True, group="train")
    def _run(self, run: int, argv: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with tempfile.TemporaryFile(mode="w+") as err:
            try:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                        text=True, bufsize=1, env=env)
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
        if isinstance(event, TrainingStarted):
            r.epochs = event.train.get("epochs", r.epochs)
            self._refresh_row(message.run)
            size = event.dataset.get("train"), event.dataset.get("val")
            self._set_label(f"training on {event.dataset.get('dataset')}: {size[0]} images, {size[1]} for "
                            f"validation, {event.train.get('epochs')} epochs")
        elif isinstance(event, TrainingProgress):
            r.curve.append(event)
            bar = self.query_one(ProgressBar)
            bar.update(total=max(event.epochs, 1), progress=max(0.0, min(event.done, event.epochs)))
            acc = event.val_accuracy
            self._set_label(f"epoch {event.epoch}/{event.epochs}  loss {event.loss:.3f}"
                            + (f"  val acc {acc:.3f}" if acc is not None else ""))
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
        self.notify(f"ignored a line of the trainer that is not an event ({message.reason}): {message.line[:80]}",
                    severity="warning")

    def on_train_pane_ended(self, message: Ended) -> None:
        r = self.results[message.run]
        self._proc = None
        if message.run in self._cancelled:
            r.state = "cancelled"
        elif r.state == "running":
            r.state = "failed"
            last = [ln for ln in message.stderr_tail.splitlines() if ln.strip()]
            r.error = last[-1] if last else f"exit status {message.returncode}"
        self._refresh_row(message.run)
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

    def _set_label(self, text: str) -> None:
        self.query_one("#train-label", Label).update(text)

    def _cells(self, run: int) -> tuple:
        r = self.results[run]
        acc = f"{r.val_accuracy:.4f}" if r.val_accuracy is not None else "-"
        epochs = "-" if r.epochs is None else str(r.epochs)
        return (str(run + 1), r.genome, r.dataset, epochs, acc, f"{r.params:,}" if r.params else "-",
                f"{r.seconds:.1f}s" if r.seconds is not None else "-", r.state)

    def _refresh_row(self, run: int) -> None:
        table = self.query_one(DataTable)
        for col, value in enumerate(self._cells(run)):
            table.update_cell_at(Coordinate(run, col), value)

    def _plot(self, r: SessionResult | None) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("training: loss (left) and validation accuracy (right)")
        plt.xlabel("epoch")
        if r is not None and r.curve:
            steps = [p for p in r.curve if p.loss is not None]
            epochs = [p for p in r.curve if p.val_accuracy is not None]
            if steps:
                plt.plot([p.done for p in steps], [p.loss for p in steps], label="loss", color="red")
            if epochs:
                plt.plot([p.done for p in epochs], [p.val_accuracy for p in epochs], label="val acc", color="green",
                         yside="right", marker="dot")
        widget.refresh()

    def on_unmount(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:  # self.running
            proc.kill()
