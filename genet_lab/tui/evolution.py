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
        Binding("b", "show_best", "Best", show=False),
        Binding("e", "to_editor", "To editor", show=False),
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

    def compose(self) -> ComposeResult:
        yield Label("no run: s starts one, o opens a run directory", id="evo-status")
        with Horizontal(id="evo-progress-row"):
            yield ProgressBar(total=1, show_eta=False, id="evo-progress")
            yield Label("", id="evo-progress-label")
        with Horizontal(id="evo-top"):
            table: DataTable[str] = DataTable(id="evo-table", zebra_stripes=True, cursor_type="row")
            table.border_title = "Table 1: fitness per generation"
            yield table
            yield PlotextPlot(id="evo-plot")
        with Horizontal(id="evo-bottom"):
            pop: DataTable[str] = DataTable(id="evo-pop", zebra_stripes=True, cursor_type="row")
            pop.border_title = "population"
            yield pop
            with VerticalScroll(id="evo-detail-box") as box:
                box.border_title = "best so far"
                yield Static(id="evo-detail")

    def on_mount(self) -> None:
        self.query_one("#evo-table", DataTable).add_columns("gen", "max", "min", "mean", "median", "std")
        self.query_one("#evo-pop", DataTable).add_columns("#", "fitness", "genome", "op", "par", "state")
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
        self.app.push_screen(SeedScreen(self.genome), self.start_run)

    def start_run(self, spec: dict | None) -> None:
        """Write generation 0 to the run directory and start ``genet-lab evolve`` on it."""
        if not spec:
            return
        run_dir = Path(spec["run_dir"])
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            seed_file = run_dir / "generation0.txt"
            seed_file.write_text("# generation 0 seeded by genet-lab tui\n" + "\n".join(spec["genomes"]) + "\n")
        except OSError as exc:
            self.notify(f"cannot write to {run_dir}: {exc}", severity="error")
            return
        args = EvolveArgs(init=str(seed_file), population=spec["n"], generations=spec["t"],
                          fitness=spec["fitness"], epochs=spec["epochs"], seed=spec["seed"], json=True)
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

        self.app.push_screen(Prompt("Run directory to open (finished, stopped, or being written):",
                                    str(self.run_dir or "runs/")), done)

    def open_run(self, run_dir: Path) -> None:
        """Follow ``run_dir``: read what is stored, then poll for more."""
        if self.running:
            self.notify("a run of this session is in progress: stop it (k) before opening another",
                        severity="warning")
            return
        self._follow(RunControl(run_dir, python=self.python))

    def _follow(self, control: RunControl) -> None:
        if self.control is not None:
            self.control.close(stop=False)
        self.control = control
        self.status, self.generations, self.population, self.shown, self.error = None, [], [], None, ""
        self._finished_inds = {}
        self.query_one("#evo-table", DataTable).clear()
        self.query_one("#evo-pop", DataTable).clear()
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
            self._label(f"starting the run in {control.run_dir} ..." if control.running else
                        f"{exc}{self._error_suffix()}")
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
        best = f"  best {s.best} ({s.best_fitness:.2f})" if s.best else ""
        self._label(f"[b]{self.run_dir}[/b] [{colour}]{state}[/{colour}] · {s.kind} · gen {s.gen}/{s.generations}"
                    f"  evals {s.evaluations_done}/{s.evaluations_total}{best}" + self._error_suffix())

    def _progress(self) -> None:
        done = sum(1 for p in self.population if p.state in ("done", "failed"))
        total = len(self.population) or 1
        bar = self.query_one("#evo-progress", ProgressBar)
        bar.update(total=total, progress=done)
        gen = self.status.gen if self.status else None
        self.query_one("#evo-progress-label", Label).update(
            f"generation {gen}: {done}/{len(self.population)} evaluated" if gen is not None else "")

    def _fill_table(self) -> None:
        table = self.query_one("#evo-table", DataTable)
        for row in self.generations[table.row_count:]:
            table.add_row(str(row.gen), *(f"{v:.2f}" for v in (row.max, row.min, row.mean, row.median, row.std)),
                          key=str(row.gen))
        if self.generations:
            table.move_cursor(row=len(self.generations) - 1)

    def _fill_population(self) -> None:
        table = self.query_one("#evo-pop", DataTable)
        cursor = table.cursor_row
        table.clear()
        for ind in self.population:
            value = _fitness(ind)
            table.add_row(str(ind.index), f"{value:.2f}" if value is not None else "-", ind.genome,
                          ind.op[:5], ",".join(map(str, ind.parents)) or "-", ind.state, key=str(ind.index))
        if self.population:
            table.move_cursor(row=min(cursor, len(self.population) - 1), animate=False)

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
            draw_pareto(plt, self.structure_points(), self.figure)
            widget.refresh()
            return
        plt.title("Figure 3: fitness per generation")
        if self.generations:
            gens = [g.gen for g in self.generations]
            plt.plot(gens, [g.max for g in self.generations], label="max", color="green")
            plt.plot(gens, [g.mean for g in self.generations], label="mean", color="cyan", marker="dot")
            plt.plot(gens, [g.min for g in self.generations], label="min", color="red")
        widget.refresh()

    @on(DataTable.RowHighlighted, "#evo-pop")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row is not None and 0 <= event.cursor_row < len(self.population) and self.has_focus_within:
            self.shown = self.population[event.cursor_row]
            self._show(self.shown)

    @property
    def has_focus_within(self) -> bool:
        return self.query_one("#evo-pop", DataTable).has_focus

    def action_show_best(self) -> None:
        self.shown = None
        self._show(None)

    def select_individual(self, index: int) -> None:
        """Show individual ``index`` of the current generation (what a click or Enter does)."""
        self.shown = self.population[index]
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
        head.append(f"  fitness {fit:.2f}" if fit is not None else "  not evaluated yet")
        head.append(f"  {ind.state}" + ("  reused" if ind.reused else ""))
        if ind.params:
            head.append(f"  {ind.params:,} params")
        detail.update(Group(head, *self._parents(ind), genome_drawing(parse(ind.genome))))

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


def _fitness(ind: Individual) -> float | None:
    """The fitness selection used, or this evaluation's accuracy before the generation finished."""
    return ind.fitness if ind.fitness is not None else ind.accuracy
