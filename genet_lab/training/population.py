"""Training a population: batched groups or one network at a time, whichever is faster here.

:func:`train_population` gives every individual the result
:func:`genet_lab.training.trainer.train_genome` would give it with the same config and
seed: same initial weights (each network is built under its own seed and
stacked into a :class:`~genet_lab.training.batched.BatchedGeNet`), same batch order
and augmentation (one ``torch.Generator`` per seed, consumed in the same
order), same dropout masks (each individual draws from its own copy of the
generator state a lone run would have), same schedule, SGD, divergence checks
and validation. What differs is float rounding (grouped convolutions sum in
another order; in float64 the two agree to the last bit, see
tests/test_batched.py) and ``seconds``, which is the individual's share of its
group's wall time.

Batching or a loop is decided by :func:`plan_population`: a few timed SGD
steps of a single network and of the group on random data, cached per device,
network shape, batch size and group size. Groups are cut to what fits in
memory (an estimate, and on CUDA an out-of-memory error halves the group).
Knows torch, the trainer and the batched model; nothing of evolution.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import torch

from genet_lab.training.batched import BatchedGeNet, RngStreams, group_loss
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.training.data import DataSplits
from genet_lab.errors import UsageError
from genet_lab.fileio import read_json_cache, write_json_cache
from genet_lab.encoding.genome import Genome
from genet_lab.training.network import build_network, count_parameters
from genet_lab.training.trainer import (TrainConfig, TrainProgress, TrainResult, check_shapes, prepare_loop, augment_batch,
                    choose_execution, choose_threads, device_name, lr_factor, resolve_device, synchronize,
                    to_device, train_genome)

MODES = ("auto", "batched", "loop")
BATCH_MARGIN = 1.10
"""Batching is chosen only when the probe measures it at least 10% faster than the loop."""
PopulationProgress = Callable[[int, TrainProgress], None]
"""progress(index of the individual in ``genomes``, its TrainProgress)."""


@dataclass(frozen=True)
class PopulationPlan:
    mode: str
    """batched or loop."""
    group_size: int
    """Individuals per batched group (memory permitting)."""
    precision: str
    channels_last: bool
    loop_step_s: float | None = None
    """Measured seconds of one SGD step of the whole group trained one network at a time."""
    batched_step_s: float | None = None
    """Measured seconds of one SGD step of the batched group."""
    measured: bool = False
    """False when the plan came from the cache or from an explicit mode."""

    def to_dict(self) -> dict:
        return asdict(self)


def _configs(cfg: TrainConfig | Sequence[TrainConfig], n: int) -> list[TrainConfig]:
    cfgs = [cfg] * n if isinstance(cfg, TrainConfig) else list(cfg)
    if len(cfgs) != n:
        raise UsageError(f"got {len(cfgs)} training configs for {n} genomes; give one, or one per genome")
    cfgs = [c.validated() for c in cfgs]
    base = replace(cfgs[0], seed=0)
    for c in cfgs[1:]:
        if replace(c, seed=0) != base:
            raise UsageError("the training configs of one population may differ only in their seed")
    return cfgs


# -- memory -------------------------------------------------------------------------------------------

def estimate_bytes(genome: Genome, net_config: NetworkConfig, batch_size: int) -> int:
    """Rough training memory of one individual inside a group, in bytes (fp32).

    Weights of the full DAG of every stage (a group runs every node some
    individual has) times 4 (weights, gradients, momentum, a spare) plus about
    five saved activations per node and image (convolution, BN, ReLU, the summed
    input and a mask product).
    """
    from genet_lab.encoding.complexity import complexity

    full = Genome(genome.stages, (1,) * genome.length)  # the dense DAG: an upper bound
    cx = complexity(full, net_config)
    size = net_config.image_size
    act = 0
    cin_size = size
    for width, n in net_config.stem:
        act += n * width * cin_size**2
        cin_size = net_config.pooled(cin_size)
    for k, width in zip(genome.stages, net_config.stage_widths(genome.num_stages)):
        act += (k + 2) * width * cin_size**2
        cin_size = net_config.pooled(cin_size)
    return 4 * (4 * cx.params + 5 * batch_size * act)


def memory_budget(device: torch.device) -> int:
    """Bytes a group may use: 80% of free CUDA memory, half of the available RAM otherwise."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.8 * free)
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
        return int(0.5 * info.get("MemAvailable", info["MemTotal"]))
    except (OSError, KeyError, ValueError):
        return 4 << 30


