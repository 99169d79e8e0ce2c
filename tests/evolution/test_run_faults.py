"""Hardening: faults during a run (NaN, out of memory, full disk, vanished data, kill -9).

Each fault either fails one individual cleanly (recorded in its evaluation, the run
carries on) or stops the run with a one-line message, and the store stays readable,
intact and resumable to the same end as an uninterrupted run.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import assert_rejected, benchmark_script, snapshot, sqlite_error

from genet_lab.errors import UsageError
from genet_lab.evolution import RunStore, SearchConfig, resume_run, start_run
from genet_lab.evolution import events as ev
from genet_lab.evolution import store as store_mod


def tiny_train(**kw) -> SearchConfig:
    base = dict(
        fitness="train",
        population=3,
        generations=1,
        seed=2,
        epochs=1,
        train_size=60,
        train={"batch_size": 30, "threads": 1},
    )
    return SearchConfig(**{**base, **kw})


# -- NaN and out of memory: one individual fails, the run carries on ----------------------------


def test_a_diverging_individual_fails_and_the_run_carries_on(tmp_path, monkeypatch):
    import genet_lab.training.trainer as train_mod

    real, calls = train_mod.train_genome, []

    def one_diverges(genome, net, data, cfg, **kw):
        calls.append(genome)
        if len(calls) == 2:  # one NaN pixel: this individual's loss really becomes NaN
            from dataclasses import replace

            x = data.train_x.float().clone()
            x[0, 0, 0, 0] = float("nan")
            data = replace(data, train_x=x)
        return real(genome, net, data, cfg, **kw)

    monkeypatch.setattr(train_mod, "train_genome", one_diverges)
    status = start_run(tmp_path / "r", tiny_train())
    assert status.state == "finished" and status.evaluations_done == 6
    inds = snapshot(tmp_path / "r")[1]
    failed = [i for i in inds if i.state == "failed"]
    assert len(failed) == 1 and failed[0].gen == 0 and failed[0].index == 1
    assert failed[0].accuracy == 0.0 and "diverged" in failed[0].error
    assert all(i.state == "done" and i.accuracy > 0 for i in inds if i is not failed[0])


def test_every_individual_diverging_still_finishes(tmp_path, monkeypatch):
    # All fitness 0: roulette selection must not divide by zero.
    import genet_lab.training.trainer as train_mod

    real = train_mod.train_genome

    def all_nan(genome, net, data, cfg, **kw):
        x = data.train_x.float().clone()
        x[:, 0, 0, 0] = float("nan")
        return real(genome, net, replace(data, train_x=x), cfg, **kw)

    monkeypatch.setattr(train_mod, "train_genome", all_nan)
    status = start_run(tmp_path / "r", tiny_train())
    assert status.state == "finished"
    gens, inds, _ = snapshot(tmp_path / "r")
    assert all(i.state == "failed" and "diverged" in i.error for i in inds)
    assert [g.max for g in gens] == [0.0, 0.0]


@pytest.mark.parametrize("error", ["torch", "runtime"])
def test_out_of_memory_fails_the_individual_cleanly(tmp_path, monkeypatch, error):
    import torch

    import genet_lab.training.trainer as train_mod

    real, calls = train_mod._loop, []

    def oom_once(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            if error == "torch":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")
        return real(*args, **kw)

    monkeypatch.setattr(train_mod, "_loop", oom_once)
    status = start_run(tmp_path / "r", tiny_train())
    assert status.state == "finished" and status.evaluations_done == 6
    inds = snapshot(tmp_path / "r")[1]
    failed = [i for i in inds if i.state == "failed"]
    assert [(i.gen, i.index) for i in failed] == [(0, 2)]
    assert failed[0].error.startswith("out of memory") and failed[0].accuracy == 0.0


def test_other_runtime_errors_are_not_mistaken_for_out_of_memory(monkeypatch):
    import genet_lab.training.trainer as train_mod
    from genet_lab.encoding.genome import chain
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training.data import load_dataset

    def broken(*args, **kw):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(train_mod, "_loop", broken)
    data = load_dataset("digits", train_size=40, with_test=False)
    net = get_preset("paper-cifar10").with_input(data.in_channels, data.image_size, data.num_classes)
    with pytest.raises(RuntimeError, match="shapes"):
        train_mod.train_genome(chain(), net, data, train_mod.default_train_config("digits", epochs=1, threads=1))


# -- a full disk: a clear stop, the store intact and resumable ----------------------------------


class _FullDisk:
    """A sqlite3 connection whose n-th COMMIT fails as SQLite does when the disk is full."""

    def __init__(self, conn, fail_at: int):
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_left", fail_at)

    def execute(self, sql, *args):
        if sql == "COMMIT":
            object.__setattr__(self, "_left", self._left - 1)
            if self._left == 0:
                raise sqlite_error("database or disk is full", sqlite3.SQLITE_FULL)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __setattr__(self, name, value):
        setattr(self._conn, name, value)


def _fill_disk_at(monkeypatch, fail_at: int) -> None:
    real = sqlite3.connect

    def connect(target, *args, **kw):
        conn = real(target, *args, **kw)
        return conn if "mode=ro" in str(target) else _FullDisk(conn, fail_at)

    monkeypatch.setattr(store_mod.sqlite3, "connect", connect)


@pytest.mark.parametrize("fail_at", [3, 20, 57])
def test_full_disk_stops_the_run_with_a_clear_message_and_it_resumes(tmp_path, monkeypatch, fail_at):
    cfg = SearchConfig(fitness="toy", population=6, generations=4, seed=7)
    start_run(tmp_path / "clean", cfg)
    with monkeypatch.context() as m:
        _fill_disk_at(m, fail_at)
        with pytest.raises(UsageError, match="disk is full.*resume") as err:
            start_run(tmp_path / "full", cfg)
        assert "--" not in str(err.value)  # the core names no flag; the CLI says --resume (below)
    before = snapshot(tmp_path / "full")
    assert before[2].state == "stopped" and before[2].evaluations_done < 30
    resume_run(tmp_path / "full")
    assert snapshot(tmp_path / "full")[:2] == snapshot(tmp_path / "clean")[:2]


def test_full_disk_on_the_cli_is_one_line(tmp_path, monkeypatch):
    _fill_disk_at(monkeypatch, 10)
    err = assert_rejected(
        ["evolve", "--fitness", "toy", "-N", "4", "-T", "2", "--run-dir", str(tmp_path / "r"), "--json"],
        "disk is full",
        "--resume",
    )
    assert str(tmp_path / "r") in err


def test_a_real_full_tmpfs(tmp_path):
    """The same on a 160 KiB tmpfs (needs root and mount; skipped elsewhere)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if (
        shutil.which("mount") is None
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    try:
        run = mnt / "r"
        with pytest.raises(UsageError, match="disk is full"):
            start_run(run, SearchConfig(fitness="toy", population=40, generations=30, seed=1))
        status = snapshot(run)[2]
        assert status.state == "stopped" and status.evaluations_done < 40 * 31
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        assert resume_run(run).state == "finished"
        start_run(tmp_path / "clean", SearchConfig(fitness="toy", population=40, generations=30, seed=1))
        assert snapshot(run)[:2] == snapshot(tmp_path / "clean")[:2]
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# -- a data set that disappears mid-run ------------------------------------------------------------


def _image_folder(root: Path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 10),):
        for c in ("cat", "dog"):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def test_data_deleted_mid_run_then_resume_is_refused_cleanly(tmp_path):
    data = _image_folder(tmp_path / "imgs")
    cfg = SearchConfig(fitness="proxy", population=2, generations=2, seed=3, dataset="imagefolder", data_dir=str(data))

    def delete_after_gen0(e):
        if isinstance(e, ev.GenerationFinished) and e.gen == 0 and data.exists():
            shutil.rmtree(data)

    # The images were read at the start: deleting them mid-run does not disturb this run.
    assert start_run(tmp_path / "a", cfg, listeners=[delete_after_gen0]).state == "finished"
    assert not data.exists()

    _image_folder(data)
    start_run(tmp_path / "b", cfg, should_stop=lambda: bool(RunStore(tmp_path / "b", readonly=True).generations()))
    before = snapshot(tmp_path / "b")
    assert before[2].state == "stopped" and before[2].evaluations_done == 2
    shutil.rmtree(data)
    err = assert_rejected(["evolve", "--resume", str(tmp_path / "b")], str(data / "train"))
    assert snapshot(tmp_path / "b") == before  # nothing was written by the refused resume
    _image_folder(data)
    resume_run(tmp_path / "b")
    assert snapshot(tmp_path / "b")[:2] == snapshot(tmp_path / "a")[:2]
    assert "imagefolder" in err


# -- kill -9 at random moments (the long loop is benchmarks/kill_trials.py) ----------------------------


@pytest.mark.slow
def test_kill_trials_short_loop():
    kt = benchmark_script("kill_trials")
    s = kt.run_trials(4, seed=11, modes=("db", "between"), quiet=True)
    assert s["trials"] == 4 and s["kills"] >= 4 and s["resumes"] >= 4
    assert s["failed_trials"] == 0, [r["problems"] for r in s["results"] if not r["ok"]]
    assert s["evaluations_kept_across_kills"] > 0
