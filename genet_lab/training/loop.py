"""The training loop of section 3.2.4, one for a single network and for a batched group.

:func:`run_loop` trains either a :class:`~genet_lab.training.network.GeNet` (one
individual) or a :class:`~genet_lab.training.batched.BatchedGeNet` (G individuals at
once) with the same steps in the same order: a batch is a slice of a ``randperm`` drawn
from the individual's own ``torch.Generator`` (one shared generator when every seed is
equal), augmentation draws from that generator too, the learning rate follows the
schedule per step, and SGD steps the summed loss of the live individuals. Losses are
checked about ten times an epoch and after each epoch; an individual whose loss turns
NaN or inf, or a cancelled run, fails with its error and the others carry on. Being one
function for both is what keeps :func:`~genet_lab.training.trainer.train_genome` and
:func:`~genet_lab.training.population.train_population` equal (tests/training/test_batched.py).

Knows torch, the networks, the data on the device and the configs; nothing of probes,
threads, populations or evolution.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from genet_lab.encoding.presets import NetworkConfig
from genet_lab.errors import UsageError
from genet_lab.training.batched import BatchedGeNet, group_loss
from genet_lab.training.batches import augment_batch, augmentation, to_device
from genet_lab.training.config import TrainConfig, TrainProgress, TrainResult, lr_factor
from genet_lab.training.data import DataSplits
from genet_lab.training.devices import synchronize

GroupProgress = Callable[[int, TrainProgress], None]
"""progress(index of the individual in the group, its TrainProgress)."""


class Trained(NamedTuple):
    """A training's record and, beside it, the network it trained (the one validation measured:
    the weights' moving average where ``ema`` is set). The record stays plain data (no torch),
    so it can be printed, stored and sent to a front end without the network."""

    result: TrainResult
    model: torch.nn.Module


CPU_OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")
"""What torch's allocators say when memory runs out: CUDA's "out of memory" (older torch raises it
as a plain RuntimeError), the CPU's "DefaultCPUAllocator: can't allocate memory" (errno 12)."""


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` means a device ran out of memory (a capacity limit, not a bug): a
    :class:`torch.OutOfMemoryError`, a :class:`MemoryError`, or a RuntimeError from an allocator."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(m in text for m in CPU_OOM_MARKERS)


def oom_message(exc: BaseException) -> str:
    """The ``error`` of an individual that ran out of memory."""
    return f"out of memory: {' '.join(str(exc).split())[:160] or type(exc).__name__}"


def check_shapes(net_config: NetworkConfig, data: DataSplits) -> None:
    """:class:`UsageError` unless the network's input and classes are the data set's."""
    want = (data.in_channels, data.image_size, data.num_classes)
    have = (net_config.in_channels, net_config.image_size, net_config.num_classes)
    if want != have:
        raise UsageError(
            f"network config expects (channels, size, classes) = {have} but {data.name} has {want}; "
            "adapt it with net_config.with_input(data.in_channels, data.image_size, data.num_classes)"
        )


@dataclass(frozen=True)
class LoopSetup:
    """What a loop sets up before its first step."""

    memory_format: torch.memory_format
    x: torch.Tensor
    """Normalised training images on the device."""
    y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    pad: int
    """Random-crop padding in pixels (0: no crop)."""
    flip: bool
    n: int
    """Training images."""
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    report_every: int
    """Steps between two in-epoch checks of the loss (and progress reports)."""

    @property
    def augments(self) -> bool:
        return bool(self.pad or self.flip)


def prepare_loop(
    model: torch.nn.Module, data: DataSplits, cfg: TrainConfig, device: torch.device, channels_last: bool
) -> LoopSetup:
    """Put ``model`` in its memory layout and the splits on ``device``; count the steps."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    pad, flip = augmentation(cfg, data)
    n = len(data.train_y)
    bs = min(cfg.batch_size, n)
    steps = max(1, n // bs)
    return LoopSetup(
        fmt,
        to_device(data.train_x, data.mean, data.std, device, False),
        data.train_y.to(device),
        to_device(data.val_x, data.mean, data.std, device, False),
        data.val_y.to(device),
        pad,
        flip,
        n,
        bs,
        steps,
        steps * cfg.epochs,
        max(1, steps // 10),
    )


def losses(
    logits: torch.Tensor, targets: torch.Tensor, alive: torch.Tensor | None = None, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-individual mean cross-entropy ``(G,)`` and the total to differentiate.

    ``logits`` is ``(B, classes)`` from one network (G = 1, the total is its loss) or
    ``(G, B, classes)`` from a group (:func:`~genet_lab.training.batched.group_loss`).
    """
    if logits.dim() == 3:
        return group_loss(logits, targets, alive, label_smoothing)
    loss = F.cross_entropy(logits, targets, label_smoothing=label_smoothing)
    return loss.unsqueeze(0), loss


@torch.no_grad()
def accuracy(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    bf16: bool = False,
    batch: int = 1024,
    channels_last: bool = False,
) -> float:
    """Fraction of ``x`` (normalised, on the model's device) classified as ``y``."""
    if len(y) == 0:
        return 0.0
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for i in range(0, len(y), batch):
        xb = x[i : i + batch]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            correct += (model(xb).argmax(1) == y[i : i + batch]).sum()
    return correct.item() / len(y)


@torch.no_grad()
def group_accuracy(
    model: BatchedGeNet, x: torch.Tensor, y: torch.Tensor, bf16: bool = False, channels_last: bool = False
) -> list[float]:
    """Per-individual fraction of ``x`` (normalised, shared by all) classified as ``y``."""
    if len(y) == 0:
        return [0.0] * model.groups
    model.eval()
    batch = max(32, 1024 // model.groups)
    correct = torch.zeros(model.groups, dtype=torch.int64, device=x.device)
    for i in range(0, len(y), batch):
        xb = x[i : i + batch]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            correct += (model(xb).argmax(2) == y[i : i + batch]).sum(1)
    return [c / len(y) for c in correct.tolist()]


def accuracies(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, bf16: bool, channels_last: bool
) -> list[float]:
    """One accuracy per individual of ``model`` (a network or a group)."""
    if isinstance(model, BatchedGeNet):
        return group_accuracy(model, x, y, bf16, channels_last=channels_last)
    return [accuracy(model, x, y, bf16, channels_last=channels_last)]


def run_loop(
    model: torch.nn.Module,
    data: DataSplits,
    cfgs: Sequence[TrainConfig],
    device: torch.device,
    bf16: bool,
    channels_last: bool,
    results: Sequence[TrainResult],
    progress: GroupProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Train ``model`` for ``cfgs[0].epochs`` epochs, filling ``results`` in place.

    ``model`` holds ``len(cfgs)`` individuals: a network for one config, a
    :class:`BatchedGeNet` for more; ``cfgs`` differ only in their seed, and ``results[g]``
    (one per individual, made by the caller) gets individual g's curve, losses, accuracy,
    failure and epochs run. ``progress(g, TrainProgress)`` follows the numbering of
    :class:`TrainProgress`. Failed results keep the accuracy of their last epoch: the caller
    zeroes it.
    """
    _Loop(model, data, list(cfgs), device, bf16, channels_last, list(results), progress, should_stop).run()


class _Loop:
    """One run of :func:`run_loop`: the setup, the individuals still training, and the epochs."""

    def __init__(
        self,
        model: torch.nn.Module,
        data: DataSplits,
        cfgs: list[TrainConfig],
        device: torch.device,
        bf16: bool,
        cl: bool,
        results: list[TrainResult],
        progress: GroupProgress | None,
        should_stop: Callable[[], bool] | None,
    ):
        if len(cfgs) != (model.groups if isinstance(model, BatchedGeNet) else 1) or len(results) != len(cfgs):
            raise ValueError(f"{len(cfgs)} configs and {len(results)} results for a model of another size")
        self.model, self.data, self.cfg, self.device = model, data, cfgs[0], device
        self.bf16, self.cl, self.results = bf16, cl, results
        self.progress, self.should_stop = progress, should_stop
        self.shared = len({c.seed for c in cfgs}) == 1
        # One generator per seed, consumed in the order a lone run consumes its own.
        self.gens = [torch.Generator().manual_seed(c.seed) for c in (cfgs[:1] if self.shared else cfgs)]
        self.setup = prepare_loop(model, data, self.cfg, device, cl)
        cfg = self.cfg
        self.opt = torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
        self.alive = torch.ones(len(cfgs), dtype=torch.bool, device=device)
        self.live = set(range(len(cfgs)))
        self.step, self.images, self.train_time, self.lr = 0, 0, 0.0, cfg.lr
        self.ema = _Ema(model, cfg.ema) if cfg.ema > 0 else None

    def fail(self, g: int, epochs_run: int, error: str, loss: float | None = None) -> None:
        r = self.results[g]
        r.failed, r.error, r.epochs_run = True, error, epochs_run
        if loss is not None:
            r.final_loss = loss
        self.live.discard(g)
        self.alive[g] = False

    def report(self, g: int, p: TrainProgress) -> None:
        if self.progress is not None:
            self.progress(g, p)

    def run(self) -> None:
        cfg = self.cfg
        for epoch in range(cfg.epochs):
            self.model.train()
            synchronize(self.device)
            t0 = time.perf_counter()
            loss_sum = self.train_epoch(epoch)
            if loss_sum is None or not self.live:
                return
            synchronize(self.device)
            self.train_time += time.perf_counter() - t0
            self.end_epoch(epoch, loss_sum, t0)
            if not self.live:
                return
        if self.ema is not None:  # the network handed back is the one that was validated
            self.ema.copy_to(self.model)
        if cfg.eval_test and self.data.test_x is not None and self.data.test_y is not None:
            tx = to_device(self.data.test_x, self.data.mean, self.data.std, self.device, False)
            test = accuracies(self.model, tx, self.data.test_y.to(self.device), self.bf16, self.cl)
            for g in self.live:
                self.results[g].test_accuracy = test[g]

    @property
    def evaluated(self) -> torch.nn.Module:
        """The network validation measures: the running average of the weights where
        ``cfg.ema`` is set, else the trained one."""
        return self.model if self.ema is None else self.ema.model

    def train_epoch(self, epoch: int) -> torch.Tensor | None:
        """One epoch of SGD steps; the summed per-individual losses, or None once cancelled."""
        s, cfg = self.setup, self.cfg
        perms = [torch.randperm(s.n, generator=gen).to(self.device) for gen in self.gens]
        loss_sum = torch.zeros(len(self.results), device=self.device)
        for i in range(s.steps_per_epoch):
            idxs = [p[i * s.batch_size : (i + 1) * s.batch_size] for p in perms]
            xbs = [
                augment_batch(s.x[idx], s.pad, s.flip, gen) if s.augments else s.x[idx]
                for idx, gen in zip(idxs, self.gens)
            ]
            # Shared batches: every individual reads the same images; otherwise individual g's
            # images sit in channels g*C:(g+1)*C (see BatchedGeNet).
            xb = xbs[0] if self.shared else torch.cat(xbs, dim=1)
            yb = s.y[idxs[0]] if self.shared else torch.stack([s.y[idx] for idx in idxs])
            xb = xb.contiguous(memory_format=s.memory_format)
            self.lr = cfg.lr * lr_factor(cfg.schedule, epoch + i / s.steps_per_epoch, cfg.epochs)
            for group in self.opt.param_groups:
                group["lr"] = self.lr
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                per, loss = losses(self.model(xb), yb, self.alive, cfg.label_smoothing)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            if self.ema is not None:
                self.ema.update()
            loss_sum += per.detach().float()
            self.step += 1
            self.images += len(idxs[0])
            if self.should_stop is not None and self.should_stop():
                for g in sorted(self.live):
                    self.fail(g, epoch, "cancelled")
                return None
            if (i + 1) % s.report_every == 0 or i + 1 == s.steps_per_epoch:
                self.check_steps(epoch, i, per)
                if not self.live:
                    return loss_sum
        return loss_sum

    def check_steps(self, epoch: int, i: int, per: torch.Tensor) -> None:
        """Fail whoever's last loss is not finite; report the others (but not at the epoch's last
        step, which :meth:`end_epoch` reports with the validation accuracy)."""
        s = self.setup
        values = per.detach().tolist()
        for g in sorted(self.live):
            if not math.isfinite(values[g]):
                self.fail(
                    g,
                    epoch,
                    f"diverged: loss is {values[g]} at epoch {epoch + 1}, step {i + 1} (lr {self.lr:g})",
                    values[g],
                )
            elif i + 1 < s.steps_per_epoch:
                self.report(g, TrainProgress(epoch + 1, self.cfg.epochs, self.step, s.total_steps, values[g], None))

    def end_epoch(self, epoch: int, loss_sum: torch.Tensor, t0: float) -> None:
        """Validate, append each live individual's curve point, fail the non-finite, report."""
        s = self.setup
        epoch_loss = (loss_sum / s.steps_per_epoch).tolist()
        val = accuracies(self.evaluated, s.val_x, s.val_y, self.bf16, self.cl)
        seconds = round(time.perf_counter() - t0, 4)
        for g in sorted(self.live):
            r = self.results[g]
            r.curve.append(
                {"epoch": epoch + 1, "loss": epoch_loss[g], "lr": self.lr, "val_accuracy": val[g], "seconds": seconds}
            )
            r.final_loss, r.val_accuracy, r.epochs_run = epoch_loss[g], val[g], epoch + 1
            r.images_per_second = self.images / self.train_time if self.train_time > 0 else 0.0
            if not math.isfinite(epoch_loss[g]):
                self.fail(g, epoch + 1, f"diverged: mean loss is {epoch_loss[g]} in epoch {epoch + 1}")
            else:
                self.report(
                    g, TrainProgress(epoch + 1, self.cfg.epochs, self.step, s.total_steps, epoch_loss[g], val[g])
                )


class _Ema:
    """An exponential moving average of a network's parameters and float buffers (batch-norm
    statistics), updated after every SGD step: ``avg = decay * avg + (1 - decay) * live``.

    Elementwise, so a :class:`BatchedGeNet` averages each individual exactly as it would be
    averaged alone.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self.weight = 1.0 - decay
        pairs = [(a, b) for a, b in zip(_state(self.model), _state(model), strict=True) if a.is_floating_point()]
        self.avg, self.live = [a for a, _ in pairs], [b for _, b in pairs]
        self.counters = [
            (a, b) for a, b in zip(_state(self.model), _state(model), strict=True) if not a.is_floating_point()
        ]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.avg, self.live, self.weight)
        for a, b in self.counters:
            a.copy_(b)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        for a, b in zip(_state(model), _state(self.model), strict=True):
            a.copy_(b)


def _state(model: torch.nn.Module) -> list[torch.Tensor]:
    return [*model.parameters(), *model.buffers()]
