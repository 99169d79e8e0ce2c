"""EvolutionMonitor: follow a run directory while it is written, or after.

A run started from the notebook is created from a typed
:class:`~genet_lab.evolution.config.SearchConfig` in the core
(:func:`genet_lab.evolution.run.create_run`) and runs as a separate process
(``python -m genet_lab evolve --resume DIR --json``), through
:class:`genet_lab.supervisor.RunControl`, as in the TUI. The monitor only reads the run store
(read-only SQLite, WAL), so it never blocks the process that trains; it polls the store,
either from a background thread (:meth:`EvolutionMonitor.start_polling`) or when the
notebook calls :meth:`refresh` / :meth:`wait`. It shows the progress, Table 1 (one row per
finished generation), Figure 3 (mean fitness per generation with max/min bars), the Pareto
view (accuracy against parameters and multiply-adds of every evaluated structure, the
non-dominated front marked), the population's genes over time (the share of individuals with
each bit set, generation by generation, beside the structure diversity:
:mod:`genet_lab.evolution.genes`) and the best structure so far. No torch, no command line.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from genet_lab.encoding.draw import have_dot, render
from genet_lab.encoding.genome import parse
from genet_lab.errors import UsageError
from genet_lab.evolution import figures as run_figures
from genet_lab.evolution.analysis import StructurePoint, structure_points
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.events import GenerationFinished, IndividualEvaluated, RunFinished
from genet_lab.evolution.fitness import UNITS
from genet_lab.evolution.genes import GeneFrequencies, gene_frequencies
from genet_lab.evolution.records import Individual
from genet_lab.evolution.strategies import TITLES
from genet_lab.supervisor import NotReady, RunControl, RunProcess, Snapshot
from genet_lab.widgets._render import figure3, figure_png, html_table


def run_config(config: SearchConfig | None = None, **fields: Any) -> SearchConfig:
    """``config`` (default: SearchConfig's own, the laptop budget) with ``fields`` replaced, resolved
    (every default applied, validated) as the run will store it. ``fields`` are SearchConfig's
    (``population=8, stages=(3, 4, 5), reuse_structures=True, train={"lr": 0.05}``); an unknown
    name is a :class:`~genet_lab.errors.UsageError`, as in :func:`genet_lab.evolution.run.evolve`."""
    config = config or SearchConfig()
    return (config.with_overrides(**fields) if fields else config).resolve()


class EvolutionMonitor(widgets.VBox):
    """Live view of one run directory (Table 1, Figure 3, best structure, progress).

    ``EvolutionMonitor(run_dir)`` attaches to an existing or future run;
    :meth:`launch` starts one in a separate process and attaches to it.
    """

    def __init__(
        self,
        run_dir: str | Path,
        interval: float = 2.0,
        use_dot: bool | None = None,
        poll: bool = False,
        control: RunControl | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.control = control or RunControl(run_dir)
        self.run_dir = self.control.run_dir
        self.interval = float(interval)
        self.use_dot = have_dot() if use_dot is None else bool(use_dot)
        self.config: SearchConfig | None = None
        """The resolved config of the run :meth:`launch` created (None when attached: see ``snapshot.config``)."""
        self.snapshot: Snapshot | None = None
        """The last poll of the store (None until the store exists)."""
        self.state = "waiting"
        """The run's state (running, finished, stopped), or waiting / failed / unreadable without a store."""
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._polling = threading.Event()
        self._best_drawn: str | None = None
        self._plotted: tuple | None = None
        self._pareto_drawn: tuple | None = None
        self._genes_drawn: tuple | None = None
        self._finished_inds: dict[int, list[Individual]] = {}
        self.recent: list[str] = []

        self._build()
        self.refresh()
        if poll:
            self.auto.value = True  # starts the polling thread

    def _build(self) -> None:
        """The view: title, progress bars and buttons, Figure 3 beside the best structure, the Pareto
        view, Table 1 and the last events."""
        self.title = widgets.HTML()
        self.progress = widgets.IntProgress(min=0, max=1, description="run", layout=widgets.Layout(width="420px"))
        self.gen_progress = widgets.IntProgress(
            min=0, max=1, description="generation", layout=widgets.Layout(width="420px")
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.auto = widgets.ToggleButton(
            description="auto-refresh",
            value=False,
            tooltip=f"poll the store every {self.interval:g} s in a background thread",
        )
        self.stop_button = widgets.Button(description="Stop run", button_style="danger", disabled=True)
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.auto.observe(lambda ch: self.start_polling() if ch["new"] else self.stop_polling(), "value")
        self.stop_button.on_click(lambda _b: self.cancel())
        self.table = widgets.HTML()
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        # the best-so-far drawing scrolls in its own box instead of running past the right edge
        self.best = widgets.HTML(layout=widgets.Layout(flex="1 1 0%", min_width="0", overflow="auto"))
        self.best.add_class("genet-monitor-best")
        self.pareto_plot = widgets.Image(format="png", layout=widgets.Layout(max_width="760px"))
        self.genes_plot = widgets.Image(format="png", layout=widgets.Layout(max_width="900px"))
        self.genes_plot.add_class("genet-monitor-genes")
        self.events_view = widgets.HTML()
        self.children = [
            self.title,
            widgets.HBox([self.progress, self.refresh_button, self.auto, self.stop_button]),
            self.gen_progress,
            widgets.HBox([self.plot, self.best]),
            self.pareto_plot,
            self.genes_plot,
            self.table,
            self.events_view,
        ]

    # -- starting a run -------------------------------------------------------------
    @classmethod
    def launch(
        cls,
        run_dir: str | Path,
        config: SearchConfig | None = None,
        *,
        interval: float = 2.0,
        env: dict | None = None,
        poll: bool = True,
        **fields: Any,
    ) -> EvolutionMonitor:
        """Create the run of ``config`` with ``fields`` replaced (see :func:`run_config`) in
        ``run_dir`` and run it in a separate process; returns a monitor watching it.

        ``config.kind`` says a genetic run (ga) or a random search (random); ``env`` adds
        environment variables for the process (e.g. ``{"OMP_NUM_THREADS": "1"}``). A bad config,
        or a directory that already holds a run, raises UsageError before anything is made.
        Output goes to ``DIR/evolve.log``. With ``poll`` (default) a background thread refreshes
        the view until the run ends.
        """
        run_dir = Path(run_dir)
        resolved = run_config(config, **fields)
        control = RunControl.create(run_dir, resolved, log=run_dir / "evolve.log", env=env)
        monitor = cls(run_dir, interval=interval, control=control)
        monitor.config = resolved
        if poll:
            monitor.auto.value = True
        return monitor

    @property
    def process(self) -> RunProcess | None:
        """The run process started by :meth:`launch` (None when attached)."""
        return self.control.process

    @property
    def command(self) -> list[str] | None:
        return None if self.process is None else self.process.argv

    @property
    def log_path(self) -> Path | None:
        return None if self.process is None else self.process.log

    def cancel(self, timeout: float = 10.0) -> int | None:
        """Stop the run process started by :meth:`launch` (SIGTERM, then SIGKILL); its exit status.

        Finished evaluations are kept; ``genet-lab evolve --resume DIR`` continues.
        """
        ended = self.control.stop(timeout)
        self.refresh()
        return None if ended is None else ended.returncode

    @property
    def process_running(self) -> bool:
        return self.control.running

    def wait(self, timeout: float | None = None, interval: float | None = None) -> Snapshot:
        """Block, refreshing every ``interval`` s, until the launched process ends (or the
        attached run is no longer running); returns the last snapshot. Raises
        RuntimeError with the log's tail if the process failed, TimeoutError on timeout."""
        interval = self.interval if interval is None else interval
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh()
            going = self.process_running if self.process is not None else self.state == "running"
            if not going:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run in {self.run_dir} still going after {timeout:g} s")
            time.sleep(interval)
        snap = self.refresh()
        ended = None if self.process is None else self.process.exit()
        if ended is not None and ended.failed:
            raise RuntimeError(f"the run process exited with status {ended.returncode}:\n{self.log_tail()}")
        if snap is None:
            raise RuntimeError(f"{self.run_dir} holds no run ({self.state})")
        return snap

    def log_tail(self, lines: int = 15) -> str:
        return "" if self.process is None else self.process.tail(lines)

    # -- polling ----------------------------------------------------------------------
    def start_polling(self, interval: float | None = None) -> None:
        """Refresh from a background thread every ``interval`` s until :meth:`stop_polling`, the launched
        process ends, or (attached) the run is finished or stopped."""
        if interval is not None:
            self.interval = float(interval)
        if self._poller is not None and self._poller.is_alive():
            return
        self._polling.set()
        self._poller = threading.Thread(target=self._poll, daemon=True, name="genet-lab-monitor")
        self._poller.start()

    def stop_polling(self) -> None:
        self._polling.clear()

    def _poll(self) -> None:
        while self._polling.is_set():
            self.refresh()
            if self.process is not None:
                if not self.process_running:
                    self.refresh()  # what the process wrote last
                    break
            elif self.state in ("finished", "stopped"):
                break
            time.sleep(self.interval)
        self._polling.clear()
        if self.auto.value:
            self.auto.value = False

    # -- reading the store -------------------------------------------------------------
    def refresh(self) -> Snapshot | None:
        """Read the store once and update every part of the view; returns the snapshot
        (None while there is no readable store: see :attr:`state`)."""
        with self._lock:
            try:
                snap = self.control.poll()
            except NotReady as exc:
                self._no_store("waiting", exc)
                return None
            except UsageError as exc:
                self._no_store("unreadable", exc)
                return None
            self.snapshot, self.state = snap, snap.state
            self._take_events(snap.events)
            self._show(snap)
            ended = None if self.process is None else self.process.exit()
            if ended is not None and ended.failed:  # the run's process died (its store stays as it left it)
                self.state = "failed"
                self.title.value += f" <span style='color:#c00'>(process failed: {html.escape(ended.error)})</span>"
                self.events_view.value = f"<pre style='color:#c00'>{html.escape(self.log_tail())}</pre>"
            return snap

    def _no_store(self, state: str, reason: Exception) -> None:
        ended = None if self.process is None else self.process.exit()
        if ended is not None:
            state = "failed" if ended.failed else "stopped"
            self.events_view.value = f"<pre style='color:#c00'>{html.escape(self.log_tail())}</pre>"
        self.title.value = f"<b>{html.escape(str(self.run_dir))}</b>: {state} ({html.escape(str(reason))[:200]})"
        self.state = state
        self.stop_button.disabled = not self.process_running

    def _take_events(self, events) -> None:
        for _seq, event in events:
            if isinstance(event, IndividualEvaluated):
                line = (
                    f"gen {event.gen} #{event.index}: {event.accuracy:.2f} {event.state}"
                    f"{' (reused)' if event.reused else ''} in {event.seconds:.1f} s  {event.genome}"
                )
            elif isinstance(event, GenerationFinished):
                line = f"generation {event.gen} finished: mean {event.mean:.2f}, best {event.max:.2f} {event.best}"
            elif isinstance(event, RunFinished):
                line = f"run finished: best {event.best} ({event.best_fitness:.2f})"
            else:
                continue
            self.recent.append(line)
        del self.recent[:-8]

    def _show(self, snap: Snapshot) -> None:
        cfg, status, gens = snap.config, snap.status, list(snap.generations)
        unit = UNITS.get(cfg.get("fitness", ""), "fitness")
        kind = TITLES.get(status.kind, status.kind)
        n, t = status.population or 1, status.generations or 0
        self.title.value = (
            f"<b>{html.escape(str(self.run_dir))}</b>: {kind}, {snap.state}; "
            f"N={n}, T={t}, {html.escape(str(cfg.get('dataset')))}, fitness = {unit}"
        )
        self.progress.max = max(1, status.evaluations_total or 1)
        self.progress.value = status.evaluations_done
        self.progress.description = f"{status.evaluations_done}/{status.evaluations_total}"
        done_now = sum(i.state in ("done", "failed") for i in snap.current)
        self.gen_progress.max = max(1, len(snap.current) or n)
        self.gen_progress.value = done_now
        self.gen_progress.description = (
            f"gen {status.gen}: {done_now}/{len(snap.current)}" if status.gen is not None else "gen -"
        )
        self.table.value = html_table(
            gens,
            ["gen", "max", "min", "mean", "median", "std", "best"],
            ["Gen", "Max", "Min", "Avg", "Med", "Std-D", "Best network structure"],
            {k: (lambda v: f"{v:.2f}") for k in ("max", "min", "mean", "median", "std")}
            | {"gen": lambda v: f"{v:02d}"},
        )
        key = tuple((g.gen, g.mean) for g in gens)
        if key != self._plotted:  # a PNG costs 0.2 s: draw only when a generation was added
            self.plot.value = figure_png(self.figure3(gens, unit))
            self._plotted = key
        self._show_pareto(snap, unit)
        self._show_genes(snap)
        best = status.best
        if best and best != self._best_drawn:
            drawing = render(parse(best), "svg").decode() if self.use_dot else f"<pre>{html.escape(best)}</pre>"
            drawing = drawing[drawing.find("<svg") :] if self.use_dot else drawing
            self.best.value = (
                f"<div><b>best so far</b>: <code>{html.escape(best)}</code> ({status.best_fitness:.2f})</div>{drawing}"
            )
            self._best_drawn = best
        self.events_view.value = "<pre style='margin:0'>" + html.escape("\n".join(self.recent)) + "</pre>"
        self.stop_button.disabled = not self.process_running

    def _individuals(self) -> list[Individual]:
        """Every individual of the run so far (finished generations are read once, then kept)."""
        snap = self.snapshot
        if snap is None:
            return []
        done = {g.gen for g in snap.generations}
        for gen in sorted(done - set(self._finished_inds)):
            try:
                self._finished_inds[gen] = self.control.watcher.individuals(gen)
            except (NotReady, UsageError):
                break  # the next refresh tries again
        current = [i for i in snap.current if i.gen not in self._finished_inds]
        return [i for g in sorted(self._finished_inds) for i in self._finished_inds[g]] + current

    def structure_points(self) -> list[StructurePoint]:
        """Every evaluated structure of the run so far."""
        return structure_points(self._individuals())

    def genes(self) -> GeneFrequencies | None:
        """The population's genes over time so far: generations x bits, the share of individuals with
        each bit set, and the structure diversity (None before the store is read)."""
        snap = self.snapshot
        if snap is None:
            return None
        return gene_frequencies(self._individuals(), snap.config["stages"])

    def _show_genes(self, snap: Snapshot) -> None:
        key = (len(snap.generations), snap.status.gen)  # the current generation's bits are known when it is bred
        if key == self._genes_drawn:
            return
        genes = self.genes()
        if genes is not None and genes.generations:
            self.genes_plot.value = figure_png(self.figure_genes(genes))
            self._genes_drawn = key

    figure_genes = staticmethod(run_figures.figure_genes)
    """The genes over time (a :class:`~genet_lab.evolution.genes.GeneFrequencies`) as a matplotlib Figure
    (as ``genet-lab report`` draws ``fig_genes.png``)."""

    def _show_pareto(self, snap: Snapshot, unit: str) -> None:
        key = (len(snap.generations), sum(i.state in ("done", "failed") for i in snap.current))
        if key == self._pareto_drawn:
            return
        points = self.structure_points()
        if points:
            self.pareto_plot.value = figure_png(self.figure_pareto(points, unit))
            self._pareto_drawn = key

    figure_pareto = staticmethod(run_figures.figure_pareto)
    """The Pareto view of :class:`~genet_lab.evolution.analysis.StructurePoint` records as a matplotlib
    Figure (as ``genet-lab report`` draws it)."""

    figure3 = staticmethod(figure3)
    """Figure 3 of generation statistics (records, or ``run_summary``'s dicts) as a matplotlib Figure
    (see ``_render.figure3``)."""

    def close(self) -> None:
        """Stop polling and close the store; a launched run goes on (:meth:`cancel` stops it)."""
        self.stop_polling()
        with self._lock:
            self.control.close(stop=False)
        super().close()
