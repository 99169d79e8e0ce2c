"""What a training run is asked to do and what it reports: :class:`TrainConfig`, the per-data-set
defaults, the learning-rate schedules of section 4.1.1, :class:`TrainProgress` and
:class:`TrainResult`. Plain dataclasses and arithmetic; nothing here runs a network, and no torch
is imported: a front end reads these records without the trainer (the trained network travels
beside the result, :class:`genet_lab.training.loop.Trained`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from genet_lab.encoding.presets import NetworkConfig
from genet_lab.errors import ConfigError, reject_unknown_keys
from genet_lab.training.catalog import DATASETS, DEFAULT_DATASET
from genet_lab.training.recipes import (
    DEFAULT_RECIPE,
    PAPER_EPOCHS,
    PAPER_FULL_EPOCHS,
    RECIPES,
    SCHEDULES,
    check_paper_full,
    check_recipe,
)

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; only read by type checkers here

ONECYCLE_WARMUP = 0.25
"""Fraction of the run over which the onecycle schedule warms up."""
PRECISIONS = ("auto", "fp32", "bf16")
SWITCHES = ("auto", "on", "off")
AUGMENTS = ("auto", "none", "crop", "crop+flip")
DEVICES = "auto, cpu, cuda, cuda:N, mps"


def parse_device(text: str) -> str:
    """The normalised device name; a :class:`ConfigError` of ``device`` for anything but auto, cpu,
    cuda, cuda:N, mps."""
    t = str(text).strip().lower()
    if t in ("auto", "cpu", "cuda", "mps") or (t.startswith("cuda:") and t[5:].isdigit()):
        return t
    raise ConfigError("device", text, accepted=DEVICES, what="device")


@dataclass(frozen=True)
class TrainConfig:
    """How to train one individual. Learning rates are per step of SGD."""

    epochs: int
    batch_size: int
    lr: float
    """Peak learning rate (the first step of the paper schedules)."""
    momentum: float
    weight_decay: float
    """L2 penalty applied by SGD to every parameter."""
    schedule: str
    """paper: 120/60/40/20 epochs at lr, lr/10, lr/100, lr/1000 scaled to ``epochs``;
    paper-full: the paper as is, 240 epochs with steps at epochs 120, 180 and 220 (any other
    ``epochs`` is refused: use paper to scale the schedule);
    onecycle: linear warm-up from lr/10 to lr over the first quarter, then linear decay to 0;
    cosine: 5% linear warm-up then cosine decay to 0; constant."""
    device: str = "auto"
    """auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps."""
    seed: int = 0
    """Seeds the weights, the batch order, dropout and augmentation."""
    precision: str = "auto"
    """auto (measured), fp32 or bf16 (autocast)."""
    channels_last: str = "auto"
    """auto (measured), on or off."""
    augment: str = "auto"
    """auto (crop, plus flip where the data set allows), none, crop, crop+flip."""
    eval_test: bool = False
    """Also measure test accuracy at the end (a final report, never a fitness)."""
    nesterov: bool = False
    """Nesterov momentum in SGD."""
    label_smoothing: float = 0.0
    """Weight of the uniform distribution mixed into the one-hot targets of the cross-entropy."""
    dropout: float | None = None
    """Drop ratio of the head's hidden layers for this training; None keeps the network
    config's (the paper's 0.5 in the presets)."""
    ema: float = 0.0
    """Decay per SGD step of an exponential moving average of the weights (and batch-norm
    statistics) that validation measures and the result returns; 0 trains without one."""
    recipe: str = "custom"
    """The named recipe these values came from (:data:`RECIPES`), or custom; a record, it
    changes nothing by itself."""
    threads: int = 0
    """CPU threads for this run (torch.set_num_threads, restored afterwards); 0 measures whether
    torch's setting beats one thread for this network
    (:func:`genet_lab.training.autotune.choose_threads`)."""

    def validated(self) -> TrainConfig:
        """This config, or a :class:`~genet_lab.errors.ConfigError` of the first field it refuses
        (``lr must be a positive number, got -1.0``: the field named as it is, by every front end)."""
        for name, ok, accepted in (
            ("epochs", self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0 and math.isfinite(self.lr), "a positive number"),
            ("threads", self.threads >= 0, ">= 0 (0 measures)"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("weight_decay", 0 <= self.weight_decay < math.inf, "a finite number >= 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("ema", 0 <= self.ema < 1, "in [0, 1) (0: off)"),
            ("dropout", self.dropout is None or 0 <= self.dropout < 1, "in [0, 1) (or None for the network's)"),
        ):
            if not ok:
                value = getattr(self, name)
                raise ConfigError(
                    name, value, accepted=accepted, what=name, template="{what} must be {accepted}, got {value}"
                )
        for name, allowed in (
            ("schedule", SCHEDULES),
            ("precision", PRECISIONS),
            ("channels_last", SWITCHES),
            ("augment", AUGMENTS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(name, getattr(self, name), accepted=allowed, what=name)
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov", True, template="nesterov needs a momentum above 0")
        check_paper_full(self.schedule, self.epochs)
        parse_device(self.device)
        return self

    def network(self, net_config: NetworkConfig) -> NetworkConfig:
        """``net_config`` as this training builds it: with :attr:`dropout` where it is set."""
        if self.dropout is None or self.dropout == net_config.dropout:
            return net_config
        return replace(net_config, dropout=self.dropout)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        reject_unknown_keys(data, cls, "training config keys")
        return cls(**data).validated()


def default_train_config(dataset: str = DEFAULT_DATASET, recipe: str = DEFAULT_RECIPE, **overrides: Any) -> TrainConfig:
    """The budget of ``dataset`` (:data:`genet_lab.training.catalog.DATASETS`: epochs, batch size, the
    legacy recipe's lr; an unknown name, an image folder's) trained with ``recipe`` (:data:`RECIPES`),
    then ``overrides``. ``schedule='paper'`` or ``'paper-full'`` alone also brings the paper's
    1e-2, and ``'paper-full'`` its 240 epochs, unless lr or epochs are given (paper-full with
    any other number of epochs is refused, :func:`check_paper_full`). Unknown keys and recipes
    are rejected."""
    info = DATASETS.get(dataset, DATASETS["imagefolder"])
    budget = dict(epochs=info.epochs, batch_size=info.batch_size, lr=info.lr)
    base = {**budget, **RECIPES[check_recipe(recipe)], "recipe": recipe}
    if overrides.get("schedule") in ("paper", "paper-full"):
        base["lr"] = RECIPES["paper"]["lr"]
    if (overrides.get("schedule") or base["schedule"]) == "paper-full":
        base["epochs"] = PAPER_FULL_EPOCHS
    overrides = {k: v for k, v in overrides.items() if v is not None}
    reject_unknown_keys(overrides, TrainConfig, "training option(s)", list_known=True)
    return TrainConfig(**{**base, **overrides}).validated()


def lr_factor(schedule: str, epoch: float, epochs: int) -> float:
    """Multiplier of the peak learning rate at (fractional, 0-based) ``epoch`` of ``epochs``."""
    if schedule in ("paper", "paper-full"):
        total = sum(PAPER_EPOCHS)
        at = epoch if schedule == "paper-full" else epoch * total / epochs
        bounds = [sum(PAPER_EPOCHS[: i + 1]) for i in range(len(PAPER_EPOCHS) - 1)]
        return 0.1 ** sum(at >= b for b in bounds)
    if schedule == "onecycle":
        at = epoch / epochs
        if at < ONECYCLE_WARMUP:
            return 0.1 + 0.9 * at / ONECYCLE_WARMUP
        return max(0.0, (1 - at) / (1 - ONECYCLE_WARMUP))
    if schedule == "cosine":
        warm = 0.05 * epochs
        if epoch < warm:
            return 0.1 + 0.9 * epoch / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (epoch - warm) / max(1e-9, epochs - warm))))
    return 1.0


@dataclass(frozen=True)
class TrainProgress:
    """Sent about ten times an epoch (val_accuracy None) and after each epoch's validation; also
    the ``TrainingProgress`` event of :mod:`genet_lab.training.events` (the same record).

    One numbering for every trainer (:func:`~genet_lab.training.trainer.train_genome` and
    :func:`~genet_lab.training.population.train_population`, batched or loop): ``epoch`` is
    1-based, the epoch in progress while ``val_accuracy`` is None and the epoch just finished
    when it is set; so with ``epochs=2`` the epochs reported read 1, 1, ..., 1, 2, 2, ..., 2,
    never 0. ``step`` counts SGD steps over the whole run (1-based, the steps done so far),
    ``steps`` is their total; ``loss`` is the last step's loss, or the epoch's mean loss once
    ``val_accuracy`` is set.
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    val_accuracy: float | None

    @property
    def done(self) -> float:
        """Epochs done so far, fractional (``epochs`` when the run is over)."""
        if self.val_accuracy is not None or not self.steps:
            return float(self.epoch)
        return self.epochs * self.step / self.steps

    @classmethod
    def of(cls, progress: Any) -> TrainProgress:
        """``progress`` as this record (itself when it is one; read by attribute otherwise)."""
        if isinstance(progress, cls):
            return progress
        return cls(progress.epoch, progress.epochs, progress.step, progress.steps, progress.loss, progress.val_accuracy)


