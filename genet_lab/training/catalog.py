"""The names every front end lists, defined once: data sets (with the budget each trains at),
network presets, training recipes and the defaults among them.

One registry per kind of name (timm's ``list_models()``): the CLI's choices and help, the TUI's
drop-downs, the widgets' menus and the core's checks all read these lists, so a new data set or
recipe is one edit here. Plain data, no torch: a front end may import it without the trainer.

The budget of a data set is what *every* command trains with unless told otherwise: ``train``,
``evolve``, ``random-search``, the TUI and the widgets (one set of defaults, compared in a test).
"""

from __future__ import annotations

from dataclasses import dataclass

from genet_lab.encoding.presets import list_presets
from genet_lab.errors import ConfigError
from genet_lab.training.recipes import DEFAULT_RECIPE, RECIPES, SCHEDULES

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "DEFAULT_PRESET",
    "DEFAULT_RECIPE",
    "Dataset",
    "SCHEDULES",
    "dataset",
    "list_datasets",
    "list_presets",
    "list_recipes",
]


@dataclass(frozen=True)
class Dataset:
    """One data set genet-lab can load, and the budget it trains at by default."""

    name: str
    title: str
    """A few words for people (menus, help)."""
    epochs: int
    """Training epochs per training (``train``) and per evaluation (``evolve``)."""
    batch_size: int
    """Images per SGD step."""
    lr: float
    """Peak learning rate of the legacy recipe (fast and paper bring their own)."""
    val_size: int | None = None
    """Validation images carved from the training split; None: 20% of it."""
    hflip: bool = True
    """Whether a horizontal flip preserves the label (a mirrored 2 is not a 2)."""
    embedded: bool = False
    """Shipped with a dependency (no data directory needed)."""
    listed: bool = True
    """Offered in the front ends' menus (imagefolder needs a folder, so only the CLI names it)."""


_ALL = (
    # The budgets of the small sets are evolve's measured ones: 6 epochs at batch 32 on digits
    # (docs/experiments.md: an evolution in about 5 minutes on 2 cores); batch 32 on MNIST and
    # Fashion-MNIST (docs/benchmarks.md, "Fitness": within-genome sd 4.4 against 11.4 points at
    # batch 128, Kendall tau to a 10-epoch reference 0.40 against 0.00). Larger images keep 128.
    Dataset("digits", "scikit-learn's 8x8 digits (embedded)", epochs=6, batch_size=32, lr=0.02, hflip=False,
            embedded=True),
    Dataset("mnist", "MNIST", epochs=5, batch_size=32, lr=0.05, val_size=10_000, hflip=False),
    Dataset("fashion-mnist", "Fashion-MNIST", epochs=10, batch_size=32, lr=0.05, val_size=10_000),
    Dataset("cifar10", "CIFAR-10", epochs=20, batch_size=128, lr=0.05, val_size=10_000),
    Dataset("cifar100", "CIFAR-100", epochs=30, batch_size=128, lr=0.05, val_size=10_000),
    Dataset("svhn", "SVHN", epochs=10, batch_size=128, lr=0.05, val_size=10_000, hflip=False),
    Dataset("imagefolder", "a folder of class folders", epochs=20, batch_size=64, lr=0.05, listed=False),
)  # fmt: skip

DATASETS: dict[str, Dataset] = {d.name: d for d in _ALL}
"""Every data set by name, in the order front ends list them."""

DEFAULT_DATASET = "digits"
"""The data set every command and front end starts with: embedded, so nothing to download."""

DEFAULT_PRESET = "paper-cifar10"
"""The network preset every command and front end starts with (the paper's revised LeNet)."""


def list_datasets(listed_only: bool = False) -> list[str]:
    """Data set names in menu order; ``listed_only`` leaves out those a menu cannot offer."""
    return [d.name for d in _ALL if d.listed or not listed_only]


def dataset(name: str) -> Dataset:
    """The registry entry of ``name``; an unknown name is a :class:`ConfigError` listing the known ones."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ConfigError("dataset", name, accepted=list_datasets(), what="dataset") from None


def list_recipes() -> list[str]:
    """Training recipe names, the default first."""
    return [DEFAULT_RECIPE, *(r for r in RECIPES if r != DEFAULT_RECIPE)]


def _check() -> None:  # the registry's own consistency, at import: a typo here fails every test
    assert DEFAULT_DATASET in DATASETS and DEFAULT_RECIPE in RECIPES
    assert DEFAULT_PRESET in list_presets()


_check()
