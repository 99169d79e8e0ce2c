"""The training pane: train the edited genome in a subprocess and compare results.

A training is a ``genet-lab train GENOME --events`` child run by
:class:`genet_lab.supervisor.TrainSupervisor` (with its warm trainer: torch imported ahead of
time); a thread worker reads its events and posts them here as messages, and cancelling
kills the child. So this module never imports torch, and a crashed training cannot take the
terminal down with it. Until the first progress the label says what the trainer is doing
(its TrainingPhase events). The choices (data set, preset, recipe) and their defaults are the
catalog's, and an empty epochs box leaves the data set's budget: the pane trains exactly as
``genet-lab train`` does. Every finished training is appended to the history
(:mod:`genet_lab.tui.history`); selecting a row shows its curve.

The pane reaches into no sibling: the app sets :attr:`TrainPane.genome`, and ``e`` posts
:class:`TrainPane.EditGenome` for the app to route to the editor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static

from genet_lab.encoding.genome import Genome, parse, zeros
from genet_lab.supervisor import StrayLine, TrainSupervisor, WarmTrainer
from genet_lab.training import catalog
from genet_lab.training.events import TrainingEvent, TrainingFinished, TrainingPhase, TrainingProgress, TrainingStarted
from genet_lab.tui import history
from genet_lab.tui.train_results import SessionResult, SessionTable, TrainPlot

WARM_AFTER_SECONDS = 1.0
"""Delay before a warm trainer is started once the Train pane is shown (a quick look costs nothing)."""


def train_settings(dataset: str, preset: str, recipe: str, epochs: int | None = None) -> dict:
    """The training the pane asks for, resolved as ``genet-lab train`` resolves it: the data set's
    budget (epochs, batch size) under ``recipe``, ``epochs`` when typed."""
    from genet_lab.training.config import default_train_config  # torch-free: the records only

    config = default_train_config(dataset, recipe, epochs=epochs)
    return {"epochs": config.epochs, "batch_size": config.batch_size, "recipe": recipe, "preset": preset}


class EpochsInput(Input):
    """The epochs box: digits only, so ``t`` (which could never be typed here) trains, as elsewhere in the pane."""

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "t":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.value))
            return
        await super()._on_key(event)


class TrainPane(Vertical):
    """Train one genome at a time; every run stays in the session table."""

    BINDINGS = [
        Binding("t", "train", "Train"),
        Binding("k,escape", "cancel", "Cancel"),
        Binding("e", "to_editor", "Edit row"),
    ]

    genome: reactive[Genome] = reactive(zeros, init=False, repaint=False)
    """The genome a training trains (the app sets it from the editor)."""

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

    @dataclass
    class EditGenome(Message):
        """The user asked to edit this genome (a row of the session list)."""

        genome: Genome
        label: str

    def __init__(self, genome: Genome, python: str | None = None, command: list[str] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.set_reactive(TrainPane.genome, genome)
        self.trainer = TrainSupervisor(python, command)
        self.results: list[SessionResult] = []
        self._cancelled: set[int] = set()
        self._strays: set[int] = set()
        self._started_at = 0.0
        self.startup_seconds: list[float] = []
        """Seconds from pressing Train to the first progress, per training of this session."""
        self.history_note = ""
        """What loading the history said (unreadable lines skipped), '' when all was well."""

    @property
    def command(self) -> list[str] | None:
        """Replaces ``python -m genet_lab train`` (tests use a fake trainer)."""
        return self.trainer.command

    @command.setter
    def command(self, command: list[str] | None) -> None:
        self.trainer.command = command

    def compose(self) -> ComposeResult:
        def choice(wid: str, options: list[str], value: str) -> Select[str]:
            return Select([(o, o) for o in options], value=value, allow_blank=False, id=wid)

        yield Static(id="train-genome")
        with Horizontal(id="train-controls"):
            yield choice("train-dataset", catalog.list_datasets(listed_only=True), catalog.DEFAULT_DATASET)
            yield choice("train-preset", catalog.list_presets(), catalog.DEFAULT_PRESET)
            yield choice("train-recipe", catalog.list_recipes(), catalog.DEFAULT_RECIPE)
            yield Button("Train", variant="success", id="train-start")
            yield Button("Cancel", variant="error", id="train-cancel", disabled=True)
        with Horizontal(id="train-options"):
            yield EpochsInput(
                "",
                placeholder=self._epochs_hint(catalog.DEFAULT_DATASET),
                type="integer",
                id="train-epochs",
                tooltip="epochs; empty: the data set's budget, as genet-lab train. Enter or t trains",
            )
            yield Input("", placeholder="more options: --train-size 500 --lr 0.03 (Enter trains)", id="train-extra")
        with Horizontal(id="train-status"):
            yield ProgressBar(total=1, show_eta=False, id="train-progress")
            yield Label("idle: press t to train the genome of the editor", id="train-label")
        yield TrainPlot(id="train-plot")
        yield SessionTable(id="train-table", cursor_type="row", zebra_stripes=True)

    @staticmethod
    def _epochs_hint(dataset: str) -> str:
        return f"epochs {catalog.dataset(dataset).epochs}"

    def on_mount(self) -> None:
        self._show_genome()
        self.query_one(TrainPlot).show(None)
        self._load_history()

    def _load_history(self) -> None:
        past, bad = history.load()
        table = self.query_one(SessionTable)
        for p in past:
            self.results.append(SessionResult.of_past(p))
            table.add_result(len(self.results) - 1, self.results[-1])
        if bad:  # said once, at start-up
            self.history_note = f"skipped {bad} unreadable line(s) of {history.history_path()}"
            self.notify(self.history_note, severity="warning", timeout=8)
        elif history.not_plain():
            self.history_note = f"the history {history.history_path()} is not a plain file: not read, nothing added"
            self.notify(self.history_note, severity="warning", timeout=8)
        if past:
            self._set_label(
                f"idle: t trains the editor's genome; {len(past)} past training(s) listed below (select one: its curve)"
            )
            table.move_cursor(row=len(past) - 1)

    def watch_genome(self) -> None:
        if self.is_on_screen:  # a hidden pane draws it when shown: a toggle in the editor costs no frame here
            self._show_genome()

    def _show_genome(self) -> None:
        self.query_one("#train-genome", Static).update(
            f"[b]Genome[/b]  [reverse] {self.genome.notation()} [/]  [dim](edit it in the editor, 1)[/dim]",
            layout=False,
        )

    def on_show(self) -> None:
        self._show_genome()
        if self.trainer.warm is None and self.trainer.can_warm:
            self.set_timer(WARM_AFTER_SECONDS, self.trainer.warm_up)

    def default_focus(self) -> SessionTable:
        return self.query_one(SessionTable)

    @property
    def running(self) -> bool:
        return self.trainer.running

    @on(Select.Changed, "#train-dataset")
    def _dataset_changed(self, event: Select.Changed) -> None:
        self.query_one("#train-epochs", Input).placeholder = self._epochs_hint(str(event.value))

    def settings(self) -> dict:
        """The training the controls ask for, resolved as ``genet-lab train`` would (see :func:`train_settings`)."""
        text = self.query_one("#train-epochs", Input).value.strip()
        epochs = int(text) if text else None
        dataset, preset, recipe = (self._choice(w) for w in ("train-dataset", "train-preset", "train-recipe"))
        return train_settings(dataset, preset, recipe, epochs)

    def _choice(self, wid: str) -> str:
        return str(self.query_one(f"#{wid}", Select).value)

    # -- start / cancel ---------------------------------------------------------------
    @on(Input.Submitted)
    @on(Button.Pressed, "#train-start")
    def action_train(self) -> None:
        if self.running:
            self.notify("a training is running; cancel it first (k)", severity="warning")
            return
        text = self.query_one("#train-epochs", Input).value.strip()
        epochs = int(text) if text.isdigit() else None
        if text and (epochs is None or epochs < 1):
            self.notify("epochs must be a positive integer (empty: the data set's budget)", severity="error")
            return
        dataset, preset, recipe = (self._choice(w) for w in ("train-dataset", "train-preset", "train-recipe"))
        try:
            argv = self.trainer.argv(
                self.genome, dataset, preset, epochs, self.query_one("#train-extra", Input).value, recipe
            )
        except ValueError as exc:
            self.notify(f"cannot read the options: {exc}", severity="error")
            return
        self.results.append(SessionResult(self.genome.notation(), dataset, preset, epochs))
        run = len(self.results) - 1
        table = self.query_one(SessionTable)
        table.add_result(run, self.results[run])
        table.move_cursor(row=run)
        self.query_one(ProgressBar).update(total=None, progress=0)
        self._started_at = time.monotonic()
        self._set_label(f"starting: {' '.join(argv[1:5])} ...")
        self._buttons(running=True)
        self.query_one(TrainPlot).show(None)
        self._run(run, argv, self.trainer.take_warm())

    @on(Button.Pressed, "#train-cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.notify("no training is running")
            return
        self._cancelled.add(len(self.results) - 1)
        self.trainer.cancel()
        self.notify("training cancelled")

    def action_to_editor(self) -> None:
        table = self.query_one(SessionTable)
        if table.row_count:
            self.post_message(self.EditGenome(parse(self.results[table.cursor_row].genome), "from the session list"))

    @work(thread=True, exclusive=True, group="train")
    def _run(self, run: int, argv: list[str], warm: WarmTrainer | None) -> None:
        """Start the training and post each of its events (runs in a thread: reading blocks)."""
        try:
            proc = self.trainer.start(argv, warm)
        except OSError as exc:
            self._post(self.Ended(run, -1, str(exc)))
            return
        for item in proc.events():
            if isinstance(item, StrayLine):
                self._post(self.Stray(run, item.line, item.reason))
            else:
                self._post(self.Event(run, item))
        self._post(self.Ended(run, *proc.finish()))

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
            size = event.dataset.get("train"), event.dataset.get("val")
            self._set_label(
                f"training on {event.dataset.get('dataset')}: {size[0]} images, {size[1]} for "
                f"validation, {event.train.get('epochs')} epochs"
            )
        elif isinstance(event, TrainingProgress):
            self._progress(message.run, r, event)
        elif isinstance(event, TrainingFinished):
            r.val_accuracy, r.test_accuracy = event.val_accuracy, event.test_accuracy
            r.params, r.seconds, r.error = event.params, event.seconds, event.error
            r.state = "failed" if event.failed else "done"
        self.query_one(SessionTable).update_result(message.run, r)

    def _progress(self, run: int, r: SessionResult, event: TrainingProgress) -> None:
        if not r.curve:
            self.startup_seconds.append(time.monotonic() - self._started_at)
        r.curve.append((event.done, event.loss, event.val_accuracy))
        self.query_one(ProgressBar).update(total=max(event.epochs, 1), progress=max(0.0, min(event.done, event.epochs)))
        acc = event.val_accuracy
        self._set_label(
            f"epoch {event.epoch}/{event.epochs}  loss {event.loss:.3f}"
            + (f"  val acc {acc:.3f}" if acc is not None else "")
        )
        if self.query_one(SessionTable).cursor_row == run:  # not while a past curve is looked at
            self.query_one(TrainPlot).show(r)

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
        if message.run in self._cancelled:
            r.state, r.error = "cancelled", "the training process was stopped (k); t trains again"
        elif r.state == "running":
            r.state = "failed"
            last = [ln for ln in message.stderr_tail.splitlines() if ln.strip()]
            r.error = last[-1] if last else f"exit status {message.returncode}"
        r.finished = time.time()
        self.query_one(SessionTable).update_result(message.run, r)
        self._remember(r)
        self._buttons(running=False)
        bar = self.query_one(ProgressBar)
        if r.state == "done":
            bar.update(total=1, progress=1)
            judged = (  # no validation split (--val-size 0): the test accuracy is what was judged
                f"val acc {r.val_accuracy:.4f}"
                if r.val_accuracy is not None
                else (f"test acc {r.test_accuracy:.4f}" if r.test_accuracy is not None else "val acc -")
            )
            self._set_label(f"done: {judged} in {r.seconds or 0:.1f}s")
        else:
            bar.update(total=1, progress=0)
            self._set_label(f"{r.state}: {r.error or ''}"[:200])
            if r.state == "failed":
                self.notify(f"training failed: {r.error}", severity="error", timeout=8)
        self.query_one(TrainPlot).show(r)
        if self.trainer.can_warm:
            self.set_timer(WARM_AFTER_SECONDS, self.trainer.warm_up)  # ready for the next one

    def _buttons(self, running: bool) -> None:
        self.query_one("#train-start", Button).disabled = running
        self.query_one("#train-cancel", Button).disabled = not running

    def _remember(self, r: SessionResult) -> None:
        try:
            history.append(r.to_past())
        except OSError as exc:
            self.notify(
                f"could not add the training to the history {history.history_path()}: {exc}",
                severity="warning",
                timeout=8,
            )

    @on(SessionTable.RowHighlighted, "#train-table")
    def _row_highlighted(self, event: SessionTable.RowHighlighted) -> None:
        """A past (or finished) training: its curve and result."""
        run = event.cursor_row
        if run is None or not 0 <= run < len(self.results) or (self.running and run == len(self.results) - 1):
            return
        r = self.results[run]
        self.query_one(TrainPlot).show(r)
        if r.state != "running":
            self._set_label(r.summary(run))

    def _set_label(self, text: str) -> None:
        self.query_one("#train-label", Label).update(Text(text))  # paths, errors, data set names: never markup

    def on_unmount(self) -> None:
        self.trainer.close()
