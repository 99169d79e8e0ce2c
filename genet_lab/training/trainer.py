"""Training one GeNet from scratch: the fitness evaluation of section 3.2.4.

The whole (sub)set lives on the device as normalised tensors; a batch is a
slice of a ``randperm``; augmentation (random crop with padding, horizontal
flip where the data set allows it) runs on whole batches on the device. bf16
autocast and channels_last are chosen by a short timed probe per device and
network shape, not by habit. A run whose loss turns NaN or inf stops early and
returns ``failed=True`` with ``val_accuracy=0.0`` (the fitness of a failed
individual); it never raises to the caller. Knows nothing of evolution or front ends.
"""
from __future__ import annotations

import copy
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import torch
import torch.nn.functional as F

from genet_lab.encoding.presets import NetworkConfig
from genet_lab.training.data import DataSplits
from genet_lab.errors import UsageError, reject_unknown_keys
from genet_lab.fileio import read_json_cache, write_json_cache
from genet_lab.encoding.genome import Genome
from genet_lab.training.network import build_network, count_parameters

SCHEDULES = ("paper", "paper-full", "cosine", "constant")
PAPER_EPOCHS = (120, 60, 40, 20)
"""Section 4.1.1: epochs at learning rates 1e-2, 1e-3, 1e-4 and 1e-5."""
PRECISIONS = ("auto", "fp32", "bf16")
SWITCHES = ("auto", "on", "off")
AUGMENTS = ("auto", "none", "crop", "crop+flip")


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
    paper-full: the same boundaries at absolute epochs 120, 180, 220 (the paper with epochs=240);
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
    threads: int = 0
    """CPU threads for this run (torch.set_num_threads, restored afterwards); 0 measures whether
    torch's setting beats one thread for this network (:func:`choose_threads`)."""

    def validated(self) -> "TrainConfig":
        if self.epochs < 1 or self.batch_size < 1:
            raise UsageError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UsageError(f"lr must be a positive number, got {self.lr}")
        if self.threads < 0:
            raise UsageError(f"threads must be >= 0 (0 measures), got {self.threads}")
        if not 0 <= self.momentum < 1 or not 0 <= self.weight_decay < math.inf:
            raise UsageError(f"momentum must be in [0, 1) and weight_decay >= 0, got {self.momentum}, {self.weight_decay}")
        for name, value, allowed in (("schedule", self.schedule, SCHEDULES), ("precision", self.precision, PRECISIONS),
                                     ("channels_last", self.channels_last, SWITCHES),
                                     ("augment", self.augment, AUGMENTS)):
            if value not in allowed:
                raise UsageError(f"unknown {name} {value!r}; accepted: {', '.join(allowed)}")
        parse_device(self.device)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        reject_unknown_keys(data, cls, "training config keys")
        return cls(**data).validated()


_DEFAULTS = {
    # Short budgets that reach a useful ranking of genomes on 2 CPU cores (docs/training.md).
    "digits": dict(epochs=30, batch_size=32, lr=0.02),
    "mnist": dict(epochs=5, batch_size=128, lr=0.05),
    "fashion-mnist": dict(epochs=10, batch_size=128, lr=0.05),
    "cifar10": dict(epochs=20, batch_size=128, lr=0.05),
    "cifar100": dict(epochs=30, batch_size=128, lr=0.05),
    "svhn": dict(epochs=10, batch_size=128, lr=0.05),
    "imagefolder": dict(epochs=20, batch_size=64, lr=0.05),
}


def default_train_config(dataset: str = "digits", **overrides) -> TrainConfig:
    """Short-budget defaults for ``dataset``; ``schedule='paper-full'`` gives the paper's
    240 epochs at 1e-2 unless epochs or lr are overridden. Unknown keys are rejected."""
    base = dict(_DEFAULTS.get(dataset, _DEFAULTS["imagefolder"]), momentum=0.9, weight_decay=5e-4,
                schedule="cosine")
    if overrides.get("schedule") in ("paper", "paper-full"):
        base["lr"] = 0.01
        if overrides["schedule"] == "paper-full":
            base["epochs"] = sum(PAPER_EPOCHS)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    reject_unknown_keys(overrides, TrainConfig, "training option(s)", list_known=True)
    return TrainConfig(**{**base, **overrides}).validated()


