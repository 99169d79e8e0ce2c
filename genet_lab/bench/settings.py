"""What a build trains: :class:`BenchSettings` (space, data, budget, recipe, seeds, table seed),
resolved against the catalog, and the training config it implies. No torch.

A table's data split is fixed by ``table_seed`` (the ``seed`` of an evolution run: it is
``load_dataset``'s seed); each training's seed (one of ``seeds``) sets its weights and batch order
only, as an evolution's evaluation seed does. The training config is built exactly as
:class:`genet_lab.evolution.fitness.TrainFitness` builds it (fp32, channels-last off, the data
set's budget under the recipe, test accuracy measured), so an entry is what an evaluation of a run
with the same settings would measure.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, fields, replace
from importlib import metadata
from typing import Any

from genet_lab.encoding.genome import check_stages
from genet_lab.errors import ConfigError, UsageError
from genet_lab.training import catalog
from genet_lab.training.config import TrainConfig, default_train_config

__all__ = ["MODES", "BenchSettings", "package_versions"]

MODES = ("loop", "batched")
PINNED = {"precision": "fp32", "channels_last": "off"}
"""What TrainFitness pins (a timed probe must not pick bf16 one time and fp32 the next)."""


@dataclass(frozen=True)
class BenchSettings:
    """Everything that decides a table's numbers; stored at creation, compared on resume."""

    stages: tuple[int, ...]
    dataset: str = catalog.DEFAULT_DATASET
    data_dir: str | None = None
    train_size: int | None = None
    val_size: int | None = None
    image_size: int | None = None
    preset: str = catalog.DEFAULT_PRESET
    epochs: int | None = None
    batch_size: int | None = None
    recipe: str | None = None
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    table_seed: int = 0
    threads: int = 1
    """CPU threads per training: on a CPU the thread count changes the float sums, and six epochs
    turn that into points of accuracy, so it is part of what a table measured."""
    mode: str = "loop"
    """loop: one network at a time (what an evaluation of a run measures); batched: ``group``
    networks of one seed as one population (about twice as fast on digits, equal only up to
    float32 rounding, which training amplifies; see docs/bench.md)."""
    group: int = 8
    """Networks per batched group (structures ``[g*group, (g+1)*group)`` of one seed)."""
    sample: int | None = None
    """Train only this many structures, drawn at random by the table seed (a pilot: how much the
    structures of a space differ against the seed noise, before paying for all of it); None: every
    structure."""

    def resolved(self) -> BenchSettings:
        """Every default applied (the data set's budget, the default recipe) and validated."""
        stages = check_stages(self.stages)
        if self.dataset not in catalog.DATASETS:
            raise ConfigError("dataset", self.dataset, accepted=catalog.list_datasets(), what="data set")
        if self.preset not in catalog.list_presets():
            raise ConfigError("preset", self.preset, accepted=catalog.list_presets(), what="preset")
        for name, ok, accepted in (
            ("threads", self.threads >= 1, ">= 1"),
            ("mode", self.mode in MODES, ", ".join(MODES)),
            ("group", self.group >= 1, ">= 1"),
            ("sample", self.sample is None or self.sample >= 1, ">= 1"),
        ):
            if not ok:
                raise ConfigError(name, getattr(self, name), accepted=accepted, what=name)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("seeds", list(self.seeds), accepted="one or more distinct seeds", what="seeds")
        info = catalog.dataset(self.dataset)
        out = replace(
            self,
            stages=stages,
            epochs=self.epochs or info.epochs,
            batch_size=self.batch_size or info.batch_size,
            recipe=self.recipe or catalog.DEFAULT_RECIPE,
            seeds=tuple(int(s) for s in self.seeds),
            data_dir=None if self.data_dir is None else str(self.data_dir),
        )
        out.train_config()  # validates epochs, batch size, recipe
        return out

    def train_config(self, seed: int = 0, device: str = "auto") -> TrainConfig:
        """The config one training of this table runs with (TrainFitness's, with ``seed`` and
        :attr:`threads`)."""
        overrides: dict[str, Any] = {"epochs": self.epochs, "batch_size": self.batch_size, "recipe": self.recipe}
        return default_train_config(
            self.dataset, **overrides, **PINNED, eval_test=True, seed=int(seed), threads=self.threads, device=device
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"], d["seeds"] = list(self.stages), list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown bench settings {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        d = dict(data)
        d["stages"] = tuple(d["stages"])
        d["seeds"] = tuple(d.get("seeds", (0,)))
        return cls(**d)

    def differences(self, other: BenchSettings) -> list[str]:
        """``name: stored -> asked`` for every setting that differs."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]]

    def describe(self) -> str:
        space = ",".join(map(str, self.stages))
        return (
            f"stages {space}, {self.dataset}, {self.epochs} epochs, batch {self.batch_size}, recipe {self.recipe}, "
            f"{len(self.seeds)} seeds, table seed {self.table_seed}, {self.threads} thread(s), {self.mode}"
            + ("" if self.sample is None else f", a sample of {self.sample} structures")
        )


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    """genet-lab, torch and python versions, read without importing torch."""
    return {"genet-lab": _version("genet-lab"), "torch": _version("torch"), "python": platform.python_version()}
