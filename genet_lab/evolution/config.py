"""What a search is asked to do: :class:`SearchConfig` and the training overrides it carries.

A run stores ``SearchConfig.to_dict()`` as JSON and is resumed from ``SearchConfig.from_dict``,
so both keep one flat format (``train`` holds only the overrides that were set). Unknown keys
are rejected, as every other config of genet-lab does. Knows the genome space and the network
presets; no torch: the training overrides are checked here for their names and types, and
their values by :class:`genet_lab.training.config.TrainConfig` when the fitness is built
(before a run directory is made).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from genet_lab.encoding.genome import RENAMED, renamed_error
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import UsageError, reject_unknown_keys
from genet_lab.evolution import operators as ops
from genet_lab.training.recipes import DEFAULT_RECIPE, PAPER_FULL_EPOCHS, check_paper_full, check_recipe

FITNESS_KINDS = ("train", "proxy", "toy")

# Defaults of the `genet-lab evolve` command and of the TUI's New-run dialog, which starts that
# command (not of the library, which keeps the paper's N = 20, T = 50): sized so an evolution on
# the embedded digits finishes within 5 minutes on 2 CPU cores and still shows the population
# improving (docs/experiments.md has the timings).
CLI_DEFAULTS = dict(population=10, generations=10, epochs=6, train_size=None, batch_size=32, threads=1)
# The data sets whose short-budget fitness trains at CLI_DEFAULTS' batch 32 instead of the trainer's
# 128: Fashion-MNIST at 2,000 images and 2 epochs, 10 genomes x 3 seeds, batch 128 against 32:
# within-genome sd 11.4 against 4.4 points, Kendall tau to a 10-epoch reference 0.00 against 0.40
# (docs/benchmarks.md, "Fitness"). Larger images (CIFAR-10, --paper) keep the trainer's batch.
SMALL_BATCH_DATASETS = ("digits", "mnist", "fashion-mnist")
UNITS = {"train": "val. accuracy %", "proxy": "NASWOT score (no training)", "toy": "toy score (test aid)"}
OBJECTIVE_HELP = (
    "accuracy (default), params:LAMBDA or macs:LAMBDA (accuracy - LAMBDA x log10(parameters or "
    "multiply-adds), LAMBDA a number >= 0)"
)


def parse_objective(text: str) -> tuple[str, float]:
    """``accuracy`` -> ("accuracy", 0.0); ``params:0.5`` -> ("params", 0.5); ``macs:LAMBDA`` likewise.

    A small fixed grammar (never evaluated as an expression); anything else is a
    :class:`~genet_lab.errors.UsageError` saying what is accepted.
    """
    text = str(text).strip()
    if text == "accuracy":
        return "accuracy", 0.0
    kind, sep, value = text.partition(":")
    lam = None
    if sep and kind in ("params", "macs"):
        try:
            lam = float(value)
        except ValueError:
            lam = None
    if lam is None or not math.isfinite(lam) or lam < 0:
        raise UsageError(f"unknown objective {text!r}; use {OBJECTIVE_HELP}")
    return kind, lam


def apply_objective(objective: str, accuracy: float, params: int | None, macs: int | None) -> float:
    """The selection fitness of an (averaged) accuracy under ``objective`` (see :func:`parse_objective`)."""
    kind, lam = parse_objective(objective)
    if kind == "accuracy" or lam == 0.0:
        return float(accuracy)
    cost = params if kind == "params" else macs
    if cost is None or cost < 1:
        raise ValueError(f"objective {objective!r} needs the {kind} of every individual, got {cost!r}")
    return float(accuracy) - lam * math.log10(cost)


@dataclass(frozen=True)
class TrainOverrides:
    """Fields of :class:`~genet_lab.training.config.TrainConfig` a search may set for every
    evaluation; None keeps the data set's default. ``epochs`` is :attr:`SearchConfig.epochs`,
    the seed is each evaluation's own, and a fitness never measures the test split, so those
    three are not here."""

    batch_size: int | None = None
    lr: float | None = None
    """Peak learning rate per SGD step."""
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    """paper, paper-full, onecycle, cosine or constant."""
    device: str | None = None
    """auto, cpu, cuda, cuda:N or mps."""
    precision: str | None = None
    """auto, fp32 or bf16 (the fitness pins fp32 unless set)."""
    channels_last: str | None = None
    """auto, on or off (the fitness pins off unless set)."""
    augment: str | None = None
    """auto, none, crop or crop+flip."""
    nesterov: bool | None = None
    label_smoothing: float | None = None
    ema: float | None = None
    """Decay of the running average of the weights that is validated (0: none)."""
    dropout: float | None = None
    """Drop ratio of the head's hidden layers (None here: the recipe's)."""
    recipe: str | None = None
    """The named training recipe (fast, paper, legacy) the other options start from; a search
    config always names one (None becomes the default, fast)."""
    threads: int | None = None
    """CPU threads per training (0 measures)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            kind = _FIELD_TYPES[f.name]
            if kind is bool:
                ok = isinstance(value, bool)
            else:
                ok = isinstance(value, (int, float) if kind is float else kind) and not isinstance(value, bool)
            if not ok:
                raise UsageError(f"training option {f.name} must be {_TYPE_NAMES[kind]}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The options that were set (the stored format)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainOverrides:
        data = {k: v for k, v in data.items() if v is not None}
        reject_unknown_keys(data, cls, "training option(s)", list_known=True)
        return cls(**data)


_FIELD_TYPES: dict[str, type] = {
    "batch_size": int,
    "threads": int,
    "lr": float,
    "momentum": float,
    "weight_decay": float,
    "label_smoothing": float,
    "dropout": float,
    "schedule": str,
    "device": str,
    "precision": str,
    "channels_last": str,
    "augment": str,
    "recipe": str,
    "nesterov": bool,
    "ema": float,
}
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class SearchConfig:
    """A genetic run (kind "ga") or a random search (kind "random") and its evaluator."""

    kind: str = "ga"
    population: int = 20
    """N, individuals per generation."""
    generations: int = 50
    """T, generations after the initial one (T + 1 evaluated generations)."""
    pm: float = 0.8
    """p_M, probability that an individual outside a crossover is mutated."""
    qm: float = 0.05
    """q_M, probability that a bit of a mutated individual flips."""
    pc: float = 0.2
    """p_C, probability that a pair (1,2), (3,4), ... is crossed."""
    qc: float = 0.2
    """q_C, probability that a stage of a crossed pair is exchanged."""
    stages: tuple[int, ...] = (3, 4, 5)
    init: str = "random"
    """random, zeros, a genome name (chain, residual, dense, residual-40, paper-best: base + flips) or file."""
    init_p: float = 0.5
    """Bernoulli probability of a 1 bit for random initialisation."""
    init_flips: int = 2
    """Bits flipped in each copy of a named base genome."""
    init_genomes: tuple[str, ...] = ()
    """The genomes read from an init file (kept here so the run never needs the file again)."""
    fitness: str = "train"
    reuse_structures: bool = False
    seed: int = 0
    preset: str = "paper-cifar10"
    dataset: str = "digits"
    data_dir: str | None = None
    train_size: int | None = None
    """Training images (None: the data set's default)."""
    val_size: int | None = None
    epochs: int | None = None
    """Training epochs per evaluation; None becomes 240 with the paper-full schedule (the only
    length it trains), else 1."""
    eval_test: bool = False
    """Also score every evaluation on the test split (stored beside it, never seen by selection:
    Table 1 on the test set, as the paper reports it)."""
    objective: str = "accuracy"
    """What selection maximises: accuracy, or params:LAMBDA / macs:LAMBDA for accuracy minus
    LAMBDA x log10(parameters / multiply-adds) (see :func:`parse_objective`)."""
    train: TrainOverrides = field(default_factory=TrainOverrides)
    """Other training options (batch_size, lr, device, ...). A mapping is accepted and checked."""

    def __post_init__(self) -> None:
        # Mappings come from JSON, the CLI and callers of the Python API; the field stays typed.
        if isinstance(self.train, Mapping):
            object.__setattr__(self, "train", TrainOverrides.from_dict(self.train))
        elif not isinstance(self.train, TrainOverrides):
            raise UsageError(f"train must be a mapping of training options, got {self.train!r}")
        # The recipe is always named in the stored config, so a later default cannot change a run.
        if self.train.recipe is None:
            object.__setattr__(self, "train", replace(self.train, recipe=DEFAULT_RECIPE))
        else:
            check_recipe(self.train.recipe)
        if self.epochs is None:
            epochs = PAPER_FULL_EPOCHS if self.train.schedule == "paper-full" else 1
            object.__setattr__(self, "epochs", epochs)

    def validated(self) -> SearchConfig:
        if self.kind not in ("ga", "random"):
            raise ValueError(f"kind must be 'ga' or 'random', got {self.kind!r}")
        if self.population < 2:
            raise ValueError(
                f"population must be at least 2 (selection needs a worst and a best), got {self.population}"
            )
        if self.generations < 0:
            raise ValueError(f"generations must be >= 0, got {self.generations}")
        if not 0 <= int(self.seed) < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2^63) (stored as a SQLite integer), got {self.seed!r}")
        if self.epochs is None or self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        check_paper_full(self.train.schedule, self.epochs)
        if self.init in RENAMED:
            raise UsageError(str(renamed_error(self.init)))
        for name in ("pm", "qm", "pc", "qc", "init_p"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} is a probability and must be in [0, 1], got {v}")
        if self.fitness not in FITNESS_KINDS:
            raise ValueError(f"unknown fitness {self.fitness!r}; known: {', '.join(FITNESS_KINDS)}")
        if self.eval_test and self.fitness == "proxy":
            raise ValueError(
                "--eval-test needs a fitness that trains (train; toy for tests): the proxy score has no test accuracy"
            )
        parse_objective(self.objective)
        ops.stage_bounds(self.stages)
        get_preset(self.preset)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The stored format: JSON types only, ``train`` with the options that were set."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["stages"] = list(self.stages)
        d["init_genomes"] = list(self.init_genomes)
        d["train"] = self.train.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        """Inverse of :meth:`to_dict` (missing keys take their defaults; unknown keys are an error)."""
        reject_unknown_keys(data, cls, "search config keys")
        kw = dict(data)
        if "stages" in kw:
            kw["stages"] = tuple(kw["stages"])
        if "init_genomes" in kw:
            kw["init_genomes"] = tuple(kw["init_genomes"])
        if kw.get("train") is None:
            kw.pop("train", None)
        return cls(**kw).validated()

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> SearchConfig:
        """:meth:`from_dict` for a config read from a run store: a run stored before recipes
        existed (no ``train.recipe``) was trained with, and resumes with, the legacy recipe; a
        genome renamed since (``init: wrn``) is read under its new name, the same bits. A run
        stored with the paper-full schedule and other than 240 epochs trained at a constant
        1e-2 (the schedule counted absolute epochs); it is refused, saying so."""
        train = dict(data.get("train") or {})
        train.setdefault("recipe", "legacy")
        if train.get("schedule") == "paper-full" and data.get("epochs", PAPER_FULL_EPOCHS) != PAPER_FULL_EPOCHS:
            raise UsageError(
                f"this run was stored with schedule paper-full and {data.get('epochs')} epochs, which "
                "trained at a constant 1e-2 (paper-full counts the paper's 240 epochs); it cannot be "
                "resumed: start a new run with --schedule paper or --epochs 240"
            )
        init = RENAMED.get(data.get("init", ""), data.get("init"))
        return cls.from_dict({**data, "train": train, **({"init": init} if "init" in data else {})})

    def with_overrides(self, **overrides: Any) -> SearchConfig:
        """This config with some fields replaced (``train`` as a mapping or :class:`TrainOverrides`)."""
        return SearchConfig.from_dict({**self.to_dict(), **overrides})


def extend(config: SearchConfig, generations: int) -> SearchConfig:
    """The same search with another T (resume may extend a finished run)."""
    return replace(config, generations=int(generations)).validated()
