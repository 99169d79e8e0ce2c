"""Training one GeNet from scratch: the fitness evaluation of section 3.2.4.

:func:`train_genome` seeds, builds the network, settles the ``auto`` execution settings
with :mod:`genet_lab.training.autotune` (bf16 autocast, channels_last, CPU threads) and
runs the shared loop of :mod:`genet_lab.training.loop`. A run whose loss turns NaN or inf
stops early and returns ``failed=True`` with ``val_accuracy=0.0`` (the fitness of a
failed individual); so do a cancelled run and one that runs out of memory; it never
raises to the caller for those. :func:`train_model` is the same training that also hands
back the trained network, beside the result (:class:`~genet_lab.training.loop.Trained`).
The config and result types are re-exported here, so
``from genet_lab.training.trainer import default_train_config, train_genome`` is all a
caller needs. Knows nothing of populations, evolution or front ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.training.autotune import choose_execution, choose_threads
from genet_lab.training.config import (
    TrainConfig,
    TrainProgress,
    TrainResult,
    default_train_config,
)
from genet_lab.training.data import DataSplits
from genet_lab.training.data.stream import StreamSplits
from genet_lab.training.devices import release_memory, resolve_device
from genet_lab.training.loop import Trained, check_shapes, oom_message, out_of_memory, run_loop
from genet_lab.training.network import build_network, count_parameters

__all__ = [
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "Trained",
    "default_train_config",
    "train_genome",
    "train_model",
]


def train_genome(
    genome: Genome,
    net_config: NetworkConfig,
    data: DataSplits | StreamSplits,
    cfg: TrainConfig,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``genome`` from scratch on ``data.train_*`` and measure validation accuracy.

    Bad arguments raise :class:`~genet_lab.errors.UsageError`; a diverging run (NaN/inf
    loss), a cancelled run (``should_stop()`` returned True) and an out-of-memory run return
    ``failed=True`` with ``val_accuracy=0.0``. ``progress`` gets a :class:`TrainProgress`
    about ten times an epoch and once after each epoch's validation. The network is dropped:
    :func:`train_model` keeps it.
    """
    return train_model(genome, net_config, data, cfg, progress, should_stop).result


def train_model(
    genome: Genome,
    net_config: NetworkConfig,
    data: DataSplits | StreamSplits,
    cfg: TrainConfig,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Trained:
    """:func:`train_genome`, and the trained network beside its result: ``result, model =
    train_model(...)`` (the network as validation measured it; the one a checkpoint saves)."""
    if isinstance(data, StreamSplits):  # an image folder read batch by batch (section 4.3's ILSVRC2012)
        from genet_lab.training.streamed import train_streamed

        return train_streamed(genome, net_config, data, cfg, progress, should_stop)
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


def _train(
    genome: Genome,
    net_config: NetworkConfig,
    data: DataSplits,
    cfg: TrainConfig,
    device: torch.device,
    progress: Callable[[TrainProgress], None] | None,
    should_stop: Callable[[], bool] | None,
    t_start: float,
) -> Trained:
    torch.manual_seed(cfg.seed)
    model = build_network(genome, cfg.network(net_config)).to(device)
    params = count_parameters(model)
    prec, cl, _ = choose_execution(model, data.train_x[:1].float(), cfg, device, net_config)
    bf16 = prec == "bf16"
    result = TrainResult.started(params, str(device), prec, cl)
    try:
        _loop(model, data, cfg, device, bf16, cl, result, progress, should_stop)
    except (RuntimeError, MemoryError) as exc:  # CUDA or CPU out of memory; any other error is a bug
        if not out_of_memory(exc):
            raise
        result.failed, result.error = True, oom_message(exc)
        release_memory(device)
    if result.failed:
        result.val_accuracy, result.test_accuracy = 0.0, None
    result.seconds = time.perf_counter() - t_start
    return Trained(result, model)


def _loop(
    model: torch.nn.Module,
    data: DataSplits,
    cfg: TrainConfig,
    device: torch.device,
    bf16: bool,
    cl: bool,
    result: TrainResult,
    progress: Callable[[TrainProgress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    """:func:`~genet_lab.training.loop.run_loop` for one network (a seam the fault tests replace)."""
    report = None if progress is None else (lambda _g, p: progress(p))
    run_loop(model, data, [cfg], device, bf16, cl, [result], report, should_stop)
