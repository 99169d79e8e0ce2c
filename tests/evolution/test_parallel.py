"""Parallel executors deliver every evaluation exactly once, as a serial run would."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import snapshot

from genet_lab.encoding.genome import Genome
from genet_lab.errors import ConfigError, UsageError
from genet_lab.evolution import Engine, RunStore, SearchConfig, resume_run, start_run
from genet_lab.evolution import events as ev
from genet_lab.evolution.executors import (
    BatchedExecutor,
    Job,
    LostWorkers,
    ProcessExecutor,
    SerialExecutor,
    fitness_from_search,
    parse_devices,
)

TOY = {"fitness": "toy", "stages": [3, 4, 5]}


def _jobs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Job((0, i), Genome((3, 4, 5), tuple(int(b) for b in rng.integers(0, 2, 19))), 1000 + i) for i in range(n)]


class _Dying:
    """Kills its worker process the first time it meets ``seed`` (a marker file remembers)."""

    def __init__(self, marker, seed, always=False):
        self.inner = fitness_from_search(TOY)
        self.marker, self.seed, self.always = Path(marker), seed, always

    def evaluate(self, genome, seed, progress=None, should_stop=None):
        if seed == self.seed and (self.always or not self.marker.exists()):
            self.marker.write_text("died once")
            os._exit(1)
        return self.inner.evaluate(genome, seed)


def dying_fitness(marker, seed, always=False):
    return _Dying(marker, seed, always)


def _collect(executor, jobs):
    got = []
    executor.map(jobs, lambda key, ev: got.append((key, ev.accuracy)))
    return got


def test_processes_give_what_a_serial_run_gives():
    jobs = _jobs(6)
    serial = dict(_collect(SerialExecutor(fitness_from_search(TOY)), jobs))
    got = _collect(ProcessExecutor(fitness_from_search, (TOY,), workers=2), jobs)
    assert len(got) == len(jobs) and dict(got) == serial


def test_a_lost_worker_is_retried_and_nothing_is_counted_twice(tmp_path):
    jobs = _jobs(5)
    ex = ProcessExecutor(dying_fitness, (str(tmp_path / "m"), 1002), workers=2)
    got = _collect(ex, jobs)
    keys = [k for k, _ in got]
    assert sorted(keys) == sorted(j.key for j in jobs) and len(keys) == len(set(keys))
    assert ex.restarts >= 1 and (tmp_path / "m").exists()
    serial = dict(_collect(SerialExecutor(fitness_from_search(TOY)), jobs))
    assert dict(got) == serial


def test_a_job_that_always_kills_its_worker_is_reported_not_lost(tmp_path):
    ex = ProcessExecutor(dying_fitness, (str(tmp_path / "m"), 1001, True), workers=1, retries=1)
    got = []
    with pytest.raises(LostWorkers, match=r"\(0, 1\)"):
        ex.map(_jobs(3), lambda key, ev: got.append(key))
    assert (0, 1) not in got and len(got) == len(set(got))


def test_one_worker_per_device_and_bad_device_lists():
    assert parse_devices("cpu, cpu") == ["cpu", "cpu"]
    got = _collect(ProcessExecutor(fitness_from_search, (TOY,), devices=["cpu", "cpu"]), _jobs(3))
    assert len(got) == 3
    with pytest.raises(UsageError):
        parse_devices("gpu0")
    with pytest.raises(ConfigError) as err:
        parse_devices(" , ")
    assert err.value.option == "devices" and "--" not in str(err.value)
    with pytest.raises(ConfigError, match="train fitness") as err:
        BatchedExecutor(fitness_from_search(TOY))
    assert err.value.option == "batched" and "--" not in str(err.value)


def test_batched_executor_matches_serial_train_fitness(monkeypatch, tmp_path):
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path))
    spec = {
        "fitness": "train",
        "stages": [3, 4, 5],
        "train_size": 200,
        "val_size": 100,
        "train": {"device": "cpu", "precision": "fp32", "channels_last": "off", "batch_size": 50, "threads": 1},
    }  # 2 threads on 2 busy shared cores: 10x slower steps
    fitness = fitness_from_search(spec)
    jobs = _jobs(3)
    batched = dict(_collect(BatchedExecutor(fitness, mode="batched"), jobs))
    serial = dict(_collect(SerialExecutor(fitness), jobs))
    assert batched.keys() == serial.keys()
    for k in serial:  # float32 rounding may move a validation image or two
        assert abs(batched[k] - serial[k]) <= 2.0, (k, batched[k], serial[k])


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    # Workers import this module by name to unpickle dying_fitness (and it imports tests/helpers.py).
    here = Path(__file__).resolve().parent
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(here), str(here.parent)])}},
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_tasks_give_what_a_serial_run_gives_and_survive_a_lost_worker(local_ray, tmp_path):
    from genet_lab.evolution.executors import RayExecutor

    jobs = _jobs(5)
    serial = dict(_collect(SerialExecutor(fitness_from_search(TOY)), jobs))
    assert dict(_collect(RayExecutor(fitness_from_search, (TOY,), address="local"), jobs)) == serial
    marker = tmp_path / "m"
    got = _collect(RayExecutor(dying_fitness, (str(marker), 1003), address="local"), jobs)
    keys = [k for k, _ in got]
    assert marker.exists()  # a worker did die, and its task was run again
    assert len(keys) == len(set(keys)) == len(jobs) and dict(got) == serial


def test_unreachable_ray_cluster_is_one_line_and_leaves_no_run_dir(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    from genet_lab.cli.main import main

    ray.shutdown()  # an instance left by an earlier test would be reused
    run = tmp_path / "r"
    assert (
        main(["evolve", "--fitness", "toy", "-N", "2", "-T", "0", "--ray", "127.0.0.1:1", "--run-dir", str(run)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach a Ray cluster at 127.0.0.1:1" in err[0]
    assert not run.exists()
    assert main(["evolve", "--fitness", "toy", "--ray", "nonsense", "--run-dir", str(run)]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


# -- the engine's one evaluation path: every executor behind Executor.map ----------------------------


class _Recording:
    """An executor that hands the jobs, in reverse order, to ``inner`` and records each map call."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def map(self, jobs, on_done, should_stop=None, on_start=None, on_progress=None):
        self.calls.append([j.key for j in jobs])
        self.inner.map(list(reversed(jobs)), on_done, should_stop, on_start=on_start, on_progress=on_progress)


