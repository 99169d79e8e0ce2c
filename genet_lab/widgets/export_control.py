"""ExportControl: a TrainPanel's finished runs written out as ONNX, TorchScript or a checkpoint.

The TrainPanel hands every run that finished (not failed, not cancelled) to :meth:`ExportControl.keep`,
which keeps it as an in-memory :class:`~genet_lab.training.checkpoint.Checkpoint` (the weights on
the CPU, the data set's classes and normalisation). The control's drop-down picks a run, a second
one the format; Export writes the file with :func:`genet_lab.training.export.export_checkpoint`
(ONNX, TorchScript: the same as ``genet-lab export``) or
:func:`genet_lab.training.checkpoint.save_checkpoint` (a checkpoint ``genet-lab evaluate``,
``predict`` and ``export`` read). Torch is imported when a run is kept or exported, never at import.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import ipywidgets as widgets

FORMATS = ("onnx", "torchscript", "checkpoint")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "checkpoint": ".ckpt.pt"}


def file_name(label: str, fmt: str) -> str:
    """A file name for run ``label`` in format ``fmt``: the label's letters, digits, ``-`` and ``.``."""
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", label).strip("_.")[:60] or "genet"
    return stem + SUFFIXES[fmt]


class ExportControl(widgets.VBox):
    """Run, format and file of an export, an Export button and a status line."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.runs: dict[str, Any] = {}
        """Label -> Checkpoint of every run kept, in the order they finished."""
        self.run = widgets.Dropdown(options=[], description="export run", disabled=True)
        self.format = widgets.Dropdown(options=FORMATS, value=FORMATS[0], description="format")
        self.path = widgets.Text(description="file", placeholder="(the run's label, in this folder)")
        self.button = widgets.Button(description="Export", icon="download", disabled=True)
        self.status = widgets.HTML("no finished run to export yet")
        self.button.on_click(lambda _b: self._clicked())
        self.add_class("genet-train-export")
        self.children = [widgets.HBox([self.run, self.format, self.path, self.button]), self.status]

    def keep(self, job: dict, data: Any, net: Any, cfg: Any, trained: Any, seed: int, train_size: Any) -> None:
        """Keep a finished run (``trained``: the trainer's Trained) under its label (a label used
        before gets a number)."""
        from genet_lab.training.checkpoint import Checkpoint

        result = trained.result
        if result.failed or trained.model is None:
            return
        label = job["label"]
        n = 2
        while label in self.runs:
            label, n = f"{job['label']} ({n})", n + 1
        self.runs[label] = Checkpoint(
            genome=job["genome"],
            net_config=net,
            train_config=cfg.to_dict(),
            metrics=result.to_dict(),
            dataset={
                "name": data.name,
                "classes": list(data.classes),
                "mean": list(data.mean),
                "std": list(data.std),
                "seed": seed,
                "val_size": len(data.val_y),
                "train_size": train_size,
                "preprocessing": data.preprocessing,
            },
            state_dict={k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()},
        )
        self.run.options = list(self.runs)
        self.run.value = label
        self.run.disabled = self.button.disabled = False
        self.status.value = f"{len(self.runs)} run{'s' if len(self.runs) > 1 else ''} to export"

    def export(self, path: str | Path | None = None, fmt: str | None = None, run: str | None = None) -> Path:
        """Write run ``run`` (default: the drop-down's) to ``path`` (default: the file box, else the
        run's label) in format ``fmt`` (default: the drop-down's); returns the file written."""
        from genet_lab.errors import UsageError

        label = run or self.run.value
        if label not in self.runs:
            known = ", ".join(self.runs) or "none yet"
            raise UsageError(f"no finished run {label!r} to export (finished runs: {known})")
        fmt = fmt or self.format.value
        if fmt not in FORMATS:
            raise UsageError(f"unknown export format {fmt!r}; accepted: {', '.join(FORMATS)}")
        target = Path(path or self.path.value.strip() or file_name(label, fmt))
        ckpt = self.runs[label]
        if fmt == "checkpoint":
            from genet_lab.training.checkpoint import save_checkpoint

            model = ckpt.build("cpu")
            return save_checkpoint(
                target, model, ckpt.genome, ckpt.net_config, ckpt.train_config, ckpt.metrics, ckpt.dataset
            )
        from genet_lab.training.export import export_checkpoint

        return export_checkpoint(ckpt, target, fmt)

    def _clicked(self) -> None:
        self.button.disabled = True
        self.status.value = f"exporting {html.escape(str(self.run.value))} as {self.format.value}..."
        try:
            written = self.export()
        except Exception as exc:  # a click has nobody to raise to: the status line says it
            text = " ".join(str(exc).split()) or type(exc).__name__
            self.status.value = f"<span style='color:#c00'>{html.escape(text)}</span>"
        else:
            self.status.value = f"wrote {html.escape(str(written))} ({written.stat().st_size / 1024:.0f} KiB)"
        finally:
            self.button.disabled = not self.runs
