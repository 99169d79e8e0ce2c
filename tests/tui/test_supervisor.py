"""genet_lab.supervisor, the front ends' processes: a run created from a config and continued by
``evolve --resume``, and a training read event by event (with the toy fitness and a fake trainer)."""

from __future__ import annotations

import sys
import time

import pytest
from tui_helpers import FAKE_TRAINER

from genet_lab.encoding import genome as gn
from genet_lab.errors import UsageError
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.evolution.run import create_run
from genet_lab.evolution.store import RunStore
from genet_lab.evolution.strategies import KINDS
from genet_lab.supervisor import COMMANDS, RunControl, StrayLine, TrainSupervisor, command_of, resume_argv
from genet_lab.training.events import TrainingFinished, TrainingProgress, TrainingStarted


def _wait(control: RunControl, timeout: float = 60.0):
    start = time.monotonic()
    while control.running:
        assert time.monotonic() - start < timeout, control.process.tail() if control.process else ""
        time.sleep(0.1)
    return control.reap()


@pytest.mark.parametrize(
    "kind,command", [("ga", "evolve"), ("random", "random-search"), ("aging", "evolve"), ("local", "evolve")]
)
def test_create_stores_the_resolved_config_and_continues_it_with_resume(tmp_path, kind, command):
    config = SearchConfig(
        kind=kind, fitness="toy", population=4, generations=2, seed=5, init="random", aging_population=6, sample_size=2
    )
    control = RunControl.create(tmp_path / "run", config)
    try:
        assert control.process is not None
        assert control.process.argv == resume_argv(tmp_path / "run", command)  # no flags parsed back
        assert control.command == command
        ended = _wait(control)
        assert ended is not None and ended.returncode == 0, ended
    finally:
        control.close()
    with RunStore(tmp_path / "run", readonly=True) as store:
        assert SearchConfig.from_dict(store.config()) == config.resolve()  # typed values, resolved once
        assert store.status().state == "finished"
        stored = [gn.parse(i.genome) for i in store.individuals(0)]
    resolved = config.resolve()
    assert stored == initial_population(resolved, initial_rng(resolved))  # what a preview showed


def test_every_strategy_has_a_command_and_a_created_run_of_each_resumes(tmp_path):
    assert set(COMMANDS) == set(KINDS)  # a kind without a command would KeyError on resume
    assert command_of("random") == "random-search" and command_of(None) == "evolve"
    for kind in ("aging", "local"):
        config = SearchConfig(kind=kind, fitness="toy", population=3, generations=1, seed=1, sample_size=2)
        run_dir = create_run(tmp_path / kind, config)  # created, not started: what a resume continues
        control = RunControl(run_dir)
        status = control.resume()
        try:
            assert control.process is not None and control.process.argv == resume_argv(run_dir, "evolve")
            assert status.kind == kind and control.command == "evolve"
            ended = _wait(control)
            assert ended is not None and ended.returncode == 0, ended
        finally:
            control.close()
        with RunStore(run_dir, readonly=True) as store:
            assert store.status().state == "finished" and store.config()["kind"] == kind


def test_create_refuses_a_directory_that_holds_a_run_and_starts_nothing(tmp_path):
    config = SearchConfig(fitness="toy", population=2, generations=0)
    _wait(RunControl.create(tmp_path / "run", config))
    with pytest.raises(UsageError, match="run"):
        RunControl.create(tmp_path / "run", config)
    with pytest.raises(UsageError):
        RunControl.create(tmp_path / "bad", SearchConfig(population=1))
    assert not (tmp_path / "bad" / "run.sqlite").exists()


def _fake(tmp_path) -> list[str]:
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAINER)
    return [sys.executable, str(script)]


def test_a_training_is_read_event_by_event_and_a_stray_line_is_said(tmp_path):
    trainer = TrainSupervisor(command=_fake(tmp_path))
    argv = trainer.argv(gn.paper_best(), "digits", "paper-cifar10", 2, "", "fast")
    assert argv[: len(trainer.command)] == trainer.command and "--events" in argv
    assert trainer.take_warm() is None  # a fake trainer never gets a warm one
    proc = trainer.start(argv)
    items = list(proc.events())
    rc, tail = proc.finish()
    assert rc == 0 and tail == ""
    assert isinstance(items[0], TrainingStarted) and isinstance(items[-1], TrainingFinished)
    assert sum(isinstance(i, TrainingProgress) for i in items) == 4 and not trainer.running
    stray = tmp_path / "stray.py"
    stray.write_text("print('hello, not json')\n")
    proc = trainer.start([sys.executable, str(stray)])
    (item,) = list(proc.events())
    assert isinstance(item, StrayLine) and item.line == "hello, not json"
    assert proc.finish()[0] == 0


def test_a_failing_training_says_why_and_a_running_one_can_be_cancelled(tmp_path):
    trainer = TrainSupervisor(command=_fake(tmp_path))
    proc = trainer.start(trainer.argv(gn.chain(), "digits", "paper-cifar10", None, "--crash", "fast"))
    assert list(proc.events()) == []
    rc, tail = proc.finish()
    assert rc == 2 and "told to fail" in tail
    proc = trainer.start(trainer.argv(gn.chain(), "digits", "paper-cifar10", 1, "--slow", "fast"))
    first = next(proc.events())
    assert isinstance(first, TrainingStarted) and trainer.running
    assert trainer.cancel() and proc.killed
    rc, _ = proc.finish()
    assert rc != 0 and not trainer.running and not trainer.cancel()
    trainer.close()
