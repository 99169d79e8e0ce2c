"""The evolution pane's widgets: Table 1, the figure, the population and one individual.

Each widget holds a reactive attribute that the pane sets after every poll of the run store
(attributes down) and redraws in its ``watch_`` method, only when its part changed (the values
are frozen and compare by value, so a poll that found nothing new draws nothing). A user's
choice goes up as a message nested in the widget: a Table 1 row browses
(:class:`GenerationTable.Browse`), a population row is shown (:class:`PopulationTable.Shown`).
Render-only: no store, no process, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.markup import escape
from rich.text import Text
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from genet_lab.encoding.genome import parse
from genet_lab.evolution.analysis import StructurePoint
from genet_lab.evolution.records import GenerationStats, Individual
from genet_lab.tui.figures import draw_pareto
from genet_lab.tui.stage_view import StageView

FIGURES = ("fig3", "params", "macs", "genes")
"""What the plot shows, in the order ``f`` cycles through: Figure 3, then the Pareto view
against parameters and against multiply-adds, then the genes over time
(:mod:`genet_lab.tui.genes_view`, drawn in text cells in place of the plot)."""


def fitness_of(ind: Individual) -> float | None:
    """The fitness selection used, or this evaluation's accuracy before the generation finished."""
    return ind.fitness if ind.fitness is not None else ind.accuracy


