"""TrainPanel: train the editor's genome on a data set and compare the results.

The Train button runs :func:`genet_lab.training.trainer.train_genome` in a background
thread, so the kernel stays free while the progress bar, the live loss and
accuracy plot and the status line update; Stop asks the trainer to cancel.
``panel.train(...)`` does the same work in the calling thread and returns the
:class:`~genet_lab.training.trainer.TrainResult` (what a notebook run under nbclient
wants). Every finished run becomes a row of the comparison table, and can be exported (ONNX,
TorchScript or a checkpoint) from the panel's :class:`~genet_lab.widgets.export_control.ExportControl`.

The trainer's progress reaches the panel as its own ``TrainProgress`` records. The
defaults come from the catalog (:mod:`genet_lab.training.catalog`), as every command's do:
the data sets it lists, each one's budget (epochs, batch size) and the default recipe;
:meth:`TrainPanel.train_config` is the resolved training config a run uses. Training runs in
a thread of the kernel, no process. Torch is imported only when training starts, so
importing the widgets stays torch-free.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

from genet_lab.encoding.genome import Genome, resolve
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.training import catalog
from genet_lab.training.config import TrainConfig, TrainProgress, default_train_config
from genet_lab.widgets._render import figure_png, html_table, new_figure, percent
from genet_lab.widgets.export_control import ExportControl

_PLOT_EVERY_S = 1.0
"""Least time between two redraws of the live plot (one costs 0.1-0.5 s on a busy CPU)."""

_CONTROLLED = ("epochs", "batch_size", "recipe")
"""Training options the panel shows as controls (taken out of ``train_options``)."""


class TrainPanel(widgets.VBox):
    """Controls, progress and results for training single genomes.

    ``source``: a :class:`~genet_lab.widgets.GenomeEditor` (its current genome
    is trained), a Genome, or notation/name. ``epochs``, ``batch_size`` and ``recipe``
    start at the data set's budget and the default recipe (the catalog's, as ``genet-lab
    train``'s); epochs and batch size follow the data set drop-down unless edited.
    ``net_config``: the network preset (a name the preset drop-down lists, or a NetworkConfig of
    your own), adapted to each data set's shape. ``data_dir``,
    ``train_size`` and ``val_size`` go to ``load_dataset``; ``train_options`` to
    ``default_train_config`` (e.g. ``device="cpu"``, ``precision="fp32"``).
    """

    runs = traitlets.Int(0, help="number of finished runs; observe it to hear of new results")

    def __init__(
        self,
        source=None,
        dataset: str = catalog.DEFAULT_DATASET,
        epochs: int | None = None,
        net_config: NetworkConfig | str = catalog.DEFAULT_PRESET,
        data_dir: str | None = None,
        train_size: int | None = None,
        val_size: int | None = None,
        seed: int = 0,
        train_options: dict | None = None,
        batch_size: int | None = None,
        recipe: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source = source if source is not None else "paper-best"
        net = get_preset(net_config) if isinstance(net_config, str) else net_config
        listed = net.name in catalog.list_presets() and net == get_preset(net.name)
        self._own_net = None if listed else net
        self.val_size, self.seed = val_size, seed
        options = dict(train_options or {})
        given = {"epochs": epochs, "batch_size": batch_size, "recipe": recipe}
        given.update({k: options.pop(k) for k in _CONTROLLED if options.get(k) is not None})
        self.train_options = options
        self.results: list[dict] = []
        self.last_result = None
        self._data_cache: dict = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._curve: list[tuple[float, float]] = []
        self._val: list[tuple[int, float]] = []
        self._no_val = False  # the run has no validation split (val_size=0): no accuracy, not 0.0
        self._last_plot = 0.0
        self._busy = False

        self._settings(dataset, given, net.name)
        self.train_size = widgets.BoundedIntText(
            value=train_size or 0, min=0, max=10_000_000, description="train size", tooltip="0: the whole split"
        )
        self.data_dir = widgets.Text(value=data_dir or "", description="data dir", placeholder="(default location)")
        self.label = widgets.Text(description="label", placeholder="(the genome)")
        self.train_button = widgets.Button(description="Train", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.train_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self._outputs()
        self.children = [
            widgets.HBox([self.dataset, self.epochs, self.batch_size]),
            widgets.HBox([self.recipe, self.preset, self.train_size]),
            self.data_dir,
            widgets.HBox([self.label, self.train_button, self.stop_button]),
            widgets.HBox([self.progress, self.status]),
            self.plot,
            self.table,
            self.export_control,
        ]

    def _outputs(self) -> None:
        """The progress bar, status line, plot and table, with the CSS classes the browser tests find."""
        layout, style = widgets.Layout(width="420px"), {"description_width": "initial"}
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="", layout=layout, style=style)
        self.status = widgets.HTML("idle")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="720px"))
        self.table = widgets.HTML()
        self.export_control = ExportControl()
        # CSS classes: stable hooks for the browser tests and for styling
        self.add_class("genet-train-panel")
        for widget, name in (
            (self.progress, "progress"),
            (self.status, "status"),
            (self.plot, "plot"),
            (self.table, "table"),
        ):
            widget.add_class(f"genet-train-{name}")

    def _settings(self, dataset: str, given: dict[str, Any], preset: str) -> None:
        """The controls of what a run trains with: data set, recipe, preset, epochs and batch size (the
        values ``given``, else what the core resolves for the data set)."""
        listed = catalog.list_datasets(listed_only=True)
        self.dataset = widgets.Dropdown(
            options=listed if dataset in listed else [dataset, *listed], value=dataset, description="data set"
        )
        self.recipe = widgets.Dropdown(
            options=catalog.list_recipes(), value=given["recipe"] or catalog.DEFAULT_RECIPE, description="recipe"
        )
        epochs, batch = self._budget(dataset)  # an unknown name: ConfigError listing the known ones
        self.epochs = widgets.BoundedIntText(value=given["epochs"] or epochs, min=1, max=10_000, description="epochs")
        self.batch_size = widgets.BoundedIntText(
            value=given["batch_size"] or batch, min=1, max=1_000_000, description="batch size"
        )
        presets = catalog.list_presets()
        self.preset = widgets.Dropdown(
            options=presets if preset in presets else [preset, *presets], value=preset, description="preset"
        )
        self.dataset.observe(self._on_dataset, "value")

    # -- public API ---------------------------------------------------------------
    @property
    def genome(self) -> Genome:
        """The genome the next run trains (the editor's current one when attached)."""
        src = self.source
        if hasattr(src, "genome"):
            return src.genome
        return src if isinstance(src, Genome) else resolve(src)

    @property
    def net_config(self) -> NetworkConfig:
        """The network the next run trains (before it is adapted to the data set's shape)."""
        own = self._own_net
        return own if own is not None and own.name == self.preset.value else get_preset(self.preset.value)

    @property
    def running(self) -> bool:
        """Whether a run (background or blocking) is going on."""
        return self._busy or (self._thread is not None and self._thread.is_alive())

    def train(
        self,
        genome: Genome | str | None = None,
        label: str | None = None,
        dataset: str | None = None,
        epochs: int | None = None,
    ):
        """Train now, in this thread, and return the TrainResult (also added to the table)."""
        if self.running:
            raise RuntimeError("a training run is already going on in the background; wait() or stop() it first")
        job = self._job(genome, label, dataset, epochs)
        self._stop.clear()
        return self._run(job)

    def start(
        self,
        genome: Genome | str | None = None,
        label: str | None = None,
        dataset: str | None = None,
        epochs: int | None = None,
    ) -> threading.Thread | None:
        """Train in a background thread (what the Train button does); returns the thread."""
        if self.running:
            self.status.value = "<span style='color:#c00'>already training; Stop it first</span>"
            return None
        try:
            job = self._job(genome, label, dataset, epochs)
        except ValueError as exc:
            self._error(str(exc))
            return None
        self._stop.clear()  # here, not in the thread: a stop() right after start() must count
        self._thread = threading.Thread(target=self._run_safely, args=(job,), daemon=True, name="genet-lab-train")
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None):
        """Block until the background run ends; returns its TrainResult (None if still running)."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return None
        return self.last_result

    def stop(self) -> None:
        """Ask the running training to stop at its next step (it ends as failed, 'cancelled')."""
        if not self.running:
            return
        self._stop.set()
        self.status.value = "stopping..."

    def on_result(self, callback: Callable[[dict], None]) -> Callable:
        """Call ``callback(row)`` with each finished run's table row."""
        self.observe(lambda _c: callback(self.results[-1]), "runs")
        return callback

    def data(self, dataset: str | None = None):
        """The DataSplits a run on ``dataset`` uses (loaded once, then cached)."""
        from genet_lab.training.data import load_dataset

        name = dataset or self.dataset.value
        size = self.train_size.value or None
        data_dir = self.data_dir.value.strip() or None
        key = (name, size, data_dir)
        if key not in self._data_cache:
            self._data_cache[key] = load_dataset(
                name, data_dir=data_dir, seed=self.seed, train_size=size, val_size=self.val_size, with_test=False
            )
        return self._data_cache[key]

    def train_config(self, dataset: str | None = None, epochs: int | None = None) -> TrainConfig:
        """The resolved training config a run on ``dataset`` (default: the drop-down's) uses now:
        ``default_train_config`` of the data set with the panel's epochs, batch size, recipe, seed
        and ``train_options``."""
        return self._config(self._job(None, None, dataset, epochs))

    # -- the work -------------------------------------------------------------------
    def _job(self, genome, label, dataset, epochs) -> dict:
        """What one run trains, read from the controls now (``dataset`` is selected first)."""
        g = self.genome if genome is None else (genome if isinstance(genome, Genome) else resolve(genome))
        if dataset is not None:
            self._select_dataset(dataset)
        return {
            "genome": g,
            "label": label or self.label.value or str(g),
            "dataset": self.dataset.value,
            "epochs": epochs or self.epochs.value,
            "batch_size": self.batch_size.value,
            "recipe": self.recipe.value,
        }

    def _config(self, job: dict) -> TrainConfig:
        options: dict[str, Any] = {"seed": self.seed, **self.train_options}
        options.update(epochs=job["epochs"], batch_size=job["batch_size"])
        return default_train_config(job["dataset"], recipe=job["recipe"], **options)

    def _select_dataset(self, name: str) -> None:
        """Show ``name`` in the drop-down (one the catalog knows, listed or not)."""
        catalog.dataset(name)  # an unknown name: ConfigError listing the known ones
        if name not in self.dataset.options:
            self.dataset.options = [name, *self.dataset.options]
        self.dataset.value = name

    def _budget(self, name: str) -> tuple[int, int]:
        """The epochs and batch size the core gives data set ``name`` with this panel's recipe and
        options (the catalog's budget; 240 epochs with the paper-full schedule), as ``genet-lab
        train`` resolves them."""
        catalog.dataset(name)  # an unknown name: the catalog's ConfigError, not an image folder's budget
        cfg = default_train_config(name, recipe=self.recipe.value, **self.train_options)
        return cfg.epochs, cfg.batch_size

    def _on_dataset(self, change) -> None:
        """Epochs and batch size follow the data set's budget, unless edited away from the old one's."""
        (old_epochs, old_batch), (epochs, batch) = self._budget(change["old"]), self._budget(change["new"])
        if self.epochs.value == old_epochs:
            self.epochs.value = epochs
        if self.batch_size.value == old_batch:
            self.batch_size.value = batch

    def _run_safely(self, job: dict) -> None:
        try:
            self._run(job)
        except Exception as exc:  # a background thread has nobody to raise to: show it
            self._error(f"{type(exc).__name__}: {exc}")

    def _run(self, job: dict):
        from genet_lab.training.trainer import train_model

        self._set_busy(True)
        try:
            self.status.value = f"loading {job['dataset']}..."
            data = self.data(job["dataset"])
            net = self.net_config.with_input(data.in_channels, data.image_size, data.num_classes)
            cfg = self._config(job)
            self._curve, self._val, self._no_val = [], [], not len(data.val_y)
            with self.progress.hold_sync():
                self.progress.bar_style, self.progress.description = "", ""
                self.progress.value, self.progress.max = 0, max(1, cfg.epochs)
            self.status.value = f"training {job['label']} on {data.name} ({len(data.train_y)} images)..."
            trained = train_model(
                job["genome"],
                net,
                data,
                cfg,
                progress=self._on_progress,
                should_stop=self._stop.is_set,
            )
            result = trained.result
        finally:
            self._set_busy(False)
        self.export_control.keep(job, data, net, cfg, trained, self.seed, self.train_size.value or None)
        self._finish(job, data, net, result)
        return result

    def _on_progress(self, p: TrainProgress) -> None:
        ended = self._no_val and p.val_accuracy is not None  # an epoch's end: the 0.0 of no validation data
        p = dataclasses.replace(p, val_accuracy=None) if ended else p
        with self._lock:
            self._curve.append((p.done, p.loss))
            if p.val_accuracy is not None:
                self._val.append((p.epoch, p.val_accuracy))
        # The epoch in progress is the bar's own label, sent in one message with the bar: two widgets
        # update one after the other in the browser, which showed "epoch 2/8" beside a bar under 1/8.
        # TrainProgress.epoch is the epoch in progress (1-based), or the one just validated.
        with self.progress.hold_sync():
            self.progress.max = p.steps
            self.progress.value = p.step
            self.progress.description = f"epoch {p.epoch}/{p.epochs}"
        if ended:
            self.status.value = f"epoch {p.epoch}/{p.epochs} done: loss {p.loss:.3f} (no validation split)"
        elif p.val_accuracy is None:
            self.status.value = f"training loss {p.loss:.3f}"
        else:  # true however late the bar moves on
            self.status.value = (
                f"epoch {p.epoch}/{p.epochs} done: loss {p.loss:.3f}, validation {percent(p.val_accuracy)}%"
            )
        now = time.monotonic()
        if now - self._last_plot > _PLOT_EVERY_S:
            self._last_plot = now
            self._draw()

    def _finish(self, job, data, net, result) -> None:
        from genet_lab.encoding.complexity import complexity

        self.last_result = result
        no_val = not len(data.val_y)  # failed or no split: no accuracy (the trainer's 0.0), "-" not 0.00
        row = {
            "label": job["label"],
            "genome": str(job["genome"]),
            "dataset": data.name,
            "epochs": result.epochs_run,
            "params": result.params,
            "macs": complexity(job["genome"], net).macs,
            "val_accuracy": None if result.failed or no_val else result.val_accuracy,
            "final_loss": result.final_loss,
            "seconds": result.seconds,
            "state": f"failed: {result.error}" if result.failed else "done",
            "curve": [] if no_val else [c["val_accuracy"] for c in result.curve],
        }
        self.results.append(row)
        if result.failed:  # the bar stays where the run stopped
            self.progress.bar_style = "warning" if result.error == "cancelled" else "danger"
            self.status.value = self._failed_status(job["label"], result, no_val)
        else:
            self.progress.value = self.progress.max
            acc = "no validation split" if no_val else f"validation accuracy {percent(result.val_accuracy)}%"
            self.status.value = f"{job['label']}: {acc} in {result.seconds:.1f} s"
        self._draw()
        self.table.value = self.results_html()
        self.runs += 1

    @staticmethod
    def _failed_status(label: str, result, no_val: bool = False) -> str:
        """'cancelled after 3 of 40 epochs ..., last validation 35.07%': never a 0.00% accuracy."""
        import html

        epochs = f"after {result.epochs_run} epoch{'s' if result.epochs_run != 1 else ''} in {result.seconds:.1f} s"
        last = result.curve[-1]["val_accuracy"] if result.curve and not no_val else None
        what = "cancelled" if result.error == "cancelled" else f"failed ({result.error})"
        text = f"{label}: {what} {epochs}" + (f", last validation {percent(last)}%" if last is not None else "")
        return f"<span style='color:#b35900'>{html.escape(text)}</span>"

    def results_html(self) -> str:
        """The comparison table: one row per finished run, best validation accuracy first, failed runs last."""
        rows = sorted(self.results, key=lambda r: (r["val_accuracy"] is None, -(r["val_accuracy"] or 0.0)))
        return html_table(
            rows,
            ["label", "genome", "dataset", "epochs", "params", "macs", "val_accuracy", "seconds", "state"],
            ["run", "genome", "data", "epochs", "params", "mult-adds", "val. acc. %", "seconds", "state"],
            {
                "params": lambda v: f"{v:,}",
                "macs": lambda v: f"{v:,}",
                "val_accuracy": percent,
                "seconds": lambda v: f"{v:.1f}",
            },
        )

    def figure(self):
        """The plot as a matplotlib Figure: this run's loss, every run's validation accuracy
        (the legend to the right of the plots, where it covers no curve)."""
        fig = new_figure(9.0, 3.0, layout="constrained")
        ax_loss, ax_acc = fig.subplots(1, 2)
        with self._lock:
            curve, val = list(self._curve), list(self._val)
        if curve:
            ax_loss.plot([c[0] for c in curve], [c[1] for c in curve], color="#4c72b0")
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("training loss")
        ax_loss.set_title("this run")
        for row in self.results:
            if row["curve"]:
                ax_acc.plot(
                    range(1, len(row["curve"]) + 1), [100 * a for a in row["curve"]], alpha=0.6, label=row["label"][:28]
                )
        if val and self._busy:
            ax_acc.plot([v[0] for v in val], [100 * v[1] for v in val], color="black", lw=2, label="running")
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("validation accuracy %")
        ax_acc.set_title("all runs")
        if ax_acc.lines:
            fig.legend(*ax_acc.get_legend_handles_labels(), fontsize=7, loc="outside right upper")
        return fig

    def _draw(self) -> None:
        self.plot.value = figure_png(self.figure())

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.train_button.disabled = busy
        self.stop_button.disabled = not busy

    def _error(self, message: str) -> None:
        import html

        self.status.value = f"<span style='color:#c00'>{html.escape(message)}</span>"
