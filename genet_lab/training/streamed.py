"""Training one GeNet on a streamed image folder (section 4.3's ILSVRC2012 setting).

The in-memory loop (:mod:`genet_lab.training.loop`) keeps a whole data set on the device;
ILSVRC2012 does not fit, so :func:`train_streamed` reads batches from
:class:`~genet_lab.training.data.stream.StreamSplits` loaders (decoded and augmented by
torchvision on the CPU) with the same SGD, schedules, label smoothing and failure rules, and
measures top-1 and top-5 accuracy (Table 3 reports both as errors). A file that cannot be
decoded is dropped from its batch and counted (``unreadable``, ``first_unreadable``), never the
end of a training; a set where nothing could be read fails the training. Knows torch, the network
and the configs; nothing of populations, evolution or front ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.errors import UsageError
from genet_lab.training.config import TrainConfig, TrainProgress, TrainResult, lr_factor
from genet_lab.training.data.stream import StreamSplits
from genet_lab.training.devices import auto_execution, release_memory, resolve_device, synchronize
from genet_lab.training.loop import Trained, check_shapes
from genet_lab.training.network import build_network, count_parameters


@dataclass
class StreamResult(TrainResult):
    """A :class:`TrainResult` with top-5 accuracies (None with fewer than 5 classes, or not measured)."""

    val_top5_accuracy: float | None = None
    test_top5_accuracy: float | None = None
    unreadable: int = 0
    """Image files skipped because they could not be decoded (each counted once)."""
    first_unreadable: str | None = None
    """The first of them, with why (one line for the user)."""


@torch.no_grad()
def topk_accuracy(
    model: torch.nn.Module,
    loader,
    device: torch.device,
    bf16: bool = False,
    channels_last: bool = False,
    ks: tuple[int, ...] = (1, 5),
    keep: Callable | None = None,
) -> dict[int, float]:
    """Fraction of ``loader``'s images whose class is among the ``k`` highest scores, per k
    (k larger than the number of classes is left out). ``keep(xb, yb)`` drops what must not
    count (:meth:`StreamSplits.readable`)."""
    model.eval()
    hits: dict[int, int] = {}
    n = 0
    for xb, yb in loader:
        if keep is not None:
            xb, yb = keep(xb, yb)
            if not len(yb):
                continue
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb)
        kept = [k for k in ks if k <= logits.shape[1]]
        top = logits.topk(max(kept), dim=1).indices
        for k in kept:
            hits[k] = hits.get(k, 0) + int((top[:, :k] == yb[:, None]).any(dim=1).sum())
        n += len(yb)
    return {k: h / n for k, h in hits.items()} if n else {}


def train_streamed(
    genome: Genome,
    net_config: NetworkConfig,
    data: StreamSplits,
    cfg: TrainConfig,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Trained:
    """Train ``genome`` from scratch on a streamed folder; the same contract as
    :func:`~genet_lab.training.trainer.train_model` (failures return ``failed=True``; the
    result is a :class:`StreamResult`)."""
    t_start = time.perf_counter()
    cfg = cfg.validated()
    if cfg.ema > 0:
        raise UsageError("ema is not available when streaming (accepted: ema 0)")
    check_shapes(net_config, data)  # type: ignore[arg-type]  # StreamSplits has the shape attributes
    device = resolve_device(cfg.device)
    threads = torch.get_num_threads()
    if device.type == "cpu" and cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        torch.manual_seed(cfg.seed)
        model = build_network(genome, cfg.network(net_config)).to(device)
        bf16, cl = auto_execution(cfg.precision, cfg.channels_last, device)
        if cl:
            model.to(memory_format=torch.channels_last)
        result = StreamResult.started(count_parameters(model), str(device), "bf16" if bf16 else "fp32", cl)
        try:
            _Run(model, data, cfg, device, bf16, cl, result, progress, should_stop).run()
        except RuntimeError as exc:
            if not isinstance(exc, torch.OutOfMemoryError) and "out of memory" not in str(exc):
                raise
            result.failed, result.error = True, f"out of memory: {' '.join(str(exc).split())[:160]}"
            release_memory(device)
        if len(data.unreadable):
            result.unreadable, result.first_unreadable = len(data.unreadable), data.unreadable.note()
        if result.failed:
            result.val_accuracy, result.test_accuracy = 0.0, None
            result.val_top5_accuracy = result.test_top5_accuracy = None
        result.seconds = time.perf_counter() - t_start
        return Trained(result, model)
    finally:
        torch.set_num_threads(threads)


class _Run:
    """The epochs of one :func:`train_streamed` call."""

    def __init__(
        self,
        model,
        data: StreamSplits,
        cfg: TrainConfig,
        device,
        bf16: bool,
        cl: bool,
        result: StreamResult,
        progress,
        should_stop,
    ):
        self.model, self.data, self.cfg, self.device = model, data, cfg, device
        self.bf16, self.cl, self.result = bf16, cl, result
        self.progress, self.should_stop = progress, should_stop
        self.gen = torch.Generator().manual_seed(cfg.seed)
        crop, flip = cfg.augment != "none", cfg.augment in ("auto", "crop+flip")
        self.train = data.loader("train", cfg.batch_size, train=True, generator=self.gen, crop=crop, flip=flip)
        self.opt = torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )

    def evaluate(self, split: str) -> dict[int, float]:
        loader = self.data.loader(split, max(64, self.cfg.batch_size))
        keep = lambda xb, yb: self.data.readable(split, xb, yb)  # noqa: E731
        return topk_accuracy(self.model, loader, self.device, self.bf16, self.cl, keep=keep)

    def run(self) -> None:
        cfg, r = self.cfg, self.result
        steps = len(self.train)
        total, step, images, train_time, lr = steps * cfg.epochs, 0, 0, 0.0, cfg.lr
        every = max(1, steps // 10)
        for epoch in range(cfg.epochs):
            self.model.train()
            synchronize(self.device)
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=self.device)
            for i, (xb, yb) in enumerate(self.train):
                xb, yb = self.data.readable("train", xb, yb)
                if not len(yb):
                    continue
                xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
                if self.cl:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                lr = cfg.lr * lr_factor(cfg.schedule, epoch + i / steps, cfg.epochs)
                for group in self.opt.param_groups:
                    group["lr"] = lr
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    loss = F.cross_entropy(self.model(xb), yb, label_smoothing=cfg.label_smoothing)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                loss_sum += loss.detach().float()
                step, images = step + 1, images + len(yb)
                if self.should_stop is not None and self.should_stop():
                    r.failed, r.error, r.epochs_run = True, "cancelled", epoch
                    return
                if (i + 1) % every == 0 or i + 1 == steps:
                    value = loss.item()
                    if not math.isfinite(value):
                        r.failed, r.error, r.final_loss, r.epochs_run = (
                            True,
                            (f"diverged: loss is {value} at epoch {epoch + 1}, step {i + 1} (lr {lr:g})"),
                            value,
                            epoch,
                        )
                        return
                    if i + 1 < steps and self.progress is not None:
                        self.progress(TrainProgress(epoch + 1, cfg.epochs, step, total, value, None))
            synchronize(self.device)
            train_time += time.perf_counter() - t0
            if not images:
                r.failed, r.epochs_run = True, epoch
                r.error = f"no training image could be read ({self.data.unreadable.note() or 'none listed'})"
                return
            val = self.evaluate("val") if self.data.val_samples else {}
            r.val_accuracy, r.val_top5_accuracy = val.get(1, 0.0), val.get(5)
            r.final_loss, r.epochs_run = loss_sum.item() / max(1, steps), epoch + 1
            r.images_per_second = images / train_time if train_time > 0 else 0.0
            r.curve.append(
                {
                    "epoch": epoch + 1,
                    "loss": r.final_loss,
                    "lr": lr,
                    "val_accuracy": r.val_accuracy if self.data.val_samples else None,  # no split: none
                    "val_top5_accuracy": r.val_top5_accuracy,
                    "seconds": round(time.perf_counter() - t0, 4),
                }
            )
            if self.progress is not None:
                self.progress(TrainProgress(epoch + 1, cfg.epochs, step, total, r.final_loss, r.val_accuracy))
        if cfg.eval_test and self.data.test_samples:
            test = self.evaluate("test")
            r.test_accuracy, r.test_top5_accuracy = test.get(1), test.get(5)
