"""The evolution pane: start, pause, stop, resume or open a run and watch it live.

A run is created from the New-run dialog's :class:`~genet_lab.evolution.config.SearchConfig`
and continued by a ``genet-lab evolve --resume DIR`` child (or someone else's process, or
none for a finished run); this pane only reads the run store (read-only SQLite in WAL mode)
on a timer, through :class:`genet_lab.supervisor.RunControl` (shared with the notebook
widgets). Starting, resuming and opening a run are therefore the same code path: point the
control at a directory. Pausing suspends the child (SIGSTOP/SIGCONT); stopping ends it, and
``--resume`` continues from the last stored generation.

What a poll found is one frozen :class:`RunState` in a reactive attribute; its watcher hands
each widget of :mod:`genet_lab.tui.run_widgets` its part (attributes down), and the widgets'
choices come back as messages. ``e`` posts :class:`EvolutionPane.EditGenome` for the app to
route to the editor. No torch here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, ProgressBar

from genet_lab.encoding.genome import Genome, parse, zeros
from genet_lab.errors import UsageError
from genet_lab.evolution.analysis import StructurePoint, structure_points
from genet_lab.evolution.genes import GeneFrequencies, gene_frequencies
from genet_lab.evolution.records import GenerationStats, Individual, RunStatus
from genet_lab.supervisor import NotReady, RunControl
from genet_lab.tui.dialogs import Prompt
from genet_lab.tui.genes_view import GenesView
from genet_lab.tui.population import NewRun, SeedScreen
from genet_lab.tui.run_widgets import (
    FIGURES,
    DetailView,
    FigureView,
    GenerationTable,
    IndividualDetail,
    PopulationTable,
    PopulationView,
    RunPlot,
)

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class RunState:
    """What the pane shows of one run: the last poll, and what the user chose to look at."""

    status: RunStatus | None = None
    generations: tuple[GenerationStats, ...] = ()
    population: tuple[Individual, ...] = ()
    """The live generation's individuals."""
    paused: bool = False
    browse_gen: int | None = None
    """The generation whose population is shown (a Table 1 row chosen); None follows the live one."""
    browsed: tuple[Individual, ...] = ()
    shown: Individual | None = None
    """The individual in the detail box; None: the best so far."""

    @property
    def rows(self) -> tuple[Individual, ...]:
        return self.browsed if self.browse_gen is not None else self.population


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

    state: reactive[RunState] = reactive(RunState, init=False, repaint=False)
    figure: reactive[str] = reactive(FIGURES[0], init=False, repaint=False)
    genome: reactive[Genome] = reactive(zeros, init=False, repaint=False)
    """The editor's genome (the app sets it): the New-run dialog can seed from it."""

    @dataclass
    class EditGenome(Message):
        """The user asked to edit this genome (the shown individual, or the best)."""

        genome: Genome
        label: str

    def __init__(self, genome: Genome, run_dir: Path | None = None, python: str | None = None, **kw) -> None:
        super().__init__(**kw)
        self.set_reactive(EvolutionPane.genome, genome)
        self.python = python or sys.executable
        self.control: RunControl | None = None
        self.error = ""
        """The last error of the run process or the store, shown on the status line."""
        self._initial_dir = run_dir
        self._finished_inds: dict[int, list[Individual]] = {}
        """Individuals of finished generations, read once each (for the Pareto view)."""
        self.seed_values: dict | None = None
        """The New-run dialog's last settings: it reopens with them."""

    def compose(self) -> ComposeResult:
        yield Label("no run: s starts one, o opens a run directory", id="evo-status")
        with Horizontal(id="evo-progress-row"):
            yield ProgressBar(total=1, show_eta=False, id="evo-progress")
            yield Label("", id="evo-progress-label")
        with Horizontal(id="evo-top"):
            table = GenerationTable(id="evo-table", zebra_stripes=True, cursor_type="row")
            table.border_title = "Table 1: fitness per generation"
            yield table
            yield RunPlot(id="evo-plot")
            yield GenesView(id="evo-genes")
        with Horizontal(id="evo-bottom"):
            pop = PopulationTable(id="evo-pop", zebra_stripes=True, cursor_type="row")
            pop.border_title = "population"
            yield pop
            yield IndividualDetail(id="evo-detail-box")

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self.poll)
        if self._initial_dir is not None:
            self.open_run(self._initial_dir)

    def default_focus(self) -> PopulationTable:
        return self.query_one(PopulationTable)

    # -- what the tests and the app read -------------------------------------------------------
    @property
    def status(self) -> RunStatus | None:
        return self.state.status

    @property
    def generations(self) -> tuple[GenerationStats, ...]:
        return self.state.generations

    @property
    def population(self) -> tuple[Individual, ...]:
        return self.state.population

    @property
    def rows(self) -> tuple[Individual, ...]:
        """The individuals in the population table: a browsed generation's, or the live one's."""
        return self.state.rows

    @property
    def browse_gen(self) -> int | None:
        return self.state.browse_gen

    @property
    def shown(self) -> Individual | None:
        return self.state.shown

    @property
    def run_dir(self) -> Path | None:
        return None if self.control is None else self.control.run_dir

    @property
    def running(self) -> bool:
        return self.control is not None and self.control.running

    @property
    def paused(self) -> bool:
        return self.control is not None and self.control.paused

    # -- drawing: the state down to the widgets --------------------------------------------------
    def watch_state(self, state: RunState) -> None:
        self.query_one(GenerationTable).generations = state.generations
        self.query_one(GenerationTable).browsing = state.browse_gen is not None
        gen = state.browse_gen if state.browse_gen is not None else (state.status.gen if state.status else None)
        run_state = state.status.state if state.status else None
        view = PopulationView(state.rows, gen, state.browse_gen is not None, state.paused, run_state)
        self.query_one(PopulationTable).view = view
        self._draw_detail(state, view)
        self._draw_figure()
        self._draw_progress(state)
        self._status_line()

    def watch_figure(self) -> None:
        self._draw_figure()

    def _draw_figure(self) -> None:
        genes = self.figure == "genes"  # text cells, in place of the plot
        self.query_one(RunPlot).display, self.query_one(GenesView).display = not genes, genes
        if genes:
            self.query_one(GenesView).genes = self.genes()
            return
        points = tuple(self.structure_points()) if self.figure != "fig3" else ()
        self.query_one(RunPlot).view = FigureView(self.figure, self.state.generations, points)

    def _draw_detail(self, state: RunState, view: PopulationView) -> None:
        ind = state.shown
        status = state.status
        best, best_fitness = (status.best, status.best_fitness) if status else (None, None)
        if ind is None:
            detail = DetailView(best=best, best_fitness=best_fitness)
        else:
            detail = DetailView(ind, view.state_of(ind), tuple(self._parents(ind)), best, best_fitness)
        self.query_one(IndividualDetail).view = detail

    def _draw_progress(self, state: RunState) -> None:
        done = sum(1 for p in state.population if p.state in ("done", "failed"))
        self.query_one("#evo-progress", ProgressBar).update(total=len(state.population) or 1, progress=done)
        gen = state.status.gen if state.status else None
        self.query_one("#evo-progress-label", Label).update(
            f"generation {gen}: {done}/{len(state.population)} evaluated" if gen is not None else ""
        )

    def _label(self, text: str) -> None:
        self.query_one("#evo-status", Label).update(text)

    def _status_line(self) -> None:
        s = self.state.status
        if s is None:
            return
        state = "paused" if self.paused else s.state
        colour = {"running": "green", "finished": "cyan", "paused": "yellow", "stopped": "red"}.get(state, "white")
        # what matters first, so that at 80 columns only the directory wraps to the second line
        best = f" · best [b]{s.best_fitness:.2f}[/b] {escape(str(s.best))}" if s.best else ""
        self._label(
            f"[{colour}]{state}[/{colour}] · gen {s.gen}/{s.generations} · evals "
            f"{s.evaluations_done}/{s.evaluations_total}{best} · {escape(str(s.kind))} "
            f"[b]{escape(str(self.run_dir))}[/b]" + self._error_suffix()
        )

    def _error_suffix(self) -> str:
        return f"  [red]{escape(self.error)}[/red]" if self.error else ""

    # -- starting and watching ------------------------------------------------------------
    def action_new_run(self) -> None:
        if self.running:
            self.notify("a run is in progress: stop it (k) first", severity="warning")
            return
        self.app.push_screen(SeedScreen(self.genome, values=self.seed_values), self._dialog_done)

    def _dialog_done(self, new: NewRun | None) -> None:
        if new is not None:
            self.seed_values = new.values
            self.start_run(new.run_dir, new.config)

    def start_run(self, run_dir: Path, config) -> None:
        """Create the run from ``config`` (a SearchConfig) in ``run_dir`` and start ``evolve --resume`` on it."""
        try:
            control = RunControl.create(run_dir, config, python=self.python)
        except (UsageError, ValueError, OSError) as exc:
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
        self.error = ""
        self._finished_inds = {}
        self.state = RunState()  # nothing of the previous run stays on screen until this one's first poll
        self.poll()

    def poll(self) -> None:
        """Read what changed in the store since the last poll; the state's watcher draws it."""
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
        state = replace(self.state, status=snap.status, paused=self.paused)
        if snap.changed:
            state = replace(state, generations=snap.generations, population=snap.current)
        self.state = state
        self._status_line()

    def _check_exit(self, control: RunControl) -> None:
        """Tell the user, once, when this session's run process ended with an error."""
        ended = control.reap()
        if ended is not None and ended.failed:
            self.error = ended.message()
            self.notify(self.error, severity="error", timeout=10)

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
        self.state = replace(self.state, paused=self.paused)

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

    # -- browsing ---------------------------------------------------------------------------------
    @on(GenerationTable.Browse)
    def _browse_message(self, message: GenerationTable.Browse) -> None:
        self.browse(message.gen)

    def browse(self, gen: int) -> None:
        """Show generation ``gen``'s population (individuals can be inspected and sent to the editor)."""
        if self.control is None:
            return
        try:
            inds = self.control.watcher.individuals(gen)
        except (NotReady, UsageError) as exc:
            self.notify(f"cannot read generation {gen} now: {exc}", severity="warning")
            return
        self.state = replace(self.state, browse_gen=gen, browsed=tuple(inds))
        pop = self.query_one(PopulationTable)
        pop.focus()  # arrows go through its individuals, e sends one to the editor
        pop.move_cursor(row=0, animate=False)

    def action_follow_live(self) -> None:
        """Back to the live generation's population."""
        if self.state.browse_gen is None:
            self.notify("already following the live generation")
            return
        self.state = replace(self.state, browse_gen=None, browsed=())

    @on(PopulationTable.Shown)
    def _shown_message(self, message: PopulationTable.Shown) -> None:
        self.select_individual(message.index)

    def select_individual(self, index: int) -> None:
        """Show individual ``index`` of the population table (what a click or Enter does)."""
        self.state = replace(self.state, shown=self.state.rows[index])

    def action_show_best(self) -> None:
        self.state = replace(self.state, shown=None)

    def action_next_figure(self) -> None:
        """Cycle the figure: Figure 3, Pareto against parameters and multiply-adds, the genes over time."""
        self.figure = FIGURES[(FIGURES.index(self.figure) + 1) % len(FIGURES)]

    def individuals(self) -> list[Individual]:
        """Every stored individual of the run so far, oldest first (finished generations are read once)."""
        if self.control is None:
            return []
        done = {g.gen for g in self.state.generations}
        try:
            for gen in sorted(done - set(self._finished_inds)):
                self._finished_inds[gen] = self.control.watcher.individuals(gen)
        except (NotReady, UsageError):
            pass  # the next poll tries again
        population = self.state.population
        current = [] if population and population[0].gen in done else list(population)
        return [i for g in sorted(self._finished_inds) for i in self._finished_inds[g]] + current

    def structure_points(self) -> list[StructurePoint]:
        """Every evaluated structure of the run so far."""
        return structure_points(self.individuals())

    def genes(self) -> GeneFrequencies | None:
        """The population's genes over time so far (None before a generation is stored)."""
        last = None if self.control is None else self.control.watcher.last
        try:
            return gene_frequencies(self.individuals(), last.config["stages"]) if last is not None else None
        except ValueError:  # bits of other stages: the store's own error shows where it is read
            return None

    def _parents(self, ind: Individual) -> list[str]:
        if not ind.parents or self.control is None:
            return []
        try:
            prev = {p.index: p for p in self.control.watcher.individuals(ind.gen - 1)}
        except (NotReady, UsageError) as exc:
            return [f"  parents not readable right now: {exc}"]
        return [f"  parent #{pi}: {prev[pi].genome}" for pi in ind.parents if pi in prev]

    def action_to_editor(self) -> None:
        status = self.state.status
        if self.state.shown is not None:
            genome = self.state.shown.genome
        elif status is not None and status.best:
            genome = status.best
        else:
            return
        self.post_message(self.EditGenome(parse(genome), "from the run"))

    def on_unmount(self) -> None:
        if self.control is not None:
            self.control.close(stop=True)
