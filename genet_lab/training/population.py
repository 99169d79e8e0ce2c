"""Training a population: batched groups or one network at a time, whichever is faster here.

:func:`train_population` gives every individual the result
:func:`genet_lab.training.trainer.train_genome` would give it with the same config and
seed: same initial weights (each network is built under its own seed and
stacked into a :class:`~genet_lab.training.batched.BatchedGeNet`), same batch order
and augmentation (one ``torch.Generator`` per seed, consumed in the same
order), same dropout masks (each individual draws from its own copy of the
generator state a lone run would have), same schedule, SGD, divergence checks
and validation: a batched group runs the very loop a lone network runs
(:func:`genet_lab.training.loop.run_loop`). What differs is float rounding (grouped convolutions sum in
another order; in float64 the two agree to the last bit, see
tests/training/test_batched.py) and ``seconds``, which is the individual's share of its
group's wall time.

Batching or a loop is decided by :func:`plan_population`: a few timed SGD
steps of a single network and of the group on random data
(:func:`genet_lab.training.autotune.choose_batching`, cached per device,
network shape, batch size and group size). Groups are cut to what fits in
memory (an estimate, and on CUDA an out-of-memory error halves the group).
:func:`train_models` is the same training that also hands back each trained network beside
its result (:class:`~genet_lab.training.loop.Trained`). Knows torch, the trainer, the loop and
the batched model; nothing of evolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.errors import UsageError
from genet_lab.training.autotune import (
    BATCH_MARGIN,
    choose_batching,
    choose_execution,
    choose_threads,
)
from genet_lab.training.batched import BatchedGeNet, RngStreams
from genet_lab.training.config import TrainConfig, TrainProgress, TrainResult
from genet_lab.training.data import DataSplits
from genet_lab.training.devices import (
    layout_candidates,
    memory_budget,
    release_memory,
    resolve_device,
    rng_state,
)
from genet_lab.training.loop import Trained, check_shapes, group_accuracy, out_of_memory, run_loop
from genet_lab.training.network import GeNet, build_network, count_parameters
from genet_lab.training.trainer import train_model

__all__ = [
    "BATCH_MARGIN",
    "MODES",
    "PopulationPlan",
    "PopulationProgress",
    "estimate_bytes",
    "group_accuracy",
    "max_group",
    "memory_budget",
    "plan_population",
    "train_group",
    "train_models",
    "train_population",
]

MODES = ("auto", "batched", "loop")
PopulationProgress = Callable[[int, TrainProgress], None]
"""progress(index of the individual in ``genomes``, its TrainProgress)."""


@dataclass(frozen=True)
class PopulationPlan:
    """How :func:`train_population` trains a population of one stage layout."""

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

    def to_dict(self) -> dict[str, Any]:
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


def max_group(genome: Genome, net_config: NetworkConfig, batch_size: int, device: torch.device) -> int:
    """Individuals of ``genome``'s size that fit in :func:`memory_budget` at once (at least 1)."""
    return max(1, memory_budget(device) // max(1, estimate_bytes(genome, net_config, batch_size)))


# -- the plan ------------------------------------------------------------------------------------------


def plan_population(
    genomes: Sequence[Genome],
    net_config: NetworkConfig,
    cfg: TrainConfig,
    device: torch.device,
    mode: str = "auto",
    shared: bool = False,
) -> PopulationPlan:
    """Batched or loop, the group size and the execution settings for ``genomes`` on ``device``.

    ``shared``: every individual sees the same batches (one seed for all).
    The measured decision is cached in memory and in ``<cache>/probe.json`` by
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
    layouts = layout_candidates(cfg.channels_last)
    if mode == "batched":
        return PopulationPlan("batched", size, prec, layouts[-1] if len(layouts) == 1 else cl)
    choice, measured = choose_batching(genomes[:size], net_config, cfg.batch_size, shared, prec, cl, layouts, device)
    if not choice.batched:
        return PopulationPlan("loop", 1, prec, cl, choice.loop_step_s, choice.batched_step_s, measured)
    return PopulationPlan(
        "batched", size, prec, choice.channels_last, choice.loop_step_s, choice.batched_step_s, measured
    )


# -- training -----------------------------------------------------------------------------------------


def train_population(
    genomes: Sequence[Genome],
    net_config: NetworkConfig,
    data: DataSplits,
    cfg: TrainConfig | Sequence[TrainConfig],
    progress: PopulationProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    mode: str = "auto",
    plan: PopulationPlan | None = None,
) -> list[TrainResult]:
    """Train every genome from scratch; one :class:`TrainResult` per genome, in order.

    ``cfg`` is one config or one per genome differing only in ``seed``. ``mode``:
    auto (measured, see :func:`plan_population`), batched or loop. The networks are dropped:
    :func:`train_models` keeps them.
    """
    return [t.result for t in train_models(genomes, net_config, data, cfg, progress, should_stop, mode, plan)]


def train_models(
    genomes: Sequence[Genome],
    net_config: NetworkConfig,
    data: DataSplits,
    cfg: TrainConfig | Sequence[TrainConfig],
    progress: PopulationProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    mode: str = "auto",
    plan: PopulationPlan | None = None,
) -> list[Trained]:
    """:func:`train_population`, and each trained network beside its result."""
    genomes = list(genomes)
    if not genomes:
        return []
    cfgs = _configs(cfg, len(genomes))
    check_shapes(net_config, data)
    if len({g.stages for g in genomes}) != 1:  # a mixed population: batch each stage layout apart
        results: list[Trained | None] = [None] * len(genomes)
        for stages in dict.fromkeys(g.stages for g in genomes):
            idx = [i for i, g in enumerate(genomes) if g.stages == stages]
            sub = _reindex(progress, idx)
            for i, r in zip(
                idx,
                train_models(
                    [genomes[i] for i in idx], net_config, data, [cfgs[i] for i in idx], sub, should_stop, mode, plan
                ),
            ):
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
            return [
                train_model(g, net_config, data, c, _reindex(progress, [i]), should_stop)
                for i, (g, c) in enumerate(zip(genomes, cfgs))
            ]
        out: list[Trained] = []
        for start in range(0, len(genomes), plan.group_size):
            idx = list(range(start, min(len(genomes), start + plan.group_size)))
            out += _train_split(
                [genomes[i] for i in idx],
                net_config,
                data,
                [cfgs[i] for i in idx],
                device,
                plan,
                _reindex(progress, idx),
                should_stop,
            )
        return out
    finally:
        torch.set_num_threads(threads)


def _reindex(progress: PopulationProgress | None, idx: Sequence[int]) -> Callable[..., None] | None:
    """``progress`` for a part of the population: index g of the part is ``idx[g]`` of the whole.

    For one individual the callback also takes a bare TrainProgress, as train_genome sends.
    """
    if progress is None:
        return None
    if len(idx) == 1:
        return lambda *a: progress(idx[0], a[-1])
    return lambda g, p: progress(idx[g], p)


def _train_split(
    genomes: list[Genome],
    net_config: NetworkConfig,
    data: DataSplits,
    cfgs: list[TrainConfig],
    device: torch.device,
    plan: PopulationPlan,
    progress: PopulationProgress | None,
    should_stop: Callable[[], bool] | None,
) -> list[Trained]:
    """One group; on an out-of-memory error, each half on its own."""
    if len(genomes) == 1:  # train_model reports its own out-of-memory as a failed run
        cfg = replace(cfgs[0], precision=plan.precision, channels_last="on" if plan.channels_last else "off")
        return [train_model(genomes[0], net_config, data, cfg, _reindex(progress, [0]), should_stop)]
    try:
        return train_group(
            genomes, net_config, data, cfgs, device, plan.precision, plan.channels_last, progress, should_stop
        )
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):  # CUDA's, or the CPU allocator's "can't allocate memory"
            raise
        release_memory(device)
        h = len(genomes) // 2
        left = _train_split(genomes[:h], net_config, data, cfgs[:h], device, plan, progress, should_stop)
        shift = None if progress is None else (lambda g, p: progress(g + h, p))
        return left + _train_split(genomes[h:], net_config, data, cfgs[h:], device, plan, shift, should_stop)


def train_group(
    genomes: Sequence[Genome],
    net_config: NetworkConfig,
    data: DataSplits,
    cfgs: Sequence[TrainConfig],
    device: torch.device,
    precision: str = "fp32",
    channels_last: bool = False,
    progress: PopulationProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Trained]:
    """Train ``genomes`` as one :class:`BatchedGeNet` (all in memory at once); each result beside
    its individual's network, exported from the group."""
    t_start = time.perf_counter()
    nets: list[GeNet] = []
    states: list[torch.Tensor] = []
    for genome, c in zip(genomes, cfgs):
        torch.manual_seed(c.seed)  # the weights train_genome would start from
        nets.append(build_network(genome, c.network(net_config)))
        # ... and the generator its dropout would then draw from
        states.append(rng_state(device))
    params = [count_parameters(n) for n in nets]
    model = BatchedGeNet.from_networks(nets).to(device)
    model.rng_streams = RngStreams(states, device)
    del nets
    results = [TrainResult.started(p, str(device), precision, channels_last) for p in params]
    run_loop(model, data, cfgs, device, precision == "bf16", channels_last, results, progress, should_stop)
    share = (time.perf_counter() - t_start) / len(genomes)
    for r in results:
        if r.failed:
            r.val_accuracy, r.test_accuracy = 0.0, None
        r.seconds = share
    return [Trained(r, model.export_individual(g)) for g, r in enumerate(results)]
