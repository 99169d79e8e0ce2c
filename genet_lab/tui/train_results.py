"""The Train pane's results: one row per training (this session's and past ones) and a curve.

:class:`SessionResult` is one training as the pane keeps it (and as the history stores it);
:class:`SessionTable` lists them, :class:`TrainPlot` draws one's loss and validation
accuracy. Render-only widgets: the pane owns the results and tells these what to show.
Knows neither torch nor the training process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.markup import escape
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from genet_lab.tui import history


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

    def cells(self, run: int) -> tuple[str, ...]:
        """The table row of training number ``run`` (0-based)."""
        acc = f"{self.val_accuracy:.4f}" if self.val_accuracy is not None else "-"
        when = time.strftime("%m-%d %H:%M", time.localtime(self.finished)) if self.finished else "now"
        return (
            str(run + 1),
            self.state,
            acc,
            "-" if self.epochs is None else str(self.epochs),
            f"{self.seconds:.1f}s" if self.seconds is not None else "-",
            f"{self.params:,}" if self.params else "-",
            self.dataset,
            self.genome,
            when,
        )

    def summary(self, run: int) -> str:
        """One line about a finished (or past) training, for the pane's label."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.finished)) if self.finished else ""
        if self.val_accuracy is not None:
            result = f"val acc {self.val_accuracy:.4f}"
        elif self.test_accuracy is not None:  # no validation split: the test split was judged
            result = f"test acc {self.test_accuracy:.4f}"
        else:
            result = self.error or "val acc -"
        return (
            f"{'past' if self.past else 'this session'} #{run + 1} {when}: {self.state}, {result}, "
            f"{self.dataset}, {self.epochs or '?'} epochs"
        )[:200]


COLUMNS = ("#", "state", "val acc", "ep", "time", "params", "data", "genome", "when")


class SessionTable(DataTable):
    """The trainings, oldest first; row ``i`` is result ``i``."""

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def add_result(self, run: int, result: SessionResult) -> None:
        self.add_row(*map(escape, result.cells(run)), key=str(run))  # a str cell is markup: a data set's name is not

    def update_result(self, run: int, result: SessionResult) -> None:
        for col, value in enumerate(result.cells(run)):
            self.update_cell_at(Coordinate(run, col), escape(value), update_width=True)  # "cancelled" > "running"


class TrainPlot(PlotextPlot):
    """One training's loss (left axis) and validation accuracy (right axis) per epoch."""

    def show(self, result: SessionResult | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("training: loss (left) and validation accuracy (right)")
        plt.xlabel("epoch")
        curve = result.curve if result is not None else []
        steps = [(done, loss) for done, loss, _ in curve if loss is not None]
        epochs = [(done, acc) for done, _, acc in curve if acc is not None]
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
        self.refresh()