@dataclass
class TrainResult:
    """What one training measured; also, with what was trained on, the ``TrainingFinished`` event
    (:class:`genet_lab.training.events.TrainingFinished`). The network is not part of it: it
    travels beside it (:class:`genet_lab.training.loop.Trained`)."""

    val_accuracy: float
    """Fraction correct on the validation split (0..1); 0.0 for a failed run."""
    test_accuracy: float | None
    final_loss: float
    curve: list[dict[str, Any]]
    """One dict per epoch: epoch, loss, lr, val_accuracy, seconds."""
    seconds: float
    """Wall time of the whole call (data to the device, probe, training, evaluation)."""
    images_per_second: float
    """Training images per second of training steps (evaluation excluded)."""
    params: int
    failed: bool
    error: str | None
    device: str
    precision: str = "fp32"
    channels_last: bool = False
    epochs_run: int = 0

    @classmethod
    def started(cls, params: int, device: str, precision: str = "fp32", channels_last: bool = False) -> Self:
        """The result of a training about to run: nothing measured yet (the loop fills it in)."""
        return cls(
            val_accuracy=0.0,
            test_accuracy=None,
            final_loss=math.nan,
            curve=[],
            seconds=0.0,
            images_per_second=0.0,
            params=params,
            failed=False,
            error=None,
            device=device,
            precision=precision,
            channels_last=channels_last,
        )

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