def generation_ticks(first: int, last: int, most: int = 8) -> list[int]:
    """Whole generations for the x axis, at most about ``most`` of them (plotext would label fractions)."""
    step = max(1, -(-(last - first) // most))
    return list(range(first, last + 1, step))


class GenerationTable(DataTable):
    """Table 1: max, min, mean, median and std of each finished generation."""

    generations: reactive[tuple[GenerationStats, ...]] = reactive((), init=False, repaint=False)
    browsing: reactive[bool] = reactive(False, init=False, repaint=False)
    """A user's chosen row stays; else the cursor follows the newest generation."""

    @dataclass
    class Browse(Message):
        """The user chose generation ``gen`` (a click, arrows or Enter on its row)."""

        gen: int

    def on_mount(self) -> None:
        self.add_columns("gen", "max", "min", "mean", "median", "std")
        self._auto_row: int | None = None

    def watch_generations(self, old: tuple[GenerationStats, ...], new: tuple[GenerationStats, ...]) -> None:
        if new[: len(old)] != old:  # another run: start again
            self.clear()
        for row in new[self.row_count :]:
            cells = (f"{v:.2f}" for v in (row.max, row.min, row.mean, row.median, row.std))
            self.add_row(str(row.gen), *cells, key=str(row.gen))
        self._follow()

    def watch_browsing(self) -> None:
        self._follow()

    def _follow(self) -> None:
        if self.generations and not self.browsing:
            self._auto_row = len(self.generations) - 1
            self.move_cursor(row=self._auto_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Browse(int(str(event.row_key.value))))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """A click (or arrow) by the user; the table's own cursor moves are not choices."""
        event.stop()
        if not self.has_focus or event.row_key.value is None:
            return
        if not self.browsing and event.cursor_row == self._auto_row:
            return
        self.post_message(self.Browse(int(str(event.row_key.value))))


@dataclass(frozen=True)
class PopulationView:
    """What the population table shows."""

    rows: tuple[Individual, ...] = ()
    gen: int | None = None
    browsing: bool = False
    paused: bool = False
    run_state: str | None = None
    """The run's state (running, stopped, finished), None before the first poll."""

    def state_of(self, ind: Individual) -> str:
        """An evaluation's state as the user should read it: the store says ``running`` for an
        evaluation that a pause holds or a stop interrupted (a resume starts it again)."""
        if ind.state != "running":
            return ind.state
        if self.paused:
            return "paused"
        if self.run_state is not None and self.run_state != "running":
            return "stopped"
        return "running"


class PopulationTable(DataTable):
    """The individuals of the live generation, or of a browsed one."""

    view: reactive[PopulationView] = reactive(PopulationView, init=False, repaint=False)

    @dataclass
    class Shown(Message):
        """The user moved to row ``index`` (the pane shows that individual)."""

        index: int

    def on_mount(self) -> None:
        self.add_columns("#", "fitness", "state", "op", "parents", "genome")
        self.watch_view(self.view)

    def watch_view(self, view: PopulationView) -> None:
        cursor = self.cursor_row
        self.clear()
        if view.browsing:
            self.border_title = f"population of gen {view.gen} [reverse] browsing [/]"
            self.border_subtitle = "l: follow the live one"
        else:
            self.border_title = "population" + ("" if view.gen is None else f" of gen {view.gen} (live)")
            self.border_subtitle = "Table 1 row: browse"
        for ind in view.rows:
            value = fitness_of(ind)
            self.add_row(
                str(ind.index),
                f"{value:.2f}" if value is not None else "-",
                view.state_of(ind),
                escape(ind.op),  # a DataTable reads a str cell as markup: stored text is escaped
                ",".join(map(str, ind.parents)) or "-",
                escape(ind.genome),
                key=str(ind.index),
            )
        if view.rows:
            self.move_cursor(row=min(cursor, len(view.rows) - 1), animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self.has_focus and event.cursor_row is not None and 0 <= event.cursor_row < len(self.view.rows):
            self.post_message(self.Shown(event.cursor_row))


@dataclass(frozen=True)
class FigureView:
    """What the plot shows: Figure 3 from Table 1, or a Pareto view of the evaluated structures."""

    figure: str = "fig3"
    generations: tuple[GenerationStats, ...] = ()
    points: tuple[StructurePoint, ...] = ()


class RunPlot(PlotextPlot):
    """Figure 3 (max, mean, min per generation) or the Pareto views (``f`` cycles)."""

    view: reactive[FigureView] = reactive(FigureView, init=False, repaint=False)

    def on_mount(self) -> None:
        self.watch_view(self.view)

    def watch_view(self, view: FigureView) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if view.figure != "fig3":
            self.border_title = draw_pareto(plt, list(view.points), view.figure)
            self.border_subtitle = "[cyan]evaluated[/] [red]non-dominated[/]"
            self.refresh()
            return
        # the legend is the border's subtitle: plotext's own legend sits on top of the lines
        self.border_title = "Figure 3: fitness per generation"
        self.border_subtitle = "[green]max[/] [cyan]mean[/] [red]min[/]"
        gens = [g.gen for g in view.generations]
        if gens:
            one = len(gens) == 1  # a line of one point draws nothing: mark it
            plt.plot(gens, [g.max for g in view.generations], color="green", marker="dot" if one else None)
            plt.plot(gens, [g.mean for g in view.generations], color="cyan", marker="dot")
            plt.plot(gens, [g.min for g in view.generations], color="red", marker="dot" if one else None)
            ticks = generation_ticks(gens[0], gens[-1])
            plt.xticks([float(t) for t in ticks], [str(t) for t in ticks])
            pad = 0.5 if one else 0
            plt.xlim(gens[0] - pad, gens[-1] + pad)
            plt.xlabel("generation")
        self.refresh()


@dataclass(frozen=True)
class DetailView:
    """One individual (with its state as read and its parents' genomes), or the best so far."""

    ind: Individual | None = None
    state: str = ""
    parents: tuple[str, ...] = ()
    """One line per parent (or why they cannot be read now)."""
    best: str | None = None
    best_fitness: float | None = None


class IndividualDetail(VerticalScroll):
    """The shown individual's facts and stage graphs (the best so far when none is chosen), drawn as
    the editor draws them, side by side; a stage whose drawing is wider than its column is listed
    (``3 <- 1+2``: node 3 sums nodes 1 and 2)."""

    view: reactive[DetailView] = reactive(DetailView, init=False, repaint=False)

    def compose(self):
        yield Static(id="evo-detail")
        yield StageView(stack=False, id="evo-stages")

    def on_mount(self) -> None:
        self._height = 0
        self.watch_view(self.view)

    def on_resize(self) -> None:
        if self.size.height != self._height:  # the room for the drawings changed
            self.watch_view(self.view)

    def watch_view(self, view: DetailView) -> None:
        detail = self.query_one("#evo-detail", Static)
        stages = self.query_one(StageView)
        ind = view.ind
        genome = ind.genome if ind is not None else view.best
        stages.display = bool(genome)
        self._height = self.size.height
        if genome:
            # a drawing taller than what the box leaves under the facts and the stage's heading and
            # figures is listed; before the first layout the height is unknown (0: drawn)
            above = 0 if ind is None else 2 + len(view.parents)
            stages.show(parse(genome), max_height=max(1, self._height - above - 2) if self._height else 0)
        if ind is None:
            detail.display = not genome
            detail.update("[dim]no finished generation yet[/dim]")
            best = f": {escape(str(genome))} ({view.best_fitness or 0:.2f})" if genome else ""
            self.border_title = f"best so far{best}"
            return
        detail.display = True
        self.border_title = f"gen {ind.gen} #{ind.index}: {escape(ind.genome)}"
        head = Text()
        fit = fitness_of(ind)
        head.append(f"{ind.op} ", style="bold")
        head.append(f"of gen {ind.gen - 1} #" + ", #".join(map(str, ind.parents)) if ind.parents else "(initial)")
        # one fact per line part, so that a narrow box wraps between facts, not inside "22,082 params"
        facts = [f"fitness {fit:.2f}" if fit is not None else "not evaluated yet", view.state]
        facts += ["reused"] * ind.reused + ([f"{ind.params:,}\u00a0params"] if ind.params else [])
        parents = [Text(line, style="dim") for line in view.parents]
        detail.update(Group(head, Text(" · ".join(facts)), *parents))
