"""Hardening, round 3 (issue 22): the run store and the start of a run.

Items 4 (a paused writer whose front end died), 5 (a non-finite fitness), 6 (every input checked
before the store is made), 7 (a run directory whose name is not UTF-8), 12 (a hand-edited
run.sqlite read through one validating layer), 13 (run.lock replaced by a FIFO) and 20 (the
named start residual-40 keeps its own stages). docs/reliability.md, "Round 3".
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import REPO, assert_one_line_error, assert_rejected, run_cli

from genet_lab.encoding.genome import named
from genet_lab.errors import ConfigError, UsageError
from genet_lab.evolution import RunStore, SearchConfig, resume_run, start_run
from genet_lab.evolution.objective import apply_objective, parse_objective
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.evolution.run import check_start

TOY = SearchConfig(fitness="toy", population=4, generations=1, seed=3)


def _toy(run: Path) -> Path:
    start_run(run, TOY)
    return run


def _edit(run: Path, sql: str, *args: object) -> None:
    with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn:
        conn.execute(sql, args)
        conn.commit()


# -- 5. a fitness that is not a finite number -------------------------------------------------------


@pytest.mark.parametrize("text", ["params:1e308", "macs:1e4", "params:1000.5"])
def test_objective_lambda_is_bounded(text):
    with pytest.raises(ConfigError):
        parse_objective(text)


def test_objective_at_the_bound_stays_finite():
    kind, lam = parse_objective("params:1000")
    assert (kind, lam) == ("params", 1000.0)
    assert apply_objective("params:1000", 99.0, 10**12, None) == pytest.approx(99.0 - 12000.0)


def test_non_finite_fitness_never_enters_a_run(tmp_path):
    run = _toy(tmp_path / "run")
    with RunStore(run) as st:
        before = st.generations()
        with pytest.raises(ValueError, match="not a finite number"):
            st.finish_generation(1, [float("-inf")] * 4, {})
        assert st.generations() == before


def test_cli_objective_1e308_is_one_line_and_leaves_nothing(tmp_path):
    assert_rejected(["evolve", "--fitness", "toy", "--objective", "params:1e308", "--run-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_a_run_stored_with_an_unbounded_objective_is_one_line_not_a_traceback(tmp_path):
    run = _toy(tmp_path / "run")  # as an older genet-lab stored it: the objective, then -inf fitness
    _edit(run, "UPDATE run SET config=json_set(config, '$.objective', 'params:1e308')")
    _edit(run, "UPDATE individuals SET fitness=-9e999 WHERE gen=1")
    assert_rejected(["evolve", "--resume", str(run), "-T", "3"], "params:1e308")
    assert_rejected(["report", str(run), "--no-plots"], "fitness -inf", "individual 1:0")


# -- 6. every input checked before the store exists -------------------------------------------------


def test_mixed_genome_file_leaves_no_run_dir(tmp_path):
    genomes = tmp_path / "m.txt"
    genomes.write_text("1-01 0-01-100 0-01-100-1000\n1-01 0-01-100\n")
    run = tmp_path / "run"
    assert_rejected(["evolve", "--fitness", "toy", "--init", str(genomes), "--run-dir", str(run)], "stage sizes")
    assert not run.exists()
    _toy(run)  # the same directory works at once


def test_check_start_refuses_a_start_that_generation_zero_cannot_build(tmp_path):
    unresolved = replace(SearchConfig(fitness="toy", init="residual-40", population=2), stages=(3, 4, 5))
    with pytest.raises(ConfigError, match="own stages 11,11,11"):
        check_start(tmp_path / "run", unresolved)
    assert not (tmp_path / "run").exists()


# -- 7. a run directory whose name is not UTF-8 -------------------------------------------------------


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses such file names itself")
def test_non_utf8_run_dir_is_refused_up_front(tmp_path):
    name = os.fsdecode(b"\xff_run")
    err = assert_rejected(["evolve", "--fitness", "toy", "-N", "2", "-T", "1", "--run-dir", str(tmp_path / name)])
    assert "not valid UTF-8" in err and "\\xff_run" in err
    assert os.listdir(tmp_path) == []
    # one made by hand (or renamed so) is refused by every reader in the same words, no traceback
    (tmp_path / name).mkdir()
    _toy(tmp_path / "ok")
    os.rename(tmp_path / "ok" / "run.sqlite", tmp_path / name / "run.sqlite")
    for argv in (["report", str(tmp_path / name)], ["evolve", "--resume", str(tmp_path / name)]):
        assert "not valid UTF-8" in assert_rejected(argv)


# -- 12. a hand-edited run.sqlite -----------------------------------------------------------------------

EDITS = [
    ("UPDATE individuals SET fitness=NULL WHERE gen=0 AND idx=1", "individual 0:1", "fitness"),
    ("UPDATE evaluations SET accuracy='abc' WHERE gen=1 AND idx=2", "individual 1:2", "accuracy"),
    ("UPDATE evaluations SET accuracy=9e999 WHERE gen=1 AND idx=0", "individual 1:0", "accuracy"),
    ("UPDATE individuals SET parents='[\"x\"]' WHERE gen=1 AND idx=0", "individual 1:0", "parents"),
    ("UPDATE generations SET max='high' WHERE gen=0", "generations row 0", "max"),
    ("UPDATE individuals SET genome='[/b]1-01' WHERE gen=1 AND idx=1", "individual 1:1", "genome"),
    ("UPDATE run SET config=json_set(config, '$.population', 'four')", "run record", "population"),
    ("UPDATE run SET config=json_set(config, '$.generations', 1.5)", "run record", "generations"),
]


@pytest.mark.parametrize("sql,where,column", EDITS, ids=[e[2] + "-" + e[1] for e in EDITS])
def test_hand_edited_store_is_one_line_naming_the_row(tmp_path, sql, where, column):
    run = _toy(tmp_path / "run")
    _edit(run, sql)
    for argv in (["report", str(run), "--no-plots"], ["evolve", "--resume", str(run), "-T", "2"]):
        line = assert_rejected(argv, "run.sqlite", where, column)
        assert "is damaged" in line
    assert not (run / "report").exists()


def test_unknown_evaluation_state_is_named(tmp_path):
    run = _toy(tmp_path / "run")
    with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn:  # the CHECK lives in the schema
        conn.execute("PRAGMA writable_schema=ON")
        conn.execute(
            "UPDATE sqlite_master SET sql=replace(sql, '''pending'', ''running''', '''pending'', ''paused'', "
            "''running''') WHERE name='evaluations'"
        )
        conn.commit()
    with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn:
        conn.execute("UPDATE evaluations SET state='paused' WHERE gen=1 AND idx=3")
        conn.commit()
    assert_rejected(["report", str(run), "--no-plots"], "individual 1:3", "state", "'paused'")


def test_version_3_store_with_version_1_columns(tmp_path):
    run = _toy(tmp_path / "run")
    _edit(run, "ALTER TABLE run DROP COLUMN data")
    assert_rejected(["report", str(run), "--no-plots"], "schema version 3", "table run lacks data")


def test_version_2_store_that_already_has_the_data_column_migrates(tmp_path):
    run = _toy(tmp_path / "run")
    _edit(run, "UPDATE schema_version SET version=2")
    rc, _, err = run_cli(["evolve", "--resume", str(run), "-T", "2", "--json"])
    assert rc == 0, err
    with RunStore(run, readonly=True) as st:
        assert st.version == 3 and st.status().state == "finished" and len(st.generations()) == 3


# -- 13. run.lock replaced by a FIFO ---------------------------------------------------------------------


def test_fifo_lock_is_refused_without_hanging(tmp_path):
    run = _toy(tmp_path / "run")
    (run / "run.lock").unlink()
    os.mkfifo(run / "run.lock")
    start = time.monotonic()
    assert_rejected(["evolve", "--resume", str(run), "-T", "2"], "run.lock", "not a plain file")
    assert time.monotonic() - start < 10
    with RunStore(run, readonly=True) as st:  # readers do not need it
        assert st.status().state == "finished"


# -- 4. a paused writer whose front end is gone ----------------------------------------------------------

_PAUSED_CHILD = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import signal, sys, time
from genet_lab.evolution import RunStore
st = RunStore(sys.argv[1])
print("locked", flush=True)
signal.signal(signal.SIGTERM, lambda *a: (st.close(), sys.exit(143)))
while True:
    time.sleep(0.1)
''', sys.argv[1]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
assert child.stdout.readline().strip() == "locked"
child.send_signal(signal.SIGSTOP)
print(child.pid, flush=True)
os._exit(0)  # the front end dies (as kill -9): the stopped child is re-parented
"""