def lr_factor(schedule: str, epoch: float, epochs: int) -> float:
    """Multiplier of the peak learning rate at (fractional) ``epoch`` of ``epochs``."""
    if schedule in ("paper", "paper-full"):
        total = sum(PAPER_EPOCHS)
        at = epoch if schedule == "paper-full" else epoch * total / epochs
        bounds = [sum(PAPER_EPOCHS[: i + 1]) for i in range(len(PAPER_EPOCHS) - 1)]
        return 0.1 ** sum(at >= b for b in bounds)
    if schedule == "cosine":
        warm = 0.05 * epochs
        if epoch < warm:
            return 0.1 + 0.9 * epoch / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (epoch - warm) / max(1e-9, epochs - warm))))
    return 1.0


@dataclass
class TrainProgress:
    """Sent about ten times an epoch (val_accuracy None) and after each epoch's validation.

    ``epoch`` is the 1-based epoch in progress (or just finished, when val_accuracy is set);
    ``step`` counts SGD steps over the whole run, ``steps`` is their total.
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    val_accuracy: float | None


@dataclass
class TrainResult:
    val_accuracy: float
    """Fraction correct on the validation split (0..1); 0.0 for a failed run."""
    test_accuracy: float | None
    final_loss: float
    curve: list[dict]
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
    model: torch.nn.Module | None = field(default=None, repr=False, compare=False)
    """The trained network (not part of to_dict)."""

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        return _finite(out)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# -- devices and the execution probe ----------------------------------------------------------------

def parse_device(text: str) -> str:
    t = str(text).strip().lower()
    if t in ("auto", "cpu", "cuda", "mps") or (t.startswith("cuda:") and t[5:].isdigit()):
        return t
    raise UsageError(f"unknown device {text!r}; accepted: auto, cpu, cuda, cuda:N, mps")


def resolve_device(text: str) -> torch.device:
    t = parse_device(text)
    if t == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if t.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {t} asked for, but torch sees no CUDA device; use --device cpu or auto")
        index = int(t[5:]) if ":" in t else 0
        if index >= torch.cuda.device_count():
            raise UsageError(f"device {t} asked for, but there are {torch.cuda.device_count()} CUDA devices")
    if t == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("device mps asked for, but MPS is not available; use --device cpu or auto")
    return torch.device(t)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu-{torch.backends.cpu.get_cpu_capability()}-{torch.get_num_threads()}t"
    return device.type


_PROBES: dict[str, tuple[str, bool]] = {}
BF16_MARGIN = 1.10
"""bf16 is chosen only when it trains at least 10% faster than fp32 (fp32 is the reference)."""
CL_MARGIN = 1.05


def _probe_path():
    from genet_lab.training.data.imagefolder import cache_root

    return cache_root() / "probe.json"


def choose_execution(model: torch.nn.Module, sample: torch.Tensor, cfg: TrainConfig, device: torch.device,
                     net_config: NetworkConfig) -> tuple[str, bool, dict]:
    """(precision, channels_last, timings) for this device and network shape.

    Explicit settings are kept; each 'auto' is settled by timing a few SGD steps of a copy of
    ``model`` on a random batch for every candidate, cached in memory and in
    ``<cache>/probe.json`` by (device, torch version, network config, batch size).
    """
    precs = ["fp32", "bf16"] if cfg.precision == "auto" else [cfg.precision]
    layouts = [False, True] if cfg.channels_last == "auto" else [cfg.channels_last == "on"]
    if len(precs) == 1 and len(layouts) == 1:
        return precs[0], layouts[0], {}
    shape = {k: v for k, v in net_config.to_dict().items() if k != "name"}
    key = json.dumps([device_name(device), torch.__version__, shape, cfg.batch_size, precs, layouts],
                     sort_keys=True, default=list)
    if key not in _PROBES:
        disk = _read_probes()
        if key in disk:
            _PROBES[key] = tuple(disk[key])
        else:
            _PROBES[key] = _measure(model, sample, device, precs, layouts, cfg.batch_size)
            disk[key] = list(_PROBES[key])
            _write_probes(disk)
    prec, cl, times = _PROBES[key]
    return prec, bool(cl), times


THREADS_MARGIN = 1.10
"""More CPU threads are taken only when they train at least 10% faster than one."""


def choose_threads(genome: Genome, net_config: NetworkConfig, data: DataSplits, cfg: TrainConfig) -> int:
    """CPU threads for a run with ``threads=0``: 1 or torch's setting, whichever the probe
    finds faster for this network shape (cached like :func:`choose_execution`).

    Small networks gain little from intra-op threads, and on a shared machine two spinning
    OpenMP threads made a step of the digits network about 20x slower than one.
    """
    most = torch.get_num_threads()
    if most <= 1:
        return most
    shape = {k: v for k, v in net_config.to_dict().items() if k != "name"}
    key = json.dumps(["threads", torch.backends.cpu.get_cpu_capability(), most, torch.__version__, shape,
                      cfg.batch_size], sort_keys=True, default=list)
    if key not in _PROBES:
        disk = _read_probes()
        if key not in disk:
            with torch.random.fork_rng(devices=[]):
                model = build_network(genome, net_config)
            disk[key] = _measure_threads(model, data.train_x[:1].float(), cfg.batch_size, most)
            _write_probes(disk)
        _PROBES[key] = disk[key]
    return int(_PROBES[key])


def _measure_threads(model, sample, batch, most) -> int:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    n = max(2, min(batch, 256))
    cpu = torch.device("cpu")
    times: dict[int, list[float]] = {1: [], most: []}
    with torch.random.fork_rng(devices=[]):
        gen = torch.Generator().manual_seed(0)
        x = torch.randn((n, *sample.shape[1:]), generator=gen)
        y = torch.randint(0, 2, (n,), generator=gen)
        for _ in range(3):
            for t in times:
                torch.set_num_threads(t)
                times[t].append(_time_steps(model, opt, x, y, "fp32", False, cpu))
    torch.set_num_threads(most)
    return most if statistics.median(times[1]) >= THREADS_MARGIN * statistics.median(times[most]) else 1


def _measure(model, sample, device, precs, layouts, batch):
    probe = copy.deepcopy(model).to(device)
    opt = torch.optim.SGD(probe.parameters(), lr=1e-3, momentum=0.9)
    n = max(2, min(batch, 256))
    times: dict[str, list[float]] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        gen = torch.Generator().manual_seed(0)
        x = torch.randn((n, *sample.shape[1:]), generator=gen).to(device)
        y = torch.randint(0, 2, (n,), generator=gen).to(device)
        cands = [(p, c) for p in precs for c in layouts]
        for _ in range(3):
            for p, c in list(cands):
                try:
                    times.setdefault(f"{p}/{int(c)}", []).append(_time_steps(probe, opt, x, y, p, c, device))
                except RuntimeError:  # e.g. bf16 autocast unsupported on this device
                    cands.remove((p, c))
    med = {k: statistics.median(v[1:] if len(v) > 1 else v) for k, v in times.items()}
    best_prec = precs[0]
    if "bf16" in precs and "fp32" in precs:
        fp = min(v for k, v in med.items() if k.startswith("fp32"))
        bf = min((v for k, v in med.items() if k.startswith("bf16")), default=math.inf)
        best_prec = "bf16" if fp >= BF16_MARGIN * bf else "fp32"
    lay = {c: med.get(f"{best_prec}/{int(c)}", math.inf) for c in layouts}
    best_cl = layouts[0]
    if len(layouts) == 2:
        best_cl = lay[False] >= CL_MARGIN * lay[True]
    return best_prec, best_cl, {k: round(v, 6) for k, v in med.items()}


def _time_steps(model, opt, x, y, prec, cl, device, steps=3) -> float:
    fmt = torch.channels_last if cl else torch.contiguous_format
    model.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    model.train()
    for i in range(steps + 1):
        if i == 1:
            synchronize(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=prec == "bf16"):
            loss = F.cross_entropy(model(x)[:, :2], y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(device)
    return (time.perf_counter() - t0) / steps


def _read_probes() -> dict:
    return read_json_cache(_probe_path())


def _write_probes(data: dict) -> None:
    write_json_cache(_probe_path(), data)


# -- data on the device -----------------------------------------------------------------------------

def to_device(x: torch.Tensor, mean, std, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Images (uint8 0..255 or float 0..1) as normalised float32 on ``device``."""
    x = x.to(device)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    c = x.shape[1]
    m = torch.tensor(mean or (0.5,) * c, device=device).view(1, c, 1, 1)
    s = torch.tensor(std or (0.5,) * c, device=device).view(1, c, 1, 1)
    x = (x - m) / s
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def augment_batch(x: torch.Tensor, pad: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding of ``pad`` pixels, and a random horizontal flip, per image.

    Random numbers come from the CPU generator ``gen`` so the same seed gives the same
    augmentation on every device.
    """
    b, _, h, w = x.shape
    if pad:
        dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen).to(x.device)
        padded = F.pad(x, (pad, pad, pad, pad))
        rows = (dy + torch.arange(h, device=x.device)).view(b, 1, h, 1)
        cols = (dx + torch.arange(w, device=x.device)).view(b, 1, 1, w)
        bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
        ci = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        x = padded[bi, ci, rows, cols]
    if flip:
        mask = (torch.rand(b, generator=gen) < 0.5).to(x.device).view(b, 1, 1, 1)
        x = torch.where(mask, x.flip(3), x)
    return x


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, bf16: bool = False,
             batch: int = 1024, channels_last: bool = False) -> float:
    """Fraction of ``x`` (normalised, on the model's device) classified as ``y``."""
    if len(y) == 0:
        return 0.0
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for i in range(0, len(y), batch):
        xb = x[i:i + batch]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            correct += (model(xb).argmax(1) == y[i:i + batch]).sum()
    return correct.item() / len(y)


# -- the training loop ------------------------------------------------------------------------------

def augmentation(cfg: TrainConfig, data: DataSplits) -> tuple[int, bool]:
    """(crop padding in pixels, flip) for this config and data set.

    'auto' leaves images under 16 pixels alone: a one-pixel shift of an 8x8 digit cost the
    paper's best genome 98% -> 51% validation accuracy in 30 epochs (docs/training.md).
    """
    pad = max(1, data.image_size // 8)
    mode = cfg.augment
    if mode == "auto":
        return (pad, data.hflip) if data.image_size >= 16 else (0, False)
    return (0 if mode == "none" else pad), mode == "crop+flip"


def check_shapes(net_config: NetworkConfig, data: DataSplits) -> None:
    want = (data.in_channels, data.image_size, data.num_classes)
    have = (net_config.in_channels, net_config.image_size, net_config.num_classes)
    if want != have:
        raise UsageError(f"network config expects (channels, size, classes) = {have} but {data.name} has {want}; "
                         "adapt it with net_config.with_input(data.in_channels, data.image_size, data.num_classes)")


def train_genome(genome: Genome, net_config: NetworkConfig, data: DataSplits, cfg: TrainConfig,
                 progress: Callable[[TrainProgress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train ``genome`` from scratch on ``data.train_*`` and measure validation accuracy.

    Bad arguments raise :class:`UsageError`; a diverging run (NaN/inf loss), a cancelled run
    (``should_stop()`` returned True) and an out-of-memory run return ``failed=True`` with
    ``val_accuracy=0.0``. ``progress`` gets a :class:`TrainProgress` about ten times an epoch
    and once after each epoch's validation.
    """
    t_start = time.perf_counter()
    cfg = cfg.validated()
    check_shapes(net_config, data)
    device = resolve_device(cfg.device)
    threads = torch.get_num_threads()
    try:
        if device.type == "cpu":
            torch.set_num_threads(cfg.threads or choose_threads(genome, net_config, data, cfg))
        return _train(genome, net_config, data, cfg, device, progress, should_stop, t_start)
    finally:
        torch.set_num_threads(threads)


def _train(genome, net_config, data, cfg, device, progress, should_stop, t_start) -> TrainResult:
    torch.manual_seed(cfg.seed)
    model = build_network(genome, net_config).to(device)
    params = count_parameters(model)
    prec, cl, _ = choose_execution(model, data.train_x[:1].float(), cfg, device, net_config)
    bf16 = prec == "bf16"
    result = TrainResult(val_accuracy=0.0, test_accuracy=None, final_loss=math.nan, curve=[], seconds=0.0,
                         images_per_second=0.0, params=params, failed=False, error=None, device=str(device),
                         precision=prec, channels_last=cl, model=model)
    try:
        _loop(model, data, cfg, device, bf16, cl, result, progress, should_stop)
    except RuntimeError as exc:  # torch.OutOfMemoryError, or the older RuntimeError("CUDA out of memory ...")
        if not isinstance(exc, torch.OutOfMemoryError) and "out of memory" not in str(exc):
            raise
        result.failed, result.error = True, f"out of memory: {' '.join(str(exc).split())[:160]}"
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if result.failed:
        result.val_accuracy, result.test_accuracy = 0.0, None
    result.seconds = time.perf_counter() - t_start
    return result


def prepare_loop(model, data, cfg, device, cl):
    """What a training loop sets up before its first step, shared by this trainer and the
    population trainer: the model's memory layout, the normalised splits on the device, the
    augmentation, and the step counts. Returns
    (memory_format, x, y, vx, vy, pad, flip, n, batch_size, steps_per_epoch, total_steps, report_every)."""
    fmt = torch.channels_last if cl else torch.contiguous_format
    model.to(memory_format=fmt)
    x = to_device(data.train_x, data.mean, data.std, device, False)
    y = data.train_y.to(device)
    vx = to_device(data.val_x, data.mean, data.std, device, False)
    vy = data.val_y.to(device)
    pad, flip = augmentation(cfg, data)
    n = len(y)
    bs = min(cfg.batch_size, n)
    steps = max(1, n // bs)
    return fmt, x, y, vx, vy, pad, flip, n, bs, steps, steps * cfg.epochs, max(1, steps // 10)


def _loop(model, data, cfg, device, bf16, cl, result, progress, should_stop) -> None:
    gen = torch.Generator().manual_seed(cfg.seed)
    fmt, x, y, vx, vy, pad, flip, n, bs, steps, total, report_every = prepare_loop(model, data, cfg, device, cl)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    train_time, images, step = 0.0, 0, 0
    for epoch in range(cfg.epochs):
        model.train()
        synchronize(device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            xb = augment_batch(x[idx], pad, flip, gen) if (pad or flip) else x[idx]
            xb = xb.contiguous(memory_format=fmt)
            lr = cfg.lr * lr_factor(cfg.schedule, epoch + i / steps, cfg.epochs)
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach().float()
            step += 1
            images += len(idx)
            if should_stop is not None and should_stop():
                result.failed, result.error, result.epochs_run = True, "cancelled", epoch
                return
            if (i + 1) % report_every == 0 or i + 1 == steps:
                value = loss.item()
                if not math.isfinite(value):
                    result.failed, result.epochs_run = True, epoch
                    result.error = f"diverged: loss is {value} at epoch {epoch + 1}, step {i + 1} (lr {lr:g})"
                    result.final_loss = value
                    return
                if progress is not None and i + 1 < steps:
                    progress(TrainProgress(epoch + 1, cfg.epochs, step, total, value, None))
        synchronize(device)
        train_time += time.perf_counter() - t0
        epoch_loss = (loss_sum / steps).item()
        val = accuracy(model, vx, vy, bf16, channels_last=cl)
        result.curve.append({"epoch": epoch + 1, "loss": epoch_loss, "lr": lr, "val_accuracy": val,
                             "seconds": round(time.perf_counter() - t0, 4)})
        result.final_loss, result.val_accuracy, result.epochs_run = epoch_loss, val, epoch + 1
        result.images_per_second = images / train_time if train_time > 0 else 0.0
        if not math.isfinite(epoch_loss):
            result.failed, result.error = True, f"diverged: mean loss is {epoch_loss} in epoch {epoch + 1}"
            return
        if progress is not None:
            progress(TrainProgress(epoch + 1, cfg.epochs, step, total, epoch_loss, val))
    if cfg.eval_test and data.test_x is not None:
        tx = to_device(data.test_x, data.mean, data.std, device, False)
        result.test_accuracy = accuracy(model, tx, data.test_y.to(device), bf16, channels_last=cl)