def max_group(genome: Genome, net_config: NetworkConfig, batch_size: int, device: torch.device) -> int:
    return max(1, memory_budget(device) // max(1, estimate_bytes(genome, net_config, batch_size)))


# -- the probe ----------------------------------------------------------------------------------------

_PLANS: dict[str, PopulationPlan] = {}


def _plan_path():
    from genet_lab.training.data.imagefolder import cache_root

    return cache_root() / "population_probe.json"


def _time_steps(model, x, y, prec, cl, device, steps=2) -> float:
    fmt = torch.channels_last if cl else torch.contiguous_format
    model.to(memory_format=fmt).train()
    x = x.contiguous(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    for i in range(steps + 1):
        if i == 1:
            synchronize(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=prec == "bf16"):
            out = model(x)
            loss = group_loss(out, y)[1] if out.dim() == 3 else torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(device)
    return (time.perf_counter() - t0) / steps


def _measure(genomes, net_config, batch, shared, prec, single_cl, layouts, device, samples=3):
    """Median seconds per step: the loop over ``genomes`` (from up to ``samples`` of them)
    and the batched group for each layout."""
    G = len(genomes)
    c, s = net_config.in_channels, net_config.image_size
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        gen = torch.Generator().manual_seed(0)
        x1 = torch.randn(batch, c, s, s, generator=gen).to(device)
        y1 = torch.randint(0, net_config.num_classes, (batch,), generator=gen).to(device)
        xg = x1 if shared else torch.randn(batch, G * c, s, s, generator=gen).to(device)
        yg = y1 if shared else torch.randint(0, net_config.num_classes, (G, batch), generator=gen).to(device)
        picks = genomes[:: max(1, G // samples)][:samples]
        singles = [build_network(g, net_config).to(device) for g in picks]
        group = BatchedGeNet(genomes, net_config).to(device)
        loop_t: list[float] = []
        batched_t: dict[bool, list[float]] = {cl: [] for cl in layouts}
        for r in range(3):  # interleaved rounds: a noisy neighbour hurts both sides alike
            loop_t.append(G * statistics.fmean(_time_steps(m, x1, y1, prec, single_cl, device) for m in singles))
            for cl in layouts:
                batched_t[cl].append(_time_steps(group, xg, yg, prec, cl, device))
            if r == 0 and min(loop_t[0], *(v[0] for v in batched_t.values())) > 1.0:
                break  # slow steps (large input on a CPU): one round is clear enough and saves a minute
    med = {cl: statistics.median(v) for cl, v in batched_t.items()}
    best_cl = min(med, key=med.get)
    return statistics.median(loop_t), med[best_cl], best_cl


def plan_population(genomes: Sequence[Genome], net_config: NetworkConfig, cfg: TrainConfig,
                    device: torch.device, mode: str = "auto", shared: bool = False) -> PopulationPlan:
    """Batched or loop, the group size and the execution settings for ``genomes`` on ``device``.

    ``shared``: every individual sees the same batches (one seed for all).
    The measured decision is cached in memory and in ``<cache>/population_probe.json`` by
    (device, torch version, network config, batch size, group size, shared, settings).
    """
    if mode not in MODES:
        raise UsageError(f"unknown population mode {mode!r}; accepted: {', '.join(MODES)}")
    genomes = list(genomes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        probe_net = build_network(genomes[0], net_config)
    sample = torch.zeros(1, net_config.in_channels, net_config.image_size, net_config.image_size)
    prec, cl, _ = choose_execution(probe_net, sample, cfg, device, net_config)
    size = min(len(genomes), max_group(genomes[0], net_config, cfg.batch_size, device))
    if mode == "loop" or len(genomes) == 1:
        return PopulationPlan("loop", 1, prec, cl)
    layouts = [False, True] if cfg.channels_last == "auto" else [cfg.channels_last == "on"]
    if mode == "batched":
        return PopulationPlan("batched", size, prec, layouts[-1] if len(layouts) == 1 else cl)
    shape = {k: v for k, v in net_config.to_dict().items() if k != "name"}
    key = json.dumps([device_name(device), torch.__version__, shape, cfg.batch_size, size, shared, prec,
                      layouts, list(genomes[0].stages)], sort_keys=True, default=list)
    if key not in _PLANS:
        disk = read_json_cache(_plan_path())
        if key in disk:
            _PLANS[key] = PopulationPlan(**disk[key])
        else:
            loop_s, batched_s, best_cl = _measure(genomes[:size], net_config, min(cfg.batch_size, 256), shared,
                                                  prec, cl, layouts, device)
            use = "batched" if loop_s >= BATCH_MARGIN * batched_s else "loop"
            plan = PopulationPlan(use, size if use == "batched" else 1, prec, best_cl if use == "batched" else cl,
                                  round(loop_s, 6), round(batched_s, 6), True)
            _PLANS[key] = replace(plan, measured=False)
            disk[key] = _PLANS[key].to_dict()
            write_json_cache(_plan_path(), disk)
            return plan
    return _PLANS[key]


# -- training -----------------------------------------------------------------------------------------

def train_population(genomes: Sequence[Genome], net_config: NetworkConfig, data: DataSplits,
                     cfg: TrainConfig | Sequence[TrainConfig], progress: PopulationProgress | None = None,
                     should_stop: Callable[[], bool] | None = None, mode: str = "auto",
                     plan: PopulationPlan | None = None) -> list[TrainResult]:
    """Train every genome from scratch; one :class:`TrainResult` per genome, in order.

    ``cfg`` is one config or one per genome differing only in ``seed``. ``mode``:
    auto (measured, see :func:`plan_population`), batched or loop.
    """
    genomes = list(genomes)
    if not genomes:
        return []
    cfgs = _configs(cfg, len(genomes))
    check_shapes(net_config, data)
    if len({g.stages for g in genomes}) != 1:  # a mixed population: batch each stage layout apart
        results: list[TrainResult | None] = [None] * len(genomes)
        for stages in dict.fromkeys(g.stages for g in genomes):
            idx = [i for i, g in enumerate(genomes) if g.stages == stages]
            sub = _reindex(progress, idx)
            for i, r in zip(idx, train_population([genomes[i] for i in idx], net_config, data,
                                                  [cfgs[i] for i in idx], sub, should_stop, mode, plan)):
                results[i] = r
        return results  # type: ignore[return-value]
    device = resolve_device(cfgs[0].device)
    threads = torch.get_num_threads()
    if device.type == "cpu":  # as train_genome: threads=0 measures 1 thread against torch's setting
        torch.set_num_threads(cfgs[0].threads or choose_threads(genomes[0], net_config, data, cfgs[0]))
    try:
        shared = len({c.seed for c in cfgs}) == 1
        plan = plan or plan_population(genomes, net_config, cfgs[0], device, mode, shared)
        if plan.mode == "loop":
            return [train_genome(g, net_config, data, c, _reindex(progress, [i]), should_stop)
                    for i, (g, c) in enumerate(zip(genomes, cfgs))]
        out: list[TrainResult] = []
        for start in range(0, len(genomes), plan.group_size):
            idx = list(range(start, min(len(genomes), start + plan.group_size)))
            out += _train_split([genomes[i] for i in idx], net_config, data, [cfgs[i] for i in idx], device,
                                plan, _reindex(progress, idx), should_stop)
        return out
    finally:
        torch.set_num_threads(threads)


def _reindex(progress, idx):
    if progress is None:
        return None
    if len(idx) == 1:
        return lambda *a: progress(idx[0], a[-1])
    return lambda g, p: progress(idx[g], p)


def _train_split(genomes, net_config, data, cfgs, device, plan, progress, should_stop) -> list[TrainResult]:
    """One group; on an out-of-memory error, each half on its own."""
    if len(genomes) == 1:  # train_genome reports its own out-of-memory as a failed run
        cfg = replace(cfgs[0], precision=plan.precision, channels_last="on" if plan.channels_last else "off")
        return [train_genome(genomes[0], net_config, data, cfg, _reindex(progress, [0]), should_stop)]
    try:
        return train_group(genomes, net_config, data, cfgs, device, plan.precision, plan.channels_last,
                           progress, should_stop)
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        h = len(genomes) // 2
        left = _train_split(genomes[:h], net_config, data, cfgs[:h], device, plan, progress, should_stop)
        shift = None if progress is None else (lambda g, p: progress(g + h, p))
        return left + _train_split(genomes[h:], net_config, data, cfgs[h:], device, plan, shift, should_stop)


def train_group(genomes: Sequence[Genome], net_config: NetworkConfig, data: DataSplits,
                cfgs: Sequence[TrainConfig], device: torch.device, precision: str = "fp32",
                channels_last: bool = False, progress: PopulationProgress | None = None,
                should_stop: Callable[[], bool] | None = None) -> list[TrainResult]:
    """Train ``genomes`` as one :class:`BatchedGeNet` (all in memory at once)."""
    t_start = time.perf_counter()
    nets, states = [], []
    for g, c in zip(genomes, cfgs):
        torch.manual_seed(c.seed)  # the weights train_genome would start from
        nets.append(build_network(g, net_config))
        # ... and the generator its dropout would then draw from
        states.append(torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state())
    params = [count_parameters(n) for n in nets]
    model = BatchedGeNet.from_networks(nets).to(device)
    model.rng_streams = RngStreams(states, device)
    del nets
    results = [TrainResult(val_accuracy=0.0, test_accuracy=None, final_loss=math.nan, curve=[], seconds=0.0,
                           images_per_second=0.0, params=p, failed=False, error=None, device=str(device),
                           precision=precision, channels_last=channels_last) for p in params]
    _group_loop(model, data, list(cfgs), device, precision == "bf16", channels_last, results, progress, should_stop)
    share = (time.perf_counter() - t_start) / len(genomes)
    for g, r in enumerate(results):
        if r.failed:
            r.val_accuracy, r.test_accuracy = 0.0, None
        r.seconds = share
        r.model = model.export_individual(g)
    return results


@torch.no_grad()
def group_accuracy(model: BatchedGeNet, x: torch.Tensor, y: torch.Tensor, bf16: bool = False,
                   channels_last: bool = False) -> list[float]:
    """Per-individual fraction of ``x`` (normalised, shared by all) classified as ``y``."""
    if len(y) == 0:
        return [0.0] * model.groups
    model.eval()
    batch = max(32, 1024 // model.groups)
    correct = torch.zeros(model.groups, dtype=torch.int64, device=x.device)
    for i in range(0, len(y), batch):
        xb = x[i:i + batch]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            correct += (model(xb).argmax(2) == y[i:i + batch]).sum(1)
    return [c / len(y) for c in correct.tolist()]


def _group_loop(model, data, cfgs, device, bf16, cl, results, progress, should_stop) -> None:
    """train.py's ``_loop`` for G individuals at once (kept step for step in the same order)."""
    cfg, G = cfgs[0], len(cfgs)
    shared = len({c.seed for c in cfgs}) == 1
    gens = [torch.Generator().manual_seed(c.seed) for c in (cfgs[:1] if shared else cfgs)]
    fmt, x, y, vx, vy, pad, flip, n, bs, steps, total, report_every = prepare_loop(model, data, cfg, device, cl)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    alive = torch.ones(G, dtype=torch.bool, device=device)
    live = set(range(G))
    train_time, images, step = 0.0, 0, 0

    def fail(g, epoch, error, loss=None):
        results[g].failed, results[g].error, results[g].epochs_run = True, error, epoch
        if loss is not None:
            results[g].final_loss = loss
        live.discard(g)
        alive[g] = False

    for epoch in range(cfg.epochs):
        model.train()
        synchronize(device)
        t0 = time.perf_counter()
        perms = [torch.randperm(n, generator=gen).to(device) for gen in gens]
        loss_sum = torch.zeros(G, device=device)
        for i in range(steps):
            idxs = [p[i * bs:(i + 1) * bs] for p in perms]
            xbs = [augment_batch(x[idx], pad, flip, gen) if (pad or flip) else x[idx] for idx, gen in zip(idxs, gens)]
            xb = xbs[0] if shared else torch.cat(xbs, dim=1)
            yb = y[idxs[0]] if shared else torch.stack([y[idx] for idx in idxs])
            xb = xb.contiguous(memory_format=fmt)
            lr = cfg.lr * lr_factor(cfg.schedule, epoch + i / steps, cfg.epochs)
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                per, loss = group_loss(model(xb), yb, alive)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += per.detach().float()
            step += 1
            images += len(idxs[0])
            if should_stop is not None and should_stop():
                for g in list(live):
                    fail(g, epoch, "cancelled")
                return
            if (i + 1) % report_every == 0 or i + 1 == steps:
                values = per.detach().float().tolist()
                for g in sorted(live):
                    if not math.isfinite(values[g]):
                        fail(g, epoch, f"diverged: loss is {values[g]} at epoch {epoch + 1}, step {i + 1} (lr {lr:g})",
                             values[g])
                    elif progress is not None and i + 1 < steps:
                        progress(g, TrainProgress(epoch, cfg.epochs, step, total, values[g], None))
                if not live:
                    return
        synchronize(device)
        train_time += time.perf_counter() - t0
        epoch_loss = (loss_sum / steps).tolist()
        val = group_accuracy(model, vx, vy, bf16, channels_last=cl)
        seconds = round(time.perf_counter() - t0, 4)
        for g in sorted(live):
            r = results[g]
            r.curve.append({"epoch": epoch + 1, "loss": epoch_loss[g], "lr": lr, "val_accuracy": val[g],
                            "seconds": seconds})
            r.final_loss, r.val_accuracy, r.epochs_run = epoch_loss[g], val[g], epoch + 1
            r.images_per_second = images / train_time if train_time > 0 else 0.0
            if not math.isfinite(epoch_loss[g]):
                fail(g, epoch + 1, f"diverged: mean loss is {epoch_loss[g]} in epoch {epoch + 1}")
            elif progress is not None:
                progress(g, TrainProgress(epoch + 1, cfg.epochs, step, total, epoch_loss[g], val[g]))
        if not live:
            return
    if cfg.eval_test and data.test_x is not None:
        tx = to_device(data.test_x, data.mean, data.std, device, False)
        test = group_accuracy(model, tx, data.test_y.to(device), bf16, channels_last=cl)
        for g in live:
            results[g].test_accuracy = test[g]