class _Reporting:
    """The toy fitness, reporting two progress steps per evaluation as the trainer does."""

    def __init__(self):
        self.inner = fitness_from_search(TOY)
        self.name, self.unit, self.net_config = self.inner.name, self.inner.unit, self.inner.net_config

    def evaluate(self, genome, seed, progress=None, should_stop=None):
        for step in (1, 2):
            if progress is not None:
                progress(SimpleNamespace(epoch=1, epochs=1, step=step, steps=2, loss=0.5))
        return self.inner.evaluate(genome, seed)


def _toy_config(**kw):
    return SearchConfig(**{"fitness": "toy", "population": 8, "generations": 3, "seed": 4, **kw}).resolve()


@pytest.mark.parametrize("reuse", [False, True])
def test_the_engine_maps_each_generation_once_whatever_the_order_of_results(tmp_path, reuse):
    config = _toy_config(reuse_structures=reuse, pm=0.3)
    start_run(tmp_path / "serial", config)
    fitness = fitness_from_search(config.to_dict())
    executor = _Recording(SerialExecutor(fitness))
    with RunStore.create(tmp_path / "mapped", config.kind, config.seed, config.to_dict()) as store:
        Engine(store, config, fitness, executor=executor).run()
    assert snapshot(tmp_path / "mapped")[:2] == snapshot(tmp_path / "serial")[:2]
    inds = snapshot(tmp_path / "mapped")[1]
    assert len(executor.calls) == config.generations + 1  # one map per generation
    for gen, keys in enumerate(executor.calls):
        trained = [i.index for i in inds if i.gen == gen and not i.reused]
        assert keys == trained  # exactly the individuals trained, in index order, once each
    assert any(i.reused for i in inds) == reuse


def test_processes_and_devices_store_the_serial_run(tmp_path):
    config = _toy_config(reuse_structures=True, pm=0.3, generations=2)
    start_run(tmp_path / "serial", config)
    start_run(tmp_path / "devices", config, execution={"devices": "cpu,cpu"})
    assert snapshot(tmp_path / "devices")[:2] == snapshot(tmp_path / "serial")[:2]


def test_serial_evaluations_report_progress_and_run_one_at_a_time(tmp_path):
    seen = []
    running = []

    def listen(event):
        seen.append(event)
        if isinstance(event, ev.EvaluationProgress):
            with RunStore(tmp_path / "r", readonly=True) as st:
                running.append([(i.gen, i.index) for i in st.individuals() if i.state == "running"])

    start_run(tmp_path / "r", _toy_config(generations=1), listeners=[listen], fitness=_Reporting())
    progress = [e for e in seen if isinstance(e, ev.EvaluationProgress)]
    assert len(progress) == 2 * 16 and {(e.gen, e.index) for e in progress} == {
        (g, i) for g in (0, 1) for i in range(8)
    }
    assert all(r == [(e.gen, e.index)] for r, e in zip(running, progress))  # only the evaluation in hand


def test_an_executor_that_stops_early_leaves_a_resumable_run(tmp_path):
    config = _toy_config()
    start_run(tmp_path / "full", config)
    asked = []

    def stop():
        return len(asked) >= 3

    fitness = fitness_from_search(config.to_dict())
    with RunStore.create(tmp_path / "cut", config.kind, config.seed, config.to_dict()) as store:
        status = Engine(
            store,
            config,
            fitness,
            listeners=[lambda e: asked.append(e) if isinstance(e, ev.IndividualEvaluated) else 0],
            should_stop=stop,
        ).run()
    assert status.state != "finished" and status.evaluations_done == 3
    resume_run(tmp_path / "cut", execution={"workers": 2})
    assert snapshot(tmp_path / "cut")[:2] == snapshot(tmp_path / "full")[:2]
