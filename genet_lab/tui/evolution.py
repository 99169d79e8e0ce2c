"""The evolution pane: start, pause, stop, resume or open a run and watch it live.

A run is always a ``genet-lab evolve ... --run-dir DIR`` child process (or
someone else's process, or none for a finished run); this pane only reads
the run store (read-only SQLite in WAL mode) on a timer. Starting, resuming
and opening a run are therefore the same code path: point the watcher at a
directory. Pausing suspends the child (SIGSTOP/SIGCONT); stopping kills it,
and ``--resume`` continues from the last stored generation. No torch here.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, ProgressBar, Static
from textual_plotext import PlotextPlot

from genet_lab.encoding.genome import Genome, parse
from genet_lab.tui.dialogs import Prompt
from genet_lab.tui.population import SeedScreen
from genet_lab.tui.stage_view import genome_drawing

POLL_SECONDS = 0.5


class EvolutionPane(Vertical):
    """Table 1, Figure 3, the population and one individual of a run, kept live."""

    BINDINGS = [
        Binding("s", "new_run", "New run"),
        Binding("o", "open_run", "Open"),
        Binding("p", "pause", "Pause"),
        Binding("k", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("b", "show_best", "Best", show=False),
        Binding("e", "to_editor", "To editor", show=False),
    ]

    def __init__(self, genome: Genome, run_dir: Path | None = None, python: str | None = None, **kw) -> None:
        super().__init__(**kw)
        self.genome = genome
        self.python = python or sys.executable
        self.run_dir: Path | None = None
        self.store = None
        self.proc: subprocess.Popen | None = None
        self.paused = False
        self.seq = 0
        self.status: dict = {}
        self.generations: list[dict] = []
        self.population: list[dict] = []
        self.shown: dict | None = None
        self._stderr = None
        self._initial_dir = run_dir

    def compose(self) -> ComposeResult:
        yield Label("no run: s starts one, o opens a run directory", id="evo-status")
        with Horizontal(id="evo-progress-row"):
            yield ProgressBar(total=1, show_eta=False, id="evo-progress")
            yield Label("", id="evo-progress-label")
        with Horizontal(id="evo-top"):
            table = DataTable(id="evo-table", zebra_stripes=True, cursor_type="row")
            table.border_title = "Table 1: fitness per generation"
            yield table
            yield PlotextPlot(id="evo-plot")
        with Horizontal(id="evo-bottom"):
            pop = DataTable(id="evo-pop", zebra_stripes=True, cursor_type="row")
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
            self.watch(self._initial_dir)

    def default_focus(self):
        return self.query_one("#evo-pop", DataTable)

    def set_genome(self, genome: Genome) -> None:
        self.genome = genome

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
        argv = ["evolve", "--run-dir", str(run_dir), "--init", str(seed_file), "-N", str(spec["n"]),
                "-T", str(spec["t"]), "--fitness", spec["fitness"], "--epochs", str(spec["epochs"]),
                "--seed", str(spec["seed"])]
        self._spawn(argv)
        self.watch(run_dir)

    def _spawn(self, args: list[str]) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([self.python, "-m", "genet_lab", *args, "--json"], stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, stdin=subprocess.DEVNULL, env=env)
        self.paused = False

    def action_open_run(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.watch(Path(text).expanduser())

        self.app.push_screen(Prompt("Run directory to open (finished, stopped, or being written):",
                                    str(self.run_dir or "runs/")), done)

    def watch(self, run_dir: Path) -> None:
        """Follow ``run_dir``: read what is stored, then poll for more."""
        if self.store is not None:
            self.store.close()
            self.store = None
        self.run_dir = Path(run_dir)
        self.seq, self.generations, self.population, self.shown, self.status = 0, [], [], None, {}
        self.query_one("#evo-table", DataTable).clear()
        self.query_one("#evo-pop", DataTable).clear()
        self.poll()

    def _open_store(self) -> bool:
        from genet_lab.evolution.store import RunStore, is_run_dir

        if self.store is not None:
            return True
        if self.run_dir is None or not is_run_dir(self.run_dir):
            return False
        try:
            self.store = RunStore(self.run_dir, readonly=True)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            self.run_dir = None
            return False
        return True

    def poll(self) -> None:
        """Read what changed in the store since the last poll and redraw it."""
        self._check_child()
        if self.run_dir is None:
            return
        if not self._open_store():
            if not self.running:
                self._label(f"{self.run_dir} is not a run directory (no run.sqlite)")
            else:
                self._label(f"starting the run in {self.run_dir} ...")
            return
        try:
            new = self.store.events_since(self.seq)
            self.status = self.store.status()  # cheap; a writer may stop without an event
            if not new and self.generations:
                self._status_line()
                return
            if new:
                self.seq = new[-1][0]
            self.generations = self.store.generations()
            gen = self.status.get("gen")
            self.population = self.store.individuals(gen) if gen is not None else []
        except Exception as exc:  # sqlite3 errors while a writer is busy: try again next tick
            self._label(f"waiting for the store: {exc}")
            return
        self._progress(new)
        self._status_line()
        self._fill_table()
        self._fill_population()
        self._plot()
        self._show(self.shown)

    def _check_child(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            rc = self.proc.returncode
            tail = ""
            if self._stderr is not None:
                self._stderr.seek(0)
                lines = [ln for ln in self._stderr.read().splitlines() if ln.strip()]
                tail = lines[-1] if lines else ""
                self._stderr.close()
                self._stderr = None
            self.proc = None
            if rc not in (0, -signal.SIGKILL, -signal.SIGTERM):
                self.notify(f"the run stopped with status {rc}: {tail}", severity="error", timeout=10)

    # -- controls -----------------------------------------------------------------------------
    def action_pause(self) -> None:
        if not self.running:
            self.notify("no run of this session is in progress (a stopped run resumes with r)")
            return
        self.proc.send_signal(signal.SIGCONT if self.paused else signal.SIGSTOP)
        self.paused = not self.paused
        self.notify("run paused: p continues, k stops" if self.paused else "run continues")
        self._status_line()

    def action_stop(self) -> None:
        if not self.running:
            self.notify("no run of this session is in progress")
            return
        if self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.paused = False
        self.notify(f"run stopped; r resumes it from {self.run_dir}")
        self.poll()

    def action_resume(self) -> None:
        if self.running:
            if self.paused:
                self.action_pause()
            return
        if self.run_dir is None or not self._open_store():
            self.notify("open a run first (o)", severity="warning")
            return
        status = self.store.status()
        if status["state"] == "running":
            self.notify("another process is writing this run; watching it", severity="warning")
            return
        kind = self.store.config().get("kind", "ga")
        self._spawn(["evolve" if kind == "ga" else "random-search", "--resume", str(self.run_dir)])
        self.notify(f"resuming {self.run_dir}" + (" (finished: nothing left to do)" if status["state"] == "finished" else ""))

    # -- drawing -------------------------------------------------------------------------------
    def _label(self, text: str) -> None:
        self.query_one("#evo-status", Label).update(text)

    def _status_line(self) -> None:
        s = self.status
        if not s:
            return
        state = "paused" if self.paused else s["state"]
        colour = {"running": "green", "finished": "cyan", "paused": "yellow", "stopped": "red"}.get(state, "white")
        best = f"  best {s['best']} ({s['best_fitness']:.2f})" if s.get("best") else ""
        self._label(f"[b]{self.run_dir}[/b] [{colour}]{state}[/{colour}] · {s['kind']} · gen {s['gen']}/{s['generations']}"
                    f"  evals {s['evaluations_done']}/{s['evaluations_total']}{best}")

    def _progress(self, new_events) -> None:
        done = sum(1 for p in self.population if p["state"] in ("done", "failed"))
        total = len(self.population) or 1
        bar = self.query_one("#evo-progress", ProgressBar)
        bar.update(total=total, progress=done)
        gen = self.status.get("gen")
        self.query_one("#evo-progress-label", Label).update(
            f"generation {gen}: {done}/{len(self.population)} evaluated" if gen is not None else "")

    def _fill_table(self) -> None:
        table = self.query_one("#evo-table", DataTable)
        for row in self.generations[table.row_count:]:
            table.add_row(str(row["gen"]), *(f"{row[k]:.2f}" for k in ("max", "min", "mean", "median", "std")),
                          key=str(row["gen"]))
        if self.generations:
            table.move_cursor(row=len(self.generations) - 1)

    def _fill_population(self) -> None:
        table = self.query_one("#evo-pop", DataTable)
        cursor = table.cursor_row
        table.clear()
        for ind in self.population:
            value = ind["fitness"] if ind["fitness"] is not None else ind["accuracy"]
            table.add_row(str(ind["index"]), f"{value:.2f}" if value is not None else "-", ind["genome"],
                          ind["op"][:5], ",".join(map(str, ind["parents"])) or "-", ind["state"], key=str(ind["index"]))
        if self.population:
            table.move_cursor(row=min(cursor, len(self.population) - 1), animate=False)

    def _plot(self) -> None:
        widget = self.query_one("#evo-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("Figure 3: fitness per generation")
        if self.generations:
            gens = [g["gen"] for g in self.generations]
            plt.plot(gens, [g["max"] for g in self.generations], label="max", color="green")
            plt.plot(gens, [g["mean"] for g in self.generations], label="mean", color="cyan", marker="dot")
            plt.plot(gens, [g["min"] for g in self.generations], label="min", color="red")
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

    def _show(self, ind: dict | None) -> None:
        box = self.query_one("#evo-detail-box")
        detail = self.query_one("#evo-detail", Static)
        if ind is None:
            best = self.status.get("best") if self.status else None
            box.border_title = "best so far"
            if not best:
                detail.update("[dim]no finished generation yet[/dim]")
                return
            g = parse(best)
            detail.update(genome_drawing(g))
            box.border_title = f"best so far: {best} ({self.status['best_fitness']:.2f})"
            return
        g = parse(ind["genome"])
        box.border_title = f"gen {ind['gen']} #{ind['index']}: {ind['genome']}"
        from rich.console import Group
        from rich.text import Text

        head = Text()
        fit = ind["fitness"] if ind["fitness"] is not None else ind["accuracy"]
        head.append(f"{ind['op']} ", style="bold")
        head.append(f"of gen {ind['gen'] - 1} #" + ", #".join(map(str, ind["parents"])) if ind["parents"] else "(initial)")
        head.append(f"  fitness {fit:.2f}" if fit is not None else "  not evaluated yet")
        head.append(f"  {ind['state']}" + ("  reused" if ind.get("reused") else ""))
        if ind.get("params"):
            head.append(f"  {ind['params']:,} params")
        parts = [head]
        if ind["parents"] and self.store is not None:
            try:
                prev = {p["index"]: p for p in self.store.individuals(ind["gen"] - 1)}
                for pi in ind["parents"]:
                    if pi in prev:
                        parts.append(Text(f"  parent #{pi}: {prev[pi]['genome']}", style="dim"))
            except Exception:
                pass
        parts.append(genome_drawing(g))
        detail.update(Group(*parts))

    def action_to_editor(self) -> None:
        g = parse(self.shown["genome"]) if self.shown else (parse(self.status["best"]) if self.status.get("best") else None)
        if g is not None:
            self.app.editor.set_genome(g, "from the run")

    def on_unmount(self) -> None:
        if self.running:
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        if self.store is not None:
            self.store.close()