def test_stopped_orphan_writer_is_recovered(tmp_path):
    run = _toy(tmp_path / "run")
    proc = subprocess.run(
        [sys.executable, "-c", _PAUSED_CHILD, str(run)], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    pid = int(proc.stdout.split()[-1])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the kernel re-parents it at once, /proc shows it a moment later
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rfind(")") + 2 :].split()[0] == "T":
                break
            time.sleep(0.05)
        with RunStore(run, readonly=True) as st:
            assert st.writer_alive()
        status = resume_run(run, generations=2)  # takes the lock from the paused orphan
        assert status.state == "finished" and status.gen == 2
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_stopped_writer_with_a_live_parent_is_named_not_taken(tmp_path):
    run = _toy(tmp_path / "run")
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys,time\nfrom genet_lab.evolution import RunStore\n"
         "st = RunStore(sys.argv[1]); print('locked', flush=True); time.sleep(60)", str(run)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        child.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        with pytest.raises(UsageError, match=f"paused: 'kill -CONT {child.pid}'"):
            RunStore(run)
    finally:
        child.kill()
        child.wait()


# -- 20. residual-40 keeps its 40-layer stages ------------------------------------------------------------


def test_residual_40_start_is_the_40_layer_genome():
    config = SearchConfig(fitness="toy", init="residual-40", population=3, init_flips=0).resolve()
    population = initial_population(config, initial_rng(config))
    assert config.stages == (11, 11, 11)
    assert all(g == named("residual-40") for g in population)


