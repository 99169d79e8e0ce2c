"""Training a build's jobs, in this process or in worker processes.

A :class:`Trainer` loads the data once (split by the table seed) and trains jobs ``(structure,
seed, bits)`` as :class:`genet_lab.evolution.fitness.TrainFitness` trains an evaluation: the same
``load_dataset`` call, network config and training config (:meth:`BenchSettings.train_config`),
:func:`~genet_lab.training.trainer.train_genome` for one network at a time (``loop``) or
:func:`~genet_lab.training.population.train_population` for a group (``batched``).
:class:`WorkerPool` runs trainers in spawned processes, each built once. torch is imported when a
trainer is built, never at import. Knows nothing of the store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from genet_lab.bench.settings import MODES, BenchSettings
from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import get_preset

__all__ = ["MODES", "Job", "Trainer", "WorkerPool", "record_of"]

Job = tuple[int, int, str]
"""(structure id, training seed, canonical bit string)."""


def record_of(res: Any, macs: int) -> dict[str, Any]:
    """A store record of a :class:`~genet_lab.training.config.TrainResult` (accuracies in percent)."""
    loss = res.final_loss if res.final_loss is not None and math.isfinite(res.final_loss) else None
    curve = [
        {
            "epoch": int(p["epoch"]),
            "val_accuracy": 100.0 * float(p.get("val_accuracy") or 0.0),
            "loss": p["loss"] if p.get("loss") is not None and math.isfinite(p["loss"]) else None,
        }
        for p in res.curve
    ]
    failed = bool(res.failed)
    return {
        "val_accuracy": 0.0 if failed else 100.0 * float(res.val_accuracy),
        "test_accuracy": None if failed or res.test_accuracy is None else 100.0 * float(res.test_accuracy),
        "final_loss": loss,
        "seconds": float(res.seconds),
        "device": str(res.device),
        "failed": failed,
        "error": res.error,
        "params": int(res.params),
        "macs": int(macs),
        "curve": curve,
    }


class Trainer:
    """The data of a build, loaded once, and the trainings of its jobs."""

    def __init__(self, settings: BenchSettings, device: str = "auto"):
        from genet_lab.training.data import load_dataset

        s = self.settings = settings
        self.device = device
        self.data = load_dataset(
            s.dataset, s.data_dir, seed=s.table_seed, train_size=s.train_size, val_size=s.val_size,
            with_test=True, image_size=s.image_size,
        )  # fmt: skip
        self.net_config = get_preset(s.preset).with_input(
            self.data.in_channels, self.data.image_size, self.data.num_classes
        )

    def genome(self, bits: str) -> Genome:
        return Genome.from_bits(bits, self.settings.stages)

    def train(self, jobs: Sequence[Job], mode: str | None = None) -> list[tuple[int, int, dict[str, Any]]]:
        """(structure, seed, record) of every job, in order; ``mode`` loop or batched (default: the
        settings')."""
        from genet_lab.training.population import train_population
        from genet_lab.training.trainer import train_genome

        genomes = [self.genome(bits) for _, _, bits in jobs]
        cfgs = [self.settings.train_config(seed, self.device) for _, seed, _ in jobs]
        if (mode or self.settings.mode) == "batched" and len(jobs) > 1:
            results = train_population(genomes, self.net_config, self.data, cfgs, mode="batched")
        else:
            results = [train_genome(g, self.net_config, self.data, c) for g, c in zip(genomes, cfgs)]
        return [
            (sid, seed, record_of(res, complexity(g, self.net_config).macs))
            for (sid, seed, _), g, res in zip(jobs, genomes, results)
        ]


_WORKER: dict[str, Trainer] = {}


def _init_worker(settings: dict[str, Any], device: str, parent: int) -> None:
    from genet_lab.processes import exit_with_parent

    exit_with_parent(parent)
    _WORKER["trainer"] = Trainer(BenchSettings.from_dict(settings), device)


def _train_in_worker(jobs: Sequence[Job], mode: str | None) -> list[tuple[int, int, dict[str, Any]]]:
    return _WORKER["trainer"].train(jobs, mode)


class WorkerPool:
    """``workers`` spawned processes, each with its own :class:`Trainer`."""

    def __init__(self, settings: BenchSettings, workers: int, device: str = "auto"):
        import multiprocessing as mp
        import os

        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(settings.to_dict(), device, os.getpid()),
        )

    def submit(self, jobs: Sequence[Job], mode: str | None = None) -> Future:
        return self.pool.submit(_train_in_worker, list(jobs), mode)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
