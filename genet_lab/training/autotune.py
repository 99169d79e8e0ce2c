"""Execution settings chosen by measurement, not by habit: one timing probe, one cache.

Each choice times a few SGD steps on random data with :func:`time_steps` and is kept,
by a key naming what the timing depends on (device, torch version, network shape,
batch size...), in memory and in ``<cache>/probe.json``, so a process measures a
choice once and later processes read it back:

* :func:`choose_execution`: bf16 autocast or fp32, channels_last or not (``auto`` settings);
* :func:`choose_threads`: one CPU thread or torch's setting (``threads=0``);
* :func:`choose_batching`: a population as one batched group or one network at a time.

Knows torch, the networks and the configs; nothing of the training loop's bookkeeping,
populations' memory planning or evolution.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.fileio import read_json_cache, write_json_cache
from genet_lab.training.batched import BatchedGeNet
from genet_lab.training.config import TrainConfig
from genet_lab.training.data import DataSplits
from genet_lab.training.devices import (
    device_name,
    layout_candidates,
    precision_candidates,
    rng_devices,
    synchronize,
)
from genet_lab.training.loop import losses, out_of_memory
from genet_lab.training.network import build_network

BF16_MARGIN = 1.10
"""bf16 is chosen only when it trains at least 10% faster than fp32 (fp32 is the reference)."""
CL_MARGIN = 1.05
"""channels_last is chosen only when it trains at least 5% faster than the contiguous layout."""
THREADS_MARGIN = 1.10
"""More CPU threads are taken only when they train at least 10% faster than one."""
BATCH_MARGIN = 1.10
"""Batching is chosen only when the probe measures it at least 10% faster than the loop."""

_PROBES: dict[str, Any] = {}
"""Every measured choice by key, as the JSON value stored in ``<cache>/probe.json``."""


def _probe_path() -> Path:
    from genet_lab.training.data.imagefolder import cache_root

    return cache_root() / "probe.json"


def cached(key: list[Any], measure: Callable[[], Any], fallback: Any = None) -> tuple[Any, bool]:
    """(the JSON value kept under ``key``, whether it was measured by this call).

    Looks in memory, then on disk; only when neither has it is ``measure()`` called and its
    value stored in both. A probe that runs out of memory (a memory limit, a full GPU) gives
    ``fallback`` when one is given, the reference choice, stored nowhere: the training itself
    then meets the limit and says so in its one line (the probe is only an optimisation).
    """
    text = json.dumps(key, sort_keys=True, default=list)
    if text in _PROBES:
        return _PROBES[text], False
    disk = read_json_cache(_probe_path())
    if text in disk:
        _PROBES[text] = disk[text]
        return disk[text], False
    try:
        measured = measure()
    except (RuntimeError, MemoryError) as exc:
        if fallback is None or not out_of_memory(exc):
            raise
        return fallback, False
    value = json.loads(json.dumps(measured))  # the same value in memory as on disk
    disk = read_json_cache(_probe_path())  # another process may have written meanwhile
    disk[text] = value
    write_json_cache(_probe_path(), disk)
    _PROBES[text] = value
    return value, True


def _shape(net_config: NetworkConfig) -> dict[str, Any]:
    return {k: v for k, v in net_config.to_dict().items() if k != "name"}


def time_steps(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    precision: str,
    channels_last: bool,
    device: torch.device,
    steps: int = 3,
) -> float:
    """Seconds per SGD step of ``model`` (a network or a batched group) on ``(x, y)``, after
    one untimed warm-up step, synchronised with the device."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt).train()
    x = x.contiguous(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    t0 = time.perf_counter()
    for i in range(steps + 1):
        if i == 1:
            synchronize(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            _, loss = losses(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(device)
    return (time.perf_counter() - t0) / steps


def _random_batch(
    sample: torch.Tensor, n: int, classes: int, device: torch.device, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn((n, *sample.shape[1:]), generator=gen).to(device)
    return x, torch.randint(0, classes, (n,), generator=gen).to(device)


# -- precision and memory layout ----------------------------------------------------------------------


def choose_execution(
    model: torch.nn.Module, sample: torch.Tensor, cfg: TrainConfig, device: torch.device, net_config: NetworkConfig
) -> tuple[str, bool, dict[str, float]]:
    """(precision, channels_last, timings) for this device and network shape.

    Explicit settings are kept; each 'auto' is settled by timing a few SGD steps of a copy of
    ``model`` on a random batch for every candidate, cached by (device, torch version,
    network config, batch size).
    """
    precs = precision_candidates(cfg.precision, device)
    layouts = layout_candidates(cfg.channels_last)
    if len(precs) == 1 and len(layouts) == 1:
        return precs[0], layouts[0], {}
    key = ["execution", device_name(device), torch.__version__, _shape(net_config), cfg.batch_size, precs, layouts]
    (prec, cl, times), _ = cached(
        key,
        lambda: _measure_execution(model, sample, device, precs, layouts, cfg.batch_size),
        fallback=[precs[0], layouts[0], {}],
    )
    return prec, bool(cl), times


def _measure_execution(
    model: torch.nn.Module,
    sample: torch.Tensor,
    device: torch.device,
    precs: list[str],
    layouts: list[bool],
    batch: int,
) -> tuple[str, bool, dict[str, float]]:
    probe = copy.deepcopy(model).to(device)
    times: dict[str, list[float]] = {}
    with torch.random.fork_rng(devices=rng_devices(device)):
        x, y = _random_batch(sample, max(2, min(batch, 256)), 2, device, torch.Generator().manual_seed(0))
        cands = [(p, c) for p in precs for c in layouts]
        for _ in range(3):
            for p, c in list(cands):
                try:
                    seconds = time_steps(probe, x, y, p, c, device)
                except RuntimeError as exc:  # e.g. bf16 autocast unsupported on this device
                    if out_of_memory(exc):
                        raise  # not a property of the candidate: cached() falls back
                    cands.remove((p, c))
                    continue
                times.setdefault(f"{p}/{int(c)}", []).append(seconds)
    if not times:  # no candidate ran: the reference choice
        return precs[0], layouts[0], {}
    med = {k: statistics.median(v[1:] if len(v) > 1 else v) for k, v in times.items()}
    best_prec = precs[0]
    if "bf16" in precs and "fp32" in precs:
        fp = min((v for k, v in med.items() if k.startswith("fp32")), default=math.inf)
        bf = min((v for k, v in med.items() if k.startswith("bf16")), default=math.inf)
        best_prec = "bf16" if fp >= BF16_MARGIN * bf else "fp32"
    lay = {c: med.get(f"{best_prec}/{int(c)}", math.inf) for c in layouts}
    best_cl = layouts[0]
    if len(layouts) == 2:
        best_cl = lay[False] >= CL_MARGIN * lay[True]
    return best_prec, best_cl, {k: round(v, 6) for k, v in med.items()}


# -- CPU threads --------------------------------------------------------------------------------------


def choose_threads(genome: Genome, net_config: NetworkConfig, data: DataSplits, cfg: TrainConfig) -> int:
    """CPU threads for a run with ``threads=0``: 1 or torch's setting, whichever the probe
    finds faster for this network shape (cached like :func:`choose_execution`).

    Small networks gain little from intra-op threads, and on a shared machine two spinning
    OpenMP threads made a step of the digits network about 20x slower than one.
    """
    most = torch.get_num_threads()
    if most <= 1:
        return most

    def measure() -> int:
        with torch.random.fork_rng(devices=[]):
            model = build_network(genome, net_config)
        return _measure_threads(model, data.train_x[:1].float(), cfg.batch_size, most)

    key = [
        "threads",
        torch.backends.cpu.get_cpu_capability(),
        most,
        torch.__version__,
        _shape(net_config),
        cfg.batch_size,
    ]
    return int(cached(key, measure, fallback=1)[0])


def _measure_threads(model: torch.nn.Module, sample: torch.Tensor, batch: int, most: int) -> int:
    cpu = torch.device("cpu")
    times: dict[int, list[float]] = {1: [], most: []}
    with torch.random.fork_rng(devices=[]):
        x, y = _random_batch(sample, max(2, min(batch, 256)), 2, cpu, torch.Generator().manual_seed(0))
        try:
            for _ in range(3):
                for t in times:
                    torch.set_num_threads(t)
                    times[t].append(time_steps(model, x, y, "fp32", False, cpu))
        finally:
            torch.set_num_threads(most)
    return most if statistics.median(times[1]) >= THREADS_MARGIN * statistics.median(times[most]) else 1


# -- one batched group or a loop ----------------------------------------------------------------------


@dataclass(frozen=True)
class BatchingChoice:
    """What :func:`choose_batching` measured for one group of a population."""

    batched: bool
    """True when the group trained as one :class:`BatchedGeNet` beats the loop by BATCH_MARGIN."""
    channels_last: bool
    """The faster layout of the batched group."""
    loop_step_s: float
    """Seconds of one SGD step of the whole group trained one network at a time."""
    batched_step_s: float
    """Seconds of one SGD step of the batched group."""


def choose_batching(
    genomes: Sequence[Genome],
    net_config: NetworkConfig,
    batch_size: int,
    shared: bool,
    precision: str,
    single_cl: bool,
    layouts: list[bool],
    device: torch.device,
) -> tuple[BatchingChoice, bool]:
    """(the choice for training ``genomes`` as one group, whether it was measured by this call).

    ``shared``: every individual sees the same batches. Cached by (device, torch version,
    network config, batch size, group size, shared, precision, layouts, stage sizes).
    """
    genomes = list(genomes)
    key = [
        "batching",
        device_name(device),
        torch.__version__,
        _shape(net_config),
        batch_size,
        len(genomes),
        shared,
        precision,
        layouts,
        list(genomes[0].stages),
    ]

    def measure() -> dict[str, Any]:
        loop_s, batched_s, best_cl = _measure_batching(
            genomes, net_config, min(batch_size, 256), shared, precision, single_cl, layouts, device
        )
        loop_s, batched_s = round(loop_s, 6), round(batched_s, 6)
        return asdict(BatchingChoice(loop_s >= BATCH_MARGIN * batched_s, best_cl, loop_s, batched_s))

    reference = asdict(BatchingChoice(False, layouts[0], 0.0, 0.0))  # one network at a time: the least memory
    value, measured = cached(key, measure, fallback=reference)
    return BatchingChoice(**value), measured


def _measure_batching(
    genomes: list[Genome],
    net_config: NetworkConfig,
    batch: int,
    shared: bool,
    prec: str,
    single_cl: bool,
    layouts: list[bool],
    device: torch.device,
    samples: int = 3,
) -> tuple[float, float, bool]:
    """Median seconds per step: the loop over ``genomes`` (from up to ``samples`` of them),
    the batched group in its faster layout, and that layout."""
    G = len(genomes)
    c, s, classes = net_config.in_channels, net_config.image_size, net_config.num_classes
    with torch.random.fork_rng(devices=rng_devices(device)):
        gen = torch.Generator().manual_seed(0)
        x1, y1 = _random_batch(torch.empty(1, c, s, s), batch, classes, device, gen)
        xg = x1 if shared else torch.randn(batch, G * c, s, s, generator=gen).to(device)
        yg = y1 if shared else torch.randint(0, classes, (G, batch), generator=gen).to(device)
        picks = genomes[:: max(1, G // samples)][:samples]
        singles = [build_network(g, net_config).to(device) for g in picks]
        group = BatchedGeNet(genomes, net_config).to(device)
        loop_t: list[float] = []
        batched_t: dict[bool, list[float]] = {cl: [] for cl in layouts}
        for r in range(3):  # interleaved rounds: a noisy neighbour hurts both sides alike
            loop_t.append(G * statistics.fmean(time_steps(m, x1, y1, prec, single_cl, device, 2) for m in singles))
            for cl in layouts:
                batched_t[cl].append(time_steps(group, xg, yg, prec, cl, device, 2))
            if r == 0 and min(loop_t[0], *(v[0] for v in batched_t.values())) > 1.0:
                break  # slow steps (large input on a CPU): one round is clear enough and saves a minute
    med = {cl: statistics.median(v) for cl, v in batched_t.items()}
    best_cl = min(med, key=lambda cl: med[cl])
    return statistics.median(loop_t), med[best_cl], best_cl