def test_residual_40_on_other_stages_is_refused_not_shrunk():
    # a new search is refused where every search is resolved; a run stored before this rule
    # (residual-40 on 3,4,5) still resumes from its genome (tests/cli/test_paper_flags.py)
    config = replace(SearchConfig(fitness="toy", init="residual-40", population=3), stages=(3, 4, 5))
    with pytest.raises(ConfigError, match="own stages 11,11,11"):
        config.resolve()
    assert SearchConfig(fitness="toy", init="residual-40", population=3).resolve().stages == (11, 11, 11)
    assert_rejected(["evolve", "--fitness", "toy", "--init", "residual-40", "--stages", "3,4,5", "--dry-run"],
                    "--init residual-40 has its own stages 11,11,11")  # fmt: skip


# -- 19. what a failed creation says -----------------------------------------------------------------------


def test_too_many_open_files_at_creation_is_not_a_full_disk(tmp_path, monkeypatch):
    import errno

    def fail(self, *a):
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(RunStore, "_build", fail)
    line = assert_rejected(["evolve", "--fitness", "toy", "--run-dir", str(tmp_path / "r")], "ulimit -n")
    assert "free some space" not in line and "nothing was left behind" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("value", ["1e400", "inf", "nan", "-1", "soon"])
def test_a_toy_delay_that_is_no_delay_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, value):
    # Was (issue 22, item 13): GENET_LAB_TOY_DELAY=1e400 raised OverflowError from time.sleep.
    run = tmp_path / "r"
    monkeypatch.setenv("GENET_LAB_TOY_DELAY", value)
    rc, _, err = run_cli(["evolve", "--fitness", "toy", "-N", "2", "-T", "0", "--run-dir", str(run)])
    assert_one_line_error(rc, err, "GENET_LAB_TOY_DELAY", "seconds from 0 to")
    monkeypatch.delenv("GENET_LAB_TOY_DELAY")
    rc, _, err = run_cli(["evolve", "--resume", str(run), "--json"])
    assert rc == 0, err
