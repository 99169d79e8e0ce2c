"""The ``genet-lab train`` command line that reproduces one training: of a table's entry, or (through
:mod:`genet_lab.evolution.reproduce`) of an evaluation of a run.

A training is fixed by its genome, its data (data set, folder, sizes, image size, and the split
seed), the network preset and the training config (epochs, batch size, recipe, execution pins,
threads, device and the training seed, which sets the weights and the batch order). A
:class:`Reproduction` holds these as the train command's option names, which are config field
names (``batch_size``, ``split_seed``); :meth:`Reproduction.argv` writes each as ``--`` plus the name
with dashes. :func:`config_options` turns a resolved
:class:`~genet_lab.training.config.TrainConfig` into such options: the budget and the pins always,
the recipe's own values only where the config differs from them, and a one-line error where train
has no option for the difference. No torch; knows neither the CLI's parser nor a run store.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genet_lab.bench.settings import BenchSettings
from genet_lab.errors import UsageError
from genet_lab.training.config import TrainConfig, default_train_config

if TYPE_CHECKING:
    from genet_lab.bench.table import Entry, Run, Table

__all__ = ["DATA_OPTIONS", "TRAIN_OPTIONS", "Reproduction", "config_options", "table_reproduction"]

PROGRAM = "genet-lab"
DATA_OPTIONS = ("dataset", "data_dir", "train_size", "val_size", "image_size", "split_seed", "preset")
"""What the data and the network are: train's options of that name."""
TRAIN_OPTIONS = ("epochs", "batch_size", "recipe", "lr", "momentum", "weight_decay", "schedule", "augment",
                 "precision", "channels_last", "threads", "device", "seed", "eval_test")  # fmt: skip
"""The TrainConfig fields train takes as options of that name; the rest (nesterov, label smoothing,
dropout, EMA) come from the recipe only."""
ALWAYS = ("epochs", "batch_size", "recipe", "precision", "channels_last", "threads", "device", "seed")
"""Written even where they equal train's defaults: a later default must not change the command."""


@dataclass(frozen=True)
class Reproduction:
    """One training as a train command: the genome (the paper's notation) and its options, in order."""

    genome: str
    options: dict[str, Any] = field(default_factory=dict)
    """Option name (a config field) -> value; None leaves the option out, True is a switch."""

    def argv(self) -> list[str]:
        """The arguments after the program's name: ``train GENOME --name value ...``."""
        out = ["train", self.genome]
        for name, value in self.options.items():
            if value is None or value is False:
                continue
            out.append("--" + name.replace("_", "-"))
            if value is not True:
                out.append(",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value))
        return out

    def command(self, program: str = PROGRAM) -> str:
        """One shell line to copy."""
        return shlex.join([program, *self.argv()])


def config_options(cfg: TrainConfig, dataset: str) -> dict[str, Any]:
    """The train options that make train resolve ``cfg`` (a config resolved for ``dataset``): the
    budget, pins, device and seed always, the recipe's values only where ``cfg`` differs from them.
    A :class:`UsageError` names a difference train has no option for."""
    recipe = default_train_config(dataset, cfg.recipe) if cfg.recipe != "custom" else None
    if recipe is None:
        raise UsageError("a training with a custom recipe cannot be written as a train command (no recipe to name)")
    mine, base = cfg.to_dict(), recipe.to_dict()
    lacking = [k for k in mine if k not in TRAIN_OPTIONS and mine[k] != base[k]]
    if lacking:
        what = ", ".join(f"{k} {mine[k]!r} (recipe {cfg.recipe}: {base[k]!r})" for k in lacking)
        raise UsageError(f"this training sets {what}, which the train command takes from the recipe only")
    out = {k: mine[k] for k in TRAIN_OPTIONS if k in ALWAYS or mine[k] != base[k]}
    if "schedule" in out:  # a paper schedule alone brings the paper's learning rate
        out["lr"] = mine["lr"]
    return {k: out[k] for k in TRAIN_OPTIONS if k in out}


def table_reproduction(table: Table, entry: Entry, run: Run, data_dir: str | None = None) -> Reproduction:
    """The train command that reproduces ``run`` (one seed) of ``entry`` in ``table``: the table's
    data split (its table seed), network and training config, the run's seed and device; the data
    folder is ``data_dir`` where given (the table's copy on this machine), else the build's."""
    s: BenchSettings = table.settings
    device = getattr(run, "device", None) or "cpu"  # tables whose runs carry no device were built on a CPU
    cfg = s.train_config(run.seed, device=device)
    options: dict[str, Any] = {
        "stages": tuple(s.stages),
        "dataset": s.dataset,
        "data_dir": s.data_dir if data_dir is None else str(data_dir),
        "train_size": s.train_size,
        "val_size": s.val_size,
        "image_size": s.image_size,
        "preset": s.preset,
        **config_options(cfg, s.dataset),
        "split_seed": s.table_seed,
    }
    return Reproduction(entry.genome.notation(), options)
