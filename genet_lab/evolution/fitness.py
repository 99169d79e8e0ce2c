"""Fitness functions: what "evaluating an individual" means (section 3.2.4).

Three kinds, chosen by name with :func:`make_fitness`:

* ``train`` (default): train the network from scratch with
  :func:`genet_lab.training.trainer.train_genome` and return its validation accuracy in
  percent, the paper's fitness.
* ``proxy:NAME`` (``proxy`` alone: ``proxy:naswot``): a zero-cost proxy of
  :mod:`genet_lab.training.proxies` (synflow, snip, grad_norm, jacob_cov, naswot) of the
  network at initialisation on one minibatch, e.g. the training-free NASWOT score of Mellor,
  Turner, Storkey and Crowley, ICML 2021 (the log-determinant of the kernel of the binary ReLU
  activation codes). Milliseconds instead of minutes, deterministic for a seed; it is not an
  accuracy and is labelled so wherever it is shown.
* ``table:NAME``: a recorded training from a benchmark table (:mod:`genet_lab.bench.table`): one
  of the seeds recorded for the genome's structure, drawn with the evaluation's seed, so the noise
  is the real seed-to-seed noise; microseconds, no torch.
* ``toy``: a pure-Python function of the bits (a test aid, never a result):
  closeness to a fixed target genome plus a small seeded wobble.

Each evaluation gets its own seed from the engine, so a re-evaluated
individual gets a fresh training run (the paper's rule) yet a run can be
replayed exactly. torch is imported only inside ``train`` and ``proxy``.

What the engine and the executors rely on is the :class:`Fitness` protocol: ``evaluate`` one
genome with its seed. :class:`TrainFitness` can also train a list of :class:`Job` as one
population (``evaluate_population``), which the batched executor uses. How many evaluations
run at once, and where, is an executor's business (:mod:`genet_lab.evolution.executors`);
this module knows neither the engine nor the executors.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from genet_lab.encoding.genome import Genome, chain, paper_best
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.errors import ConfigError, UsageError
from genet_lab.evolution.config import FITNESS_ACCEPTED, FITNESS_KINDS, UNITS, SearchConfig, table_ref
from genet_lab.training import proxies
from genet_lab.training.catalog import DEFAULT_PRESET

if TYPE_CHECKING:
    from genet_lab.training.config import TrainProgress, TrainResult

__all__ = [
    "FITNESS_KINDS",
    "UNITS",
    "Evaluation",
    "Job",
    "OnDone",
    "Fitness",
    "ToyFitness",
    "ProxyFitness",
    "TrainFitness",
    "TableFitness",
    "make_fitness",
    "naswot_score",
]


@dataclass
class Evaluation:
    """One evaluation of one individual."""

    accuracy: float
    """The fitness value of this occurrence (0 for a failed training)."""
    loss: float | None
    seconds: float
    device: str
    failed: bool = False
    error: str | None = None
    test_accuracy: float | None = None
    """Test accuracy in percent when the search asked for it (``eval_test``); never a fitness."""

    @classmethod
    def from_train_result(cls, res: TrainResult) -> Evaluation:
        """Validation accuracy in percent (0 for a failed training); a NaN loss becomes None;
        test accuracy in percent when it was measured (None for a failed training)."""
        acc = 0.0 if res.failed else 100.0 * float(res.val_accuracy)
        loss = res.final_loss if res.final_loss == res.final_loss else None
        test = None if res.failed or res.test_accuracy is None else 100.0 * float(res.test_accuracy)
        return cls(acc, loss, res.seconds, res.device, res.failed, res.error, test)


@dataclass(frozen=True)
class Job:
    """One evaluation to run: what an executor maps (and :meth:`TrainFitness.evaluate_population` trains)."""

    key: Hashable
    """Whatever identifies the evaluation to the caller, e.g. (generation, index)."""
    genome: Genome
    seed: int


OnDone = Callable[[Any, Evaluation], None]
"""Called with (job key, its evaluation) as each result arrives."""
Progress = Callable[["TrainProgress"], None]
StopCheck = Callable[[], bool]


@runtime_checkable
class Fitness(Protocol):
    """Evaluates one individual: ``evaluate(genome, seed)`` is deterministic in its arguments."""

    @property
    def name(self) -> str:
        """train, proxy or toy."""

    @property
    def unit(self) -> str:
        """What the value means, for labels."""

    @property
    def net_config(self) -> NetworkConfig:
        """The network every genome is built into (parameters and multiply-adds are counted on it)."""

    def evaluate(
        self, genome: Genome, seed: int, progress: Progress | None = None, should_stop: StopCheck | None = None
    ) -> Evaluation: ...


TOY_DELAY_MAX = 3600.0
"""The longest ``GENET_LAB_TOY_DELAY`` (seconds per toy evaluation) that is obeyed."""


def _toy_delay() -> float:
    """``GENET_LAB_TOY_DELAY`` in seconds (a test aid that slows the toy fitness down), or a
    one-line error naming the variable and what it accepts (``1e400``, ``inf`` or text crashed
    ``time.sleep``)."""
    raw = os.environ.get("GENET_LAB_TOY_DELAY", "") or "0"
    try:
        delay = float(raw)
    except ValueError:
        delay = math.nan
    if not (0 <= delay <= TOY_DELAY_MAX):
        raise UsageError(f"GENET_LAB_TOY_DELAY={raw!r} is not a delay: use seconds from 0 to {TOY_DELAY_MAX:g}")
    return delay


class ToyFitness:
    """Test aid: 50 + 40 x (fraction of bits equal to a target) + a wobble in [-0.5, 0.5).

    The target is the paper's best genome for stages (3,4,5), the chain
    otherwise. Deterministic in (genome, seed); no torch, microseconds.
    """

    name, unit = "toy", UNITS["toy"]

    def __init__(self, stages: Sequence[int], preset: str = DEFAULT_PRESET, eval_test: bool = False):
        stages = tuple(stages)
        self.target = paper_best() if stages == (3, 4, 5) else chain(stages)
        self.net_config: NetworkConfig = get_preset(preset)
        self.eval_test = eval_test

    def evaluate(
        self, genome: Genome, seed: int, progress: Progress | None = None, should_stop: StopCheck | None = None
    ) -> Evaluation:
        # Tests that kill a run mid-way slow it down through this variable (seconds per evaluation).
        delay = _toy_delay()
        if delay > 0:
            time.sleep(delay)
        same = sum(a == b for a, b in zip(genome.bits, self.target.bits))
        wobble = ((int(seed) * 2654435761) % 1000) / 1000.0 - 0.5
        score = 50.0 + 40.0 * same / genome.length
        # a "test" score with its own wobble, so tests can tell it from the fitness
        test = score - 1.0 + ((int(seed) * 40503) % 1000) / 1000.0 if self.eval_test else None
        return Evaluation(score + wobble, None, 0.0, "cpu", test_accuracy=test)


naswot_score = proxies.naswot
"""NASWOT (Mellor et al., ICML 2021): log|K_H| over the ReLU codes of a batch (kept under its old name)."""


class ProxyFitness:
    """A zero-cost proxy (:mod:`genet_lab.training.proxies`) of the freshly initialised network,
    initialised and fed a minibatch with the evaluation's seed; NASWOT unless ``proxy`` names
    another. A non-finite score (a singular kernel, an undefined correlation) fails the individual."""

    name = "proxy"

    def __init__(
        self,
        dataset: str = "digits",
        data_dir: str | None = None,
        preset: str = DEFAULT_PRESET,
        batch: int = 64,
        data_seed: int = 0,
        proxy: str = "naswot",
    ):
        from genet_lab.training.data import load_dataset

        if proxy not in proxies.PROXIES:
            raise ConfigError("fitness", proxies.FITNESS_PREFIX + proxy, accepted=proxies.FITNESSES, what="fitness")
        self.proxy = proxy
        self.unit = UNITS["proxy" if proxy == "naswot" else proxies.FITNESS_PREFIX + proxy]
        self.data = load_dataset(dataset, data_dir, seed=data_seed, with_test=False)
        self.batch = min(int(batch), len(self.data.train_x))
        self.net_config = get_preset(preset).with_input(
            self.data.in_channels, self.data.image_size, self.data.num_classes
        )

    def evaluate(
        self, genome: Genome, seed: int, progress: Progress | None = None, should_stop: StopCheck | None = None
    ) -> Evaluation:
        import math

        start = time.perf_counter()
        try:
            x, y = proxies.minibatch(self.data, self.batch, seed)
            score = proxies.score(self.proxy, genome, self.net_config, x, y, seed)
        except (RuntimeError, MemoryError) as exc:
            return _out_of_memory(exc, start, "cpu")
        failed = not math.isfinite(score)
        error = f"{self.proxy} score is {score} (a singular kernel or an undefined correlation)" if failed else None
        return Evaluation(0.0 if failed else score, None, time.perf_counter() - start, "cpu", failed, error)


def _out_of_memory(exc: BaseException, start: float, device: str) -> Evaluation:
    """A failed evaluation for an individual that ran out of memory (CUDA or CPU), as the
    trainer records one; any other error is re-raised (a bug, not capacity)."""
    from genet_lab.training.loop import oom_message, out_of_memory

    if not out_of_memory(exc):
        raise exc
    return Evaluation(0.0, None, time.perf_counter() - start, device, True, oom_message(exc))


class TrainFitness:
    """Validation accuracy (%) after training from scratch (the paper's fitness)."""

    name, unit = "train", UNITS["train"]

    def __init__(
        self,
        dataset: str = "digits",
        data_dir: str | None = None,
        preset: str = DEFAULT_PRESET,
        train_size: int | None = None,
        val_size: int | None = None,
        data_seed: int = 0,
        train_overrides: dict[str, Any] | None = None,
        eval_test: bool = False,
    ):
        from genet_lab.training.config import default_train_config
        from genet_lab.training.data import load_dataset
        from genet_lab.training.devices import resolve_device

        self.dataset = dataset
        # The test split is loaded only when asked for: a search never needs it otherwise.
        self.data = load_dataset(
            dataset, data_dir, seed=data_seed, train_size=train_size, val_size=val_size, with_test=eval_test
        )
        self.net_config = get_preset(preset).with_input(
            self.data.in_channels, self.data.image_size, self.data.num_classes
        )
        # The trainer's "auto" precision and layout are picked by a timed probe, so under a
        # varying machine load the same (genome, seed) could train in bf16 once and fp32 the
        # next time: fitness would stop being reproducible and resume inexact. Pin them
        # unless the search config asks otherwise.
        self.train_overrides = {"precision": "fp32", "channels_last": "off", **dict(train_overrides or {})}
        self.base_config = default_train_config(self.data.name, **self.train_overrides, eval_test=eval_test)
        resolve_device(self.base_config.device)  # an unavailable device fails before the run directory exists

    def evaluate(
        self, genome: Genome, seed: int, progress: Progress | None = None, should_stop: StopCheck | None = None
    ) -> Evaluation:
        from genet_lab.training.trainer import train_genome

        cfg = replace(self.base_config, seed=int(seed))
        start = time.perf_counter()
        try:
            res = train_genome(genome, self.net_config, self.data, cfg, progress=progress, should_stop=should_stop)
        except (RuntimeError, MemoryError) as exc:  # memory ran out outside the loop (building, probing)
            return _out_of_memory(exc, start, self.base_config.device)
        return Evaluation.from_train_result(res)

    def evaluate_population(
        self, jobs: Sequence[Job], should_stop: StopCheck | None = None, mode: str = "auto"
    ) -> list[Evaluation]:
        """Every job through :func:`~genet_lab.training.population.train_population` (batched
        groups or a loop, ``mode`` auto, batched or loop), each with its own seed."""
        from genet_lab.training.population import train_population

        if not jobs:
            return []
        cfgs = [replace(self.base_config, seed=int(j.seed)) for j in jobs]
        results = train_population(
            [j.genome for j in jobs], self.net_config, self.data, cfgs, should_stop=should_stop, mode=mode
        )
        return [Evaluation.from_train_result(r) for r in results]


class TableFitness:
    """The recorded final validation accuracy (%) of one seed of the genome's structure in a table.

    ``evaluate(genome, seed)`` draws one of the structure's recorded trainings with ``seed`` (the
    evaluation's own), so a re-evaluated individual gets another recorded seed and a run replays
    exactly. The network is the one the table was built with, so parameters and multiply-adds are
    the table's. A structure a partial table lacks is a failed evaluation saying so."""

    name = "table"

    def __init__(self, ref: str, eval_test: bool = False):
        from genet_lab.bench.table import load_table

        self.table = load_table(ref)
        self.unit = UNITS[f"table:{self.table.name}"]
        self.eval_test = eval_test
        self.net_config: NetworkConfig = _table_network(self.table)

    def evaluate(
        self, genome: Genome, seed: int, progress: Progress | None = None, should_stop: StopCheck | None = None
    ) -> Evaluation:
        import random

        from genet_lab.errors import UsageError

        start = time.perf_counter()
        try:
            entry = self.table.entry(genome)
        except UsageError as exc:
            return Evaluation(0.0, None, time.perf_counter() - start, "table", True, str(exc))
        run = entry.runs[random.Random(int(seed)).randrange(len(entry.runs))]
        loss = run.loss_curve[-1] if run.loss_curve else None
        test = run.test if self.eval_test and not run.failed else None
        error = f"recorded training (seed {run.seed}) failed" if run.failed else None
        acc = 0.0 if run.failed else run.val
        return Evaluation(acc, loss, time.perf_counter() - start, "table", run.failed, error, test)


_SIZES = (8, 16, 28, 32, 64, 96, 128, 224)


def _table_network(table: Any) -> NetworkConfig:
    """The network a table's structures were built into: its preset with the input (channels, image
    size, classes) that reproduces the recorded parameters and multiply-adds of its entries."""
    from genet_lab.encoding.complexity import complexity
    from genet_lab.errors import UsageError

    base = get_preset(table.settings.preset)
    probe = table.entries[:3]
    sizes = [s for s in (table.settings.image_size, *_SIZES) if s]
    for channels in (1, 3):
        for size in sizes:
            one, two = (complexity(probe[0].genome, base.with_input(channels, size, k)).params for k in (1, 2))
            extra, per_class = probe[0].params - one, two - one
            if per_class <= 0 or extra < 0 or extra % per_class:
                continue
            cfg = base.with_input(channels, size, 1 + extra // per_class)
            if all((c := complexity(e.genome, cfg)).params == e.params and c.macs == e.macs for e in probe):
                return cfg
    raise UsageError(f"table {table.name}: no input shape of preset {table.settings.preset} gives its recorded sizes")


def make_fitness(config: SearchConfig) -> ToyFitness | ProxyFitness | TrainFitness | TableFitness:
    """The fitness named by ``config.fitness``."""
    ref = table_ref(config.fitness)
    if ref:
        return TableFitness(ref, eval_test=config.eval_test)
    if config.fitness == "toy":
        return ToyFitness(config.stages, config.preset, eval_test=config.eval_test)
    proxy = proxies.fitness_proxy(config.fitness)
    if proxy:
        return ProxyFitness(config.dataset, config.data_dir, config.preset, data_seed=config.seed, proxy=proxy)
    if config.fitness == "train":
        overrides = {"epochs": config.epochs, **config.train.to_dict()}
        return TrainFitness(
            config.dataset,
            config.data_dir,
            config.preset,
            config.train_size,
            config.val_size,
            data_seed=config.seed,
            train_overrides=overrides,
            eval_test=config.eval_test,
        )
    raise ConfigError("fitness", config.fitness, accepted=FITNESS_ACCEPTED, what="fitness")
