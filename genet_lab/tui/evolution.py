"""The evolution pane: start, pause, stop, resume or open a run and watch it live.

A run is always a ``genet-lab evolve ... --run-dir DIR`` child process (or
someone else's process, or none for a finished run); this pane only reads
the run store (read-only SQLite in WAL mode) on a timer. Starting, resuming
and opening a run are therefore the same code path: point the watcher at a
directory. Process and store handling live in :mod:`genet_lab.evolution.watch`
(shared with the notebook widgets); this module draws what it reports and shows
its errors. Pausing suspends the child (SIGSTOP/SIGCONT); stopping ends it, and
``--resume`` continues from the last stored generation. No torch here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, ProgressBar, Static
from textual_plotext import PlotextPlot

from genet_lab.encoding.genome import Genome, parse
from genet_lab.errors import UsageError
from genet_lab.evolution.analysis import StructurePoint, structure_points
from genet_lab.evolution.records import GenerationStats, Individual, RunStatus
from genet_lab.evolution.watch import EvolveArgs, NotReady, RunControl
from genet_lab.tui.dialogs import Prompt
from genet_lab.tui.figures import draw_pareto
from genet_lab.tui.population import SeedScreen
from genet_lab.tui.stage_view import genome_drawing

if TYPE_CHECKING:
    from genet_lab.tui.app import GenetLabApp

POLL_SECONDS = 0.5
FIGURES = ("fig3", "params", "macs")
"""What the plot shows, in the order ``f`` cycles through: Figure 3, then the Pareto view
against parameters and against multiply-adds."""


class EvolutionPane(Vertical):
    """Table 1, Figure 3, the population and one individual of a run, kept live."""

    BINDINGS = [
        Binding("s", "new_run", "New run"),
        Binding("o", "open_run", "Open"),
        Binding("p", "pause", "Pause"),
        Binding("k", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("f", "next_figure", "Figure"),
        Binding("b", "show_best", "Best"),
        Binding("e", "to_editor", "Edit"),
        Binding("l", "follow_live", "Live", show=False),
    ]

    def __init__(self, genome: Genome, run_dir: Path | None = None, python: str | None = None, **kw) -> None:
        super().__init__(**kw)
        self.genome = genome
        self.python = python or sys.executable
        self.control: RunControl | None = None
        self.status: RunStatus | None = None
        self.generations: list[GenerationStats] = []
        self.population: list[Individual] = []
        self.shown: Individual | None = None
        self.error = ""
        """The last error of the run process or the store, shown on the status line."""
        self._initial_dir = run_dir
        self.figure = FIGURES[0]
        self._finished_inds: dict[int, list[Individual]] = {}
        """Individuals of finished generations, read once each (for the Pareto view)."""
        self._row_mode: tuple[bool, str | None] | None = None
        """(paused, run state) the population rows were drawn for."""
        self.seed_values: dict | None = None
        """The New-run dialog's last settings: it reopens with them."""
        self.browse_gen: int | None = None
        """The generation whose population is shown (a Table 1 row chosen); None follows the live one."""
        self.browsed: list[Individual] = []
        self._auto_row: int | None = None
        """The Table 1 row the pane moved the cursor to itself (not a user's choice)."""

    def compose(self) -> ComposeResult:
        yield Label("no run: s starts one, o opens a run directory", id="evo-status")
        with Horizontal(id="evo-progress-row"):
            yield ProgressBar(total=1, show_eta=False, id="evo-progress")
            yield Label("", id="evo-progress-label")
        with Horizontal(id="evo-top"):
            table: DataTable[str] = DataTable(id="evo-table", zebra_stripes=True, cursor_type="row")
            table.border_title = "Table 1: fitness per generation"
            yield table
            plot = PlotextPlot(id="evo-plot")
            plot.border_title = "Figure 3: fitness per generation"
            yield plot
        with Horizontal(id="evo-bottom"):
            pop: DataTable[str] = DataTable(id="evo-pop", zebra_stripes=True, cursor_type="row")
            pop.border_title = "population"
            yield pop
            with VerticalScroll(id="evo-detail-box") as box:
                box.border_title = "best so far"
                yield Static(id="evo-detail")

    def on_mount(self) -> None:
        self.query_one("#evo-table", DataTable).add_columns("gen", "max", "min", "mean", "median", "std")
        self.query_one("#evo-pop", DataTable).add_columns("#", "fitness", "state", "op", "parents", "genome")
        self._plot()
        self.set_interval(POLL_SECONDS, self.poll)
        if self._initial_dir is not None:
            self.open_run(self._initial_dir)

    def default_focus(self) -> DataTable:
        return self.query_one("#evo-pop", DataTable)

    def set_genome(self, genome: Genome) -> None:
        self.genome = genome

    @property
    def run_dir(self) -> Path | None:
        return None if self.control is None else self.control.run_dir

    @property
    def running(self) -> bool:
        return self.control is not None and self.control.running

    @property
    def paused(self) -> bool:
        return self.control is not None and self.control.paused

    # -- starting and watching ------------------------------------------------------------
    def action_new_run(self) -> None:
        if self.running:
            self.notify("a run is in progress: stop it (k) first", severity="warning")
            return
        self.app.push_screen(SeedScreen(self.genome, values=self.seed_values), self.start_run)

    def start_run(self, spec: dict | None) -> None:
        """Write generation 0 to the run directory and start ``genet-lab evolve`` on it."""
        if not spec:
            return
        self.seed_values = spec.get("values", self.seed_values)
        run_dir = Path(spec["run_dir"])
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            seed_file = run_dir / "generation0.txt"
            seed_file.write_text("# generation 0 seeded by genet-lab tui\n" + "\n".join(spec["genomes"]) + "\n")
        except OSError as exc:
            self.notify(f"cannot write to {run_dir}: {exc}", severity="error")
            return
        objective = spec.get("objective")
        args = EvolveArgs(
            dataset=spec.get("dataset"),
            data_dir=spec.get("data_dir"),
            init=str(seed_file),
            population=spec["n"],
            generations=spec["t"],
            fitness=spec["fitness"],
            epochs=spec["epochs"],
            recipe=spec.get("recipe"),
            preset=spec.get("preset"),
            eval_test=bool(spec.get("eval_test")),
            objective=None if objective in (None, "accuracy") else objective,
            seed=spec["seed"],
            json=True,
        )
        try:
            control = RunControl.start(run_dir, "evolve", args, python=self.python)
        except UsageError as exc:
            self.notify(str(exc), severity="error")
            return
        self._follow(control)

    def action_open_run(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.open_run(Path(text).expanduser())

        self.app.push_screen(
            Prompt("Run directory to open (finished, stopped, or being written):", str(self.run_dir or "runs/")), done
        )

    def open_run(self, run_dir: Path) -> None:
        """Follow ``run_dir``: read what is stored, then poll for more."""
        if self.running:
            self.notify("a run of this session is in progress: stop it (k) before opening another", severity="warning")
            return
        self._follow(RunControl(run_dir, python=self.python))

    def _follow(self, control: RunControl) -> None:
        if self.control is not None:
            self.control.close(stop=False)
        self.control = control
        self.status, self.generations, self.population, self.shown, self.error = None, [], [], None, ""
        self._finished_inds = {}
        self._row_mode = None
        self.browse_gen, self.browsed, self._auto_row = None, [], None
        # nothing of the previous run may stay on screen until this one's first poll
        self.query_one("#evo-table", DataTable).clear()
        self.query_one("#evo-pop", DataTable).clear()
        self.query_one("#evo-progress", ProgressBar).update(total=1, progress=0)
        self.query_one("#evo-progress-label", Label).update("")
        self._plot()
        self._show(None)
        self.poll()

    def poll(self) -> None:
        """Read what changed in the store since the last poll and redraw it."""
        control = self.control
        if control is None:
            return
        self._check_exit(control)
        try:
            snap = control.poll()
        except NotReady as exc:
            self._label(
                f"starting the run in {control.run_dir} ..." if control.running else f"{exc}{self._error_suffix()}"
            )
            return
        except UsageError as exc:  # not a run store, or another schema: nothing to watch
            self.notify(str(exc), severity="error", timeout=10)
            control.close(stop=False)
            self.control = None
            self._label(f"cannot open the run: {exc}")
            return
        self.status = snap.status
        if snap.changed:
            self.generations = list(snap.generations)
            self.population = list(snap.current)
            self._progress()
            self._fill_table()
            self._fill_population()
            self._plot()
            self._show(self.shown)
        elif self._row_mode != (self.paused, snap.status.state):
            self._fill_population()  # paused, stopped or ended without a new event: rows say so
        self._status_line()

    def _check_exit(self, control: RunControl) -> None:
        """Tell the user, once, when this session's run process ended with an error."""
        ended = control.reap()
        if ended is not None and ended.failed:
            self.error = ended.message()
            self.notify(self.error, severity="error", timeout=10)

    def _error_suffix(self) -> str:
        return f"  [red]{self.error}[/red]" if self.error else ""

    # -- controls -----------------------------------------------------------------------------
    def action_pause(self) -> None:
        if not self.running or self.control is None:
            self.notify("no run of this session is in progress (a stopped run resumes with r)")
            return
        if self.paused:
            self.control.cont()
            self.notify("run continues")
        else:
            self.control.pause()
            self.notify("run paused: p continues, k stops")
        self._status_line()
        self._fill_population()

    def action_stop(self) -> None:
        if not self.running or self.control is None:
            self.notify("no run of this session is in progress")
            return
        self.control.stop()
        self.notify(f"run stopped; r resumes it from {self.run_dir}")
        self.poll()

    def action_resume(self) -> None:
        if self.running:
            if self.paused:
                self.action_pause()
            return
        if self.control is None:
            self.notify("open a run first (o)", severity="warning")
            return
        try:
            status = self.control.resume()
        except UsageError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.error = ""
        finished = " (finished: nothing left to do)" if status.state == "finished" else ""
        self.notify(f"resuming {self.run_dir}{finished}")

    # -- drawing -------------------------------------------------------------------------------
    def _label(self, text: str) -> None:
        self.query_one("#evo-status", Label).update(text)

    def _status_line(self) -> None:
        s = self.status
        if s is None:
            return
        state = "paused" if self.paused else s.state
        colour = {"running": "green", "finished": "cyan", "paused": "yellow", "stopped": "red"}.get(state, "white")
        # what matters first, so that at 80 columns only the directory wraps to the second line
        best = f" · best [b]{s.best_fitness:.2f}[/b] {s.best}" if s.best else ""
        self._label(
            f"[{colour}]{state}[/{colour}] · gen {s.gen}/{s.generations} · evals "
            f"{s.evaluations_done}/{s.evaluations_total}{best} · {s.kind} [b]{self.run_dir}[/b]" + self._error_suffix()
        )

    def _progress(self) -> None:
        done = sum(1 for p in self.population if p.state in ("done", "failed"))
        total = len(self.population) or 1
        bar = self.query_one("#evo-progress", ProgressBar)
        bar.update(total=total, progress=done)
        gen = self.status.gen if self.status else None
        self.query_one("#evo-progress-label", Label).update(
            f"generation {gen}: {done}/{len(self.population)} evaluated" if gen is not None else ""
        )

    def _fill_table(self) -> None:
        table = self.query_one("#evo-table", DataTable)
        for row in self.generations[table.row_count :]:
            table.add_row(
                str(row.gen), *(f"{v:.2f}" for v in (row.max, row.min, row.mean, row.median, row.std)), key=str(row.gen)
            )
        if self.generations and self.browse_gen is None:  # a user's chosen row stays
            self._auto_row = len(self.generations) - 1
            table.move_cursor(row=self._auto_row)

    @property
    def rows(self) -> list[Individual]:
        """The individuals in the population table: a browsed generation's, or the live one's."""
        return self.browsed if self.browse_gen is not None else self.population

    @on(DataTable.RowSelected, "#evo-table")
    def _generation_selected(self, event: DataTable.RowSelected) -> None:
        """Enter, or a click on the highlighted row: that generation's population."""
        self.browse(int(str(event.row_key.value)))

    @on(DataTable.RowHighlighted, "#evo-table")
    def _generation_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """A click (or arrow) by the user on a Table 1 row; the pane's own cursor moves are not choices."""
        table = self.query_one("#evo-table", DataTable)
        if not table.has_focus or event.row_key.value is None:
            return
        if self.browse_gen is None and event.cursor_row == self._auto_row:
            return
        self.browse(int(str(event.row_key.value)))

    def browse(self, gen: int) -> None:
        """Show generation ``gen``'s population (individuals can be inspected and sent to the editor)."""
        if self.control is None:
            return
        try:
            inds = self.control.watcher.individuals(gen)
        except (NotReady, UsageError) as exc:
            self.notify(f"cannot read generation {gen} now: {exc}", severity="warning")
            return
        self.browse_gen, self.browsed = gen, inds
        self._fill_population()
        pop = self.query_one("#evo-pop", DataTable)
        pop.focus()  # arrows go through its individuals, e sends one to the editor
        pop.move_cursor(row=0, animate=False)

    def action_follow_live(self) -> None:
        """Back to the live generation's population."""
        if self.browse_gen is None:
            self.notify("already following the live generation")
            return
        self.browse_gen, self.browsed = None, []
        self._fill_population()
        self._fill_table()

    def _fill_population(self) -> None:
        table = self.query_one("#evo-pop", DataTable)
        cursor = table.cursor_row
        table.clear()
        self._row_mode = (self.paused, self.status.state if self.status else None)
        gen = self.browse_gen if self.browse_gen is not None else (self.status.gen if self.status else None)
        if self.browse_gen is not None:
            table.border_title = f"population of gen {gen} [reverse] browsing [/]"
            table.border_subtitle = "l: follow the live one"
        else:
            table.border_title = "population" + ("" if gen is None else f" of gen {gen} (live)")
            table.border_subtitle = "Table 1 row: browse"
        for ind in self.rows:
            value = _fitness(ind)
            table.add_row(
                str(ind.index),
                f"{value:.2f}" if value is not None else "-",
                self._state_of(ind),
                ind.op,
                ",".join(map(str, ind.parents)) or "-",
                ind.genome,
                key=str(ind.index),
            )
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1), animate=False)

    def _state_of(self, ind: Individual) -> str:
        """An evaluation's state as the user should read it: the store says ``running`` for an
        evaluation that a pause holds or a stop interrupted (a resume starts it again)."""
        if ind.state != "running":
            return ind.state
        if self.paused:
            return "paused"
        if self.status is not None and self.status.state != "running":
            return "stopped"
        return "running"

    def action_next_figure(self) -> None:
        """Cycle the plot: Figure 3, Pareto against parameters, Pareto against multiply-adds."""
        self.figure = FIGURES[(FIGURES.index(self.figure) + 1) % len(FIGURES)]
        self._plot()

    def structure_points(self) -> list[StructurePoint]:
        """Every evaluated structure of the run so far (finished generations are read once)."""
        if self.control is None:
            return []
        done = {g.gen for g in self.generations}
        try:
            for gen in sorted(done - set(self._finished_inds)):
                self._finished_inds[gen] = self.control.watcher.individuals(gen)
        except (NotReady, UsageError):
            pass  # the next poll tries again
        current = [] if self.population and self.population[0].gen in done else self.population
        return structure_points([i for g in sorted(self._finished_inds) for i in self._finished_inds[g]] + current)

    def _plot(self) -> None:
        widget = self.query_one("#evo-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        if self.figure != "fig3":
            widget.border_title = draw_pareto(plt, self.structure_points(), self.figure)
            widget.border_subtitle = "[cyan]evaluated[/] [red]non-dominated[/]"
            widget.refresh()
            return
        # the legend is the border's subtitle: plotext's own legend sits on top of the lines
        widget.border_title = "Figure 3: fitness per generation"
        widget.border_subtitle = "[green]max[/] [cyan]mean[/] [red]min[/]"
        if self.generations:
            gens = [g.gen for g in self.generations]
            one = len(gens) == 1  # a line of one point draws nothing: mark it
            plt.plot(gens, [g.max for g in self.generations], color="green", marker="dot" if one else None)
            plt.plot(gens, [g.mean for g in self.generations], color="cyan", marker="dot")
            plt.plot(gens, [g.min for g in self.generations], color="red", marker="dot" if one else None)
            ticks = generation_ticks(gens[0], gens[-1])
            plt.xticks([float(t) for t in ticks], [str(t) for t in ticks])
            pad = 0.5 if one else 0
            plt.xlim(gens[0] - pad, gens[-1] + pad)
            plt.xlabel("generation")
        widget.refresh()

    @on(DataTable.RowHighlighted, "#evo-pop")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row is not None and 0 <= event.cursor_row < len(self.rows) and self.has_focus_within:
            self.shown = self.rows[event.cursor_row]
            self._show(self.shown)

    @property
    def has_focus_within(self) -> bool:
        return self.query_one("#evo-pop", DataTable).has_focus

    def action_show_best(self) -> None:
        self.shown = None
        self._show(None)

    def select_individual(self, index: int) -> None:
        """Show individual ``index`` of the population table (what a click or Enter does)."""
        self.shown = self.rows[index]
        self._show(self.shown)

    def _show(self, ind: Individual | None) -> None:
        box = self.query_one("#evo-detail-box")
        detail = self.query_one("#evo-detail", Static)
        if ind is None:
            status = self.status
            box.border_title = "best so far"
            if not status or not status.best:
                detail.update("[dim]no finished generation yet[/dim]")
                return
            detail.update(genome_drawing(parse(status.best)))
            box.border_title = f"best so far: {status.best} ({status.best_fitness:.2f})"
            return
        box.border_title = f"gen {ind.gen} #{ind.index}: {ind.genome}"
        head = Text()
        fit = _fitness(ind)
        head.append(f"{ind.op} ", style="bold")
        head.append(f"of gen {ind.gen - 1} #" + ", #".join(map(str, ind.parents)) if ind.parents else "(initial)")
        # one fact per line part, so that a narrow box wraps between facts, not inside "22,082 params"
        facts = [f"fitness {fit:.2f}" if fit is not None else "not evaluated yet", self._state_of(ind)]
        facts += ["reused"] * ind.reused + ([f"{ind.params:,}\u00a0params"] if ind.params else [])
        detail.update(Group(head, Text(" · ".join(facts)), *self._parents(ind), genome_drawing(parse(ind.genome))))

    def _parents(self, ind: Individual) -> list[Text]:
        if not ind.parents or self.control is None:
            return []
        try:
            prev = {p.index: p for p in self.control.watcher.individuals(ind.gen - 1)}
        except (NotReady, UsageError) as exc:
            return [Text(f"  parents not readable right now: {exc}", style="dim")]
        return [Text(f"  parent #{pi}: {prev[pi].genome}", style="dim") for pi in ind.parents if pi in prev]

    def action_to_editor(self) -> None:
        if self.shown is not None:
            genome = self.shown.genome
        elif self.status is not None and self.status.best:
            genome = self.status.best
        else:
            return
        cast("GenetLabApp", self.app).editor.set_genome(parse(genome), "from the run")

    def on_unmount(self) -> None:
        if self.control is not None:
            self.control.close(stop=True)


def generation_ticks(first: int, last: int, most: int = 8) -> list[int]:
    """Whole generations for the x axis, at most about ``most`` of them (plotext would label fractions)."""
    step = max(1, -(-(last - first) // most))
    return list(range(first, last + 1, step))


def _fitness(ind: Individual) -> float | None:
    """The fitness selection used, or this evaluation's accuracy before the generation finished."""
    return ind.fitness if ind.fitness is not None else ind.accuracy
