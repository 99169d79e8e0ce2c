"""Hardening: readers polling a run while ``genet-lab evolve`` writes it, and one writer per run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_rejected

from genet_lab.errors import UsageError
from genet_lab.evolution import RunStore, SearchConfig, resume_run, start_run
from genet_lab.evolution import store as store_mod

ROOT = Path(__file__).resolve().parents[2]


def _evolve(*args, delay="0.02"):
    env = {**os.environ, "GENET_LAB_TOY_DELAY": delay}
    return subprocess.Popen(
        [sys.executable, "-m", "genet_lab", "evolve", "--fitness", "toy", *args, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(run: Path, evaluations: int, timeout: float = 60) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with RunStore(run, readonly=True) as st:
                if st.status().evaluations_done >= evaluations:
                    return
        except UsageError:
            pass  # not created yet
        time.sleep(0.02)
    raise AssertionError(f"{run} made no progress")


def test_a_reader_polls_while_evolve_writes(tmp_path):
    run = tmp_path / "r"
    proc = _evolve("-N", "6", "-T", "8", "--seed", "4", "--run-dir", str(run))
    _wait_for(run, 1)
    reader = RunStore(run, readonly=True)  # one long-lived reader, as the TUI and the widgets keep
    seq, done, finished_gens, polls, states = 0, 0, 0, 0, set()
    try:
        while True:
            alive = proc.poll() is None
            status = reader.status()
            gens = reader.generations()
            inds = reader.individuals()
            new = reader.events_since(seq)
            polls += 1
            states.add(status.state)
            assert status.evaluations_done >= done and len(gens) >= finished_gens
            assert all(s > seq for s, _ in new) and [s for s, _ in new] == sorted(s for s, _ in new)
            # read after status(): the writer may have committed more in between, never less
            assert sum(i.state in ("done", "failed") for i in inds) >= status.evaluations_done
            seq = new[-1][0] if new else seq
            done, finished_gens = status.evaluations_done, len(gens)
            if not alive:
                break
            time.sleep(0.01)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        final = reader.status()
    finally:
        reader.close()
    assert polls > 10 and "running" in states
    assert final.state == "finished" and final.evaluations_done == 54 and final.gen == 8
    with RunStore(run, readonly=True) as fresh:
        assert fresh.generations() == reader_generations(run)


def reader_generations(run):
    with RunStore(run, readonly=True) as st:
        return st.generations()


def test_a_second_writer_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    run = tmp_path / "r"
    proc = _evolve("-N", "6", "-T", "30", "--seed", "2", "--run-dir", str(run), delay="0.05")
    try:
        _wait_for(run, 2)
        err = assert_rejected(["evolve", "--resume", str(run)], "being written by pid", str(proc.pid))
        assert "read-only" in err
        assert_rejected(["evolve", "--fitness", "toy", "--run-dir", str(run)], "already holds a run")
        with pytest.raises(UsageError, match="being written"):
            RunStore(run)
        with RunStore(run, readonly=True) as st:
            assert st.writer_alive() and st.status().state == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    lock = run / store_mod.LOCK_NAME
    assert lock.read_text() == f"pid {proc.pid}"  # the stale lock file is still there
    with RunStore(run, readonly=True) as st:
        assert not st.writer_alive() and st.status().state == "stopped"
    with RunStore(run) as st:  # the kernel dropped the dead writer's flock: taken over
        assert lock.read_text() == f"pid {os.getpid()}"
    assert resume_run(run, generations=3).state == "finished"


def test_creating_a_run_that_appeared_meanwhile_is_refused(tmp_path, monkeypatch):
    # Two `evolve --run-dir X` started together: both may pass the "already a run?" check.
    start_run(tmp_path / "r", SearchConfig(fitness="toy", population=2, generations=0))
    monkeypatch.setattr(store_mod, "is_run_dir", lambda path: False)
    with pytest.raises(UsageError, match="already holds a run"):
        store_mod.RunStore.create(tmp_path / "r", "ga", 0, {})
    with RunStore(tmp_path / "r", readonly=True) as st:
        assert st.status().state == "finished"


@pytest.mark.parametrize("name", [store_mod.LOCK_NAME, store_mod.DB_NAME])
def test_a_writer_does_not_follow_symlinks_in_the_run_dir(tmp_path, name):
    start_run(tmp_path / "r", SearchConfig(fitness="toy", population=2, generations=0))
    outside = tmp_path / "outside.txt"
    if name == store_mod.DB_NAME:
        os.replace(tmp_path / "r" / name, outside)
    else:
        outside.write_text("precious")
        (tmp_path / "r" / name).unlink()
    (tmp_path / "r" / name).symlink_to(outside)
    before = outside.read_bytes()
    assert_rejected(["evolve", "--resume", str(tmp_path / "r"), "-T", "2"], "symbolic link")
    assert outside.read_bytes() == before
