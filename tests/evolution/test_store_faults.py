"""Hardening, round 2: what an adversarial tester broke in the run store, resume, report and CLI.

One regression test (or a few) per finding of issue 16, items 1-8, 14, 16 and part of 17
(docs/reliability.md, "Round 2"). Everything runs with the toy fitness, or the proxy fitness on
a tiny image folder where the data itself matters.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, assert_one_line_error, assert_rejected, run_cli, snapshot, sqlite_error

from genet_lab.errors import UsageError
from genet_lab.evolution import RunStore, SearchConfig, resume_run, start_run
from genet_lab.evolution import store as store_mod

TOY = ["--fitness", "toy", "-N", "4", "-T", "2"]


def _toy(run: Path, **kw) -> Path:
    start_run(run, SearchConfig(**{"fitness": "toy", "population": 4, "generations": 2, "seed": 1, **kw}))
    return run


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _row(run: Path) -> dict:
    with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM run").fetchone())


# -- 1. kill -9 while a run is being created ------------------------------------------------------


def _die_in_create(run: Path, where: str) -> None:
    """Create a run in a forked child that dies (os._exit, no clean-up: as kill -9) at ``where``."""
    pid = os.fork()
    if pid == 0:  # the child
        try:
            real_replace, real_connect = os.replace, sqlite3.connect
            if where == "before-rename":
                store_mod.os.replace = lambda *a: os._exit(9)  # type: ignore[assignment]
            elif where == "empty-temp":

                def connect(target, *a, **kw):
                    real_connect(target, *a, **kw).close()
                    os._exit(9)

                store_mod.sqlite3.connect = connect  # type: ignore[assignment]
            elif where == "after-rename":

                def replace(a, b):
                    real_replace(a, b)
                    os._exit(9)

                store_mod.os.replace = replace  # type: ignore[assignment]
            store_mod.RunStore.create(
                run, "ga", 1, SearchConfig(fitness="toy", population=4, generations=2, seed=1).resolve().to_dict()
            )
        finally:
            os._exit(3)
    os.waitpid(pid, 0)


@pytest.mark.parametrize("where", ["empty-temp", "before-rename"])
def test_a_creation_killed_before_the_rename_leaves_no_dead_end(tmp_path, where):
    # Was: a 0-byte or schema-less run.sqlite: --resume "no such table", --run-dir "already holds a run".
    run = tmp_path / "r"
    _die_in_create(run, where)
    assert not (run / "run.sqlite").exists()
    assert_rejected(["evolve", "--resume", str(run)], "not a genet-lab run directory")
    rc, _, err = run_cli(["evolve", *TOY, "--run-dir", str(run), "--json"])
    assert rc == 0, err
    assert not [n for n in os.listdir(run) if n.startswith(".")]  # the dead child's temporary file is gone
    assert snapshot(run)[2].state == "finished"


def test_a_creation_killed_after_the_rename_is_a_resumable_run(tmp_path):
    run = tmp_path / "r"
    _die_in_create(run, "after-rename")
    assert resume_run(run).state == "finished"
    assert snapshot(run)[:2] == snapshot(_toy(tmp_path / "clean"))[:2]


def _leave_a_hot_journal(db: Path) -> None:
    """Kill -9 a writer in the middle of a rollback-journal transaction on ``db`` (what a run
    created by an older release, converted to WAL in place and killed there, left behind)."""
    code = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode=DELETE'); c.execute('PRAGMA cache_size=1')\n"
        "c.execute('BEGIN IMMEDIATE'); c.execute('CREATE TABLE filler (x)')\n"
        "for _ in range(500): c.execute('INSERT INTO filler VALUES (?)', ('y' * 2000,))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=False)
    assert Path(f"{db}-journal").exists()


def test_a_hot_journal_left_by_a_killed_writer_is_read_resumed_and_reported(tmp_path):
    # Was (CI, a kill trial): --resume first peeks at the run read-only, and a read-only SQLite
    # connection may not roll a hot journal back: "not a readable genet-lab run database
    # (attempt to write a readonly database)", a dead end. Creation now sets WAL before the
    # rename, and readers let SQLite restore the last commit first.
    run = _toy(tmp_path / "r", generations=1)
    before = snapshot(run)
    _leave_a_hot_journal(run / "run.sqlite")
    with RunStore(run, readonly=True) as st:  # what report, the TUI and --resume's peek do
        assert st.config()["kind"] == "ga"
    assert not Path(f"{run}/run.sqlite-journal").exists()
    assert snapshot(run) == before  # the half-written transaction is gone, nothing else
    rc, _, err = run_cli(["evolve", "--resume", str(run), "-T", "2", "--json"])
    assert rc == 0, err
    assert snapshot(run)[2].state == "finished"


def test_run_sqlite_is_in_wal_mode_from_the_moment_it_exists(tmp_path):
    # The file renamed into place is already WAL, so the writer that opens it next never
    # converts it in place (the conversion is the write that left the hot journal above).
    run = tmp_path / "r"
    run.mkdir()
    builder = RunStore(run, _create=True)
    try:
        builder._build("ga", 1, {"fitness": "toy"}, None)
    finally:
        builder.close()
    with open(run / "run.sqlite", "rb") as f:
        header = f.read(20)
    assert header[18:20] == bytes([2, 2])  # file format versions 2: WAL (1 would be a rollback journal)


@pytest.mark.parametrize("leftover", ["zero-bytes", "no-schema"])
def test_an_empty_store_left_by_an_older_release_counts_as_absent(tmp_path, leftover):
    run = tmp_path / "r"
    run.mkdir()
    (run / "run.lock").write_text("pid 999999")
    if leftover == "zero-bytes":
        (run / "run.sqlite").write_bytes(b"")
    else:
        with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    assert_rejected(["evolve", "--resume", str(run)], "creation was interrupted", f"--run-dir {run}")
    rc, _, err = run_cli(["evolve", *TOY, "--run-dir", str(run), "--json"])
    assert rc == 0, err
    assert snapshot(run)[2].state == "finished"


# -- 2. a full disk at creation ---------------------------------------------------------------------


def test_a_disk_error_at_creation_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    # Was: a sqlite3.OperationalError traceback and the dead end of item 1.
    def broken(*args, **kw):
        raise sqlite_error("disk I/O error", sqlite3.SQLITE_IOERR)

    run = tmp_path / "deep" / "r"
    with monkeypatch.context() as m:
        m.setattr(store_mod.sqlite3, "connect", broken)
        assert_rejected(
            ["evolve", *TOY, "--run-dir", str(run)],
            "cannot create the run",
            "disk I/O error",
            "nothing was left behind",
        )
    assert os.listdir(tmp_path) == []
    (tmp_path / "kept").mkdir()  # a folder the user made is kept, and stays as it was
    with monkeypatch.context() as m:
        m.setattr(store_mod.sqlite3, "connect", broken)
        assert_rejected(["evolve", *TOY, "--run-dir", str(tmp_path / "kept")], "disk I/O error")
    assert os.listdir(tmp_path / "kept") == []
    rc, _, err = run_cli(["evolve", *TOY, "--run-dir", str(run), "--json"])
    assert rc == 0, err


def _mount_tmpfs(mnt: Path, size: str) -> None:
    mnt.mkdir()
    if (
        shutil.which("mount") is None
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")


def test_a_really_full_disk_at_creation(tmp_path):
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt, "64k")
    try:
        with contextlib.suppress(OSError), open(mnt / "filler", "wb") as fh:
            while True:
                fh.write(b"x" * 4096)
                fh.flush()
        assert_rejected(["evolve", *TOY, "--run-dir", str(mnt / "r")], "cannot create the run", "space")
        assert os.listdir(mnt) == ["filler"]
        (mnt / "filler").unlink()
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        rc, _, err = run_cli(["evolve", *TOY, "--run-dir", str(mnt / "r"), "--json"])
        assert rc == 0, err
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# -- 3 and 4. a resume is checked in full before the store changes; the data is fingerprinted ------


def _image_folder(root: Path, classes=("cat", "dog")) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        d = root / "train" / c
        d.mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def _proxy(data: Path, generations: int = 1) -> SearchConfig:
    return SearchConfig(
        fitness="proxy", population=2, generations=generations, seed=3, dataset="imagefolder", data_dir=str(data)
    )


def test_a_refused_resume_changes_nothing(tmp_path):
    # Was: the config (T) and the state were committed before the fitness was built.
    data = _image_folder(tmp_path / "imgs")
    run = tmp_path / "r"
    start_run(run, _proxy(data))
    before, row = snapshot(run), _row(run)
    assert row["state"] == "finished" and row["finished"] is not None
    data.rename(tmp_path / "moved")
    assert_rejected(["evolve", "--resume", str(run), "-T", "3"], str(data / "train"))
    assert _row(run) == row and snapshot(run) == before
    assert json.loads(_row(run)["config"])["generations"] == 1


def test_a_resume_on_changed_data_is_refused_saying_what_changed(tmp_path):
    # Was: generation 0 measured on 2 classes, generation 1 on 3, and the fitness averaged both.
    data = _image_folder(tmp_path / "imgs")
    run = tmp_path / "r"
    start_run(run, _proxy(data, 2), should_stop=lambda: bool(RunStore(run, readonly=True).generations()))
    before, row = snapshot(run), _row(run)
    assert json.loads(row["data"])["classes"] == ["cat", "dog"]
    _image_folder(tmp_path / "extra", ("fox",))
    shutil.move(tmp_path / "extra" / "train" / "fox", data / "train" / "fox")
    assert_rejected(
        ["evolve", "--resume", str(run)], "differs from what the run", "2 -> 3 classes", "added fox", str(data)
    )
    assert _row(run) == row and snapshot(run) == before
    shutil.rmtree(data / "train" / "fox")
    assert resume_run(run).state == "finished"


def test_data_dir_is_stored_resolved_and_old_runs_get_a_fingerprint(tmp_path, monkeypatch):
    _image_folder(tmp_path / "imgs")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "r"
    start_run(run, _proxy(Path("imgs")), should_stop=lambda: bool(RunStore(run, readonly=True).generations()))
    assert json.loads(_row(run)["config"])["data_dir"] == str(tmp_path / "imgs")
    with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn, conn:
        conn.execute("UPDATE run SET data=NULL")  # as a run made before fingerprints
    monkeypatch.chdir(REPO)  # the stored path is absolute: another working directory reads the same data
    assert resume_run(run).state == "finished"
    assert json.loads(_row(run)["data"])["classes"] == ["cat", "dog"]


# -- 5. a damaged database --------------------------------------------------------------------------


def test_damaged_pages_give_one_line_everywhere(tmp_path):
    # Was: sqlite3.DatabaseError tracebacks (page 3: TypeError), and the TUI waited for ever.
    from genet_lab.supervisor import NotReady, RunControl

    clean = _toy(tmp_path / "clean", population=10, generations=5)
    pages = (clean / "run.sqlite").stat().st_size // 4096
    broken = 0
    for page in range(2, pages + 1):
        run = tmp_path / f"p{page}"
        shutil.copytree(clean, run)
        with open(run / "run.sqlite", "r+b") as fh:
            fh.seek((page - 1) * 4096)
            fh.write(bytes(range(256)) * 16)
        for argv in (["report", str(run), "--no-plots", "--json"], ["evolve", "--resume", str(run), "--json"]):
            rc, _, err = run_cli(argv)
            if rc != 0:
                assert_one_line_error(rc, err, "damaged" if "damaged" in err else "")
                broken += 1
        control = RunControl(run)
        try:
            control.poll()
            control.resume().state  # noqa: B018
        except NotReady:
            pytest.fail("a damaged store is not 'not ready': the TUI would wait for it for ever")
        except UsageError:
            pass
        finally:
            control.close()
    assert broken >= 2


def test_a_store_without_its_run_record_or_with_a_broken_config(tmp_path):
    run = _toy(tmp_path / "r")
    with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn, conn:
        conn.execute("UPDATE run SET config='{not json'")
    assert_rejected(["report", str(run)], str(run / "run.sqlite"), "not valid JSON")
    assert_rejected(["evolve", "--resume", str(run)], str(run / "run.sqlite"), "not valid JSON")
    with contextlib.closing(sqlite3.connect(run / "run.sqlite")) as conn, conn:
        conn.execute("DELETE FROM run")
    assert_rejected(["report", str(run)], "no run record")
    assert not (run / "report").exists()


# -- 6. report of a GA run beside a random search that has nothing finished ------------------------


def test_report_ga_against_a_random_search_with_no_finished_generation(tmp_path):
    # Was: TypeError: unsupported format string passed to NoneType.__format__.
    _toy(tmp_path / "runs" / "ga")
    start_run(
        tmp_path / "runs" / "rnd",
        SearchConfig(kind="random", fitness="toy", population=4, generations=2, seed=1),
        should_stop=lambda: True,
    )
    rc, out, err = run_cli(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--no-plots"])
    assert rc == 0, err
    assert "GA vs random search" in out and "| - | - | - |" in out
    rc, out, err = run_cli(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep2"), "--json"])
    assert rc == 0, err
    assert json.loads(out)["comparison"]["paired_seeds"] == 0


# -- 7. a read-only run directory -------------------------------------------------------------------


@contextlib.contextmanager
def _read_only(tmp_path: Path):
    """A folder whose contents become read-only on leaving the setup block: a tmpfs remounted
    read-only (root), or a chmod 0555 folder (other users)."""
    mnt = tmp_path / "ro"
    if os.geteuid() != 0:
        mnt.mkdir()
        yield mnt, lambda: os.chmod(mnt / "r", 0o555)
        os.chmod(mnt / "r", 0o755)
        return
    _mount_tmpfs(mnt, "16m")
    try:
        yield mnt, lambda: subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


@pytest.mark.parametrize("killed", [False, True])
def test_a_read_only_run_is_read_and_writes_say_read_only(tmp_path, killed):
    # Was: report: OSError [Errno 30] traceback; report --out and --resume: "not readable".
    with _read_only(tmp_path) as (mnt, seal):
        run = mnt / "r"
        if killed:  # a run killed -9 keeps its -wal and -shm files
            env = {**os.environ, "GENET_LAB_TOY_DELAY": "0.01"}
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "genet_lab",
                    "evolve",
                    *TOY[:2],
                    "-N",
                    "6",
                    "-T",
                    "40",
                    "--run-dir",
                    str(run),
                    "--json",
                ],
                env=env,
                cwd=REPO,
            )
            deadline = time.time() + 60
            while time.time() < deadline and not (run / "run.sqlite").exists():
                time.sleep(0.05)
            time.sleep(0.5)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        else:
            _toy(run)
        expected = snapshot(run)
        seal()
        before = _files(mnt)
        assert snapshot(run) == expected
        assert_rejected(["report", str(run), "--no-plots"], "cannot write the report", str(run / "report"))
        assert_rejected(["evolve", "--resume", str(run)], "read-only")
        rc, _, err = run_cli(["report", str(run), "--no-plots", "--out", str(tmp_path / "out")])
        assert rc == 0, err
        assert (tmp_path / "out" / "report.md").is_file() and _files(mnt) == before


# -- 8. a report that fails leaves nothing -------------------------------------------------------------


def test_report_of_a_rejected_store_creates_no_folder(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.sqlite").write_bytes(os.urandom(5000))
    assert_rejected(["report", str(tmp_path / "r")], "not a readable")
    assert os.listdir(tmp_path / "r") == ["run.sqlite"]
    assert_rejected(["report", str(tmp_path / "r"), "--out", str(tmp_path / "a" / "b")])
    assert not (tmp_path / "a").exists()


def test_report_on_a_full_disk_is_one_line_and_keeps_the_old_report(tmp_path, monkeypatch):
    # Was: a 0-byte table1.csv and an OSError traceback.
    run = _toy(tmp_path / "r")
    rc, _, err = run_cli(["report", str(run), "--no-plots"])
    assert rc == 0, err
    old = {p.name: p.read_bytes() for p in (run / "report").iterdir()}
    real = Path.write_text

    def full(self, text, *a, **kw):
        if self.name == "individuals.csv":
            raise OSError(28, "No space left on device")
        return real(self, text, *a, **kw)

    monkeypatch.setattr(Path, "write_text", full)
    assert_rejected(["report", str(run), "--no-plots"], "No space left on device", "nothing was written")
    assert_rejected(["report", str(run), "--no-plots", "--out", str(tmp_path / "new" / "rep")], "No space")
    assert {p.name: p.read_bytes() for p in (run / "report").iterdir()} == old
    assert not [n for n in os.listdir(run) if n.startswith(".")] and not (tmp_path / "new").exists()


# -- 14. deleting run.lock cannot let a second writer in ------------------------------------------


def test_deleting_the_lock_file_does_not_let_a_second_writer_in(tmp_path):
    run = _toy(tmp_path / "r")
    with RunStore(run) as writer:
        (run / "run.lock").unlink()
        with pytest.raises(UsageError, match="being written"):
            RunStore(run)
        (run / "run.lock").write_text("")  # nor does replacing it
        with pytest.raises(UsageError, match="being written"):
            RunStore(run)
        with RunStore(run, readonly=True) as reader:
            assert reader.writer_alive() and writer.writer_alive()
    with RunStore(run) as again:  # the lock went with the writer
        assert again.writer_alive()


def test_deleting_the_lock_file_of_a_live_cli_writer(tmp_path):
    run = tmp_path / "r"
    env = {**os.environ, "GENET_LAB_TOY_DELAY": "0.05"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "genet_lab", "evolve", *TOY[:2], "-N", "6", "-T", "30", "--run-dir", str(run), "--json"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (run / "run.lock").exists():
            time.sleep(0.05)
        time.sleep(0.3)
        (run / "run.lock").unlink()
        assert_rejected(["evolve", "--resume", str(run)], "being written by another process")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert resume_run(run, generations=2).state == "finished"


# -- 16. outputs honour the umask and keep an existing file's mode ---------------------------------


def test_atomic_write_honours_the_umask_and_keeps_a_mode(tmp_path):
    from genet_lab.fileio import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.txt", b"a")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644
        (tmp_path / "kept.txt").write_bytes(b"x")
        os.chmod(tmp_path / "kept.txt", 0o640)
        atomic_write(tmp_path / "kept.txt", b"b")
        assert (tmp_path / "kept.txt").stat().st_mode & 0o777 == 0o640
        os.umask(0o077)
        atomic_write(tmp_path / "private.txt", b"c")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
        os.umask(0o022)
        run = _toy(tmp_path / "r")
        rc, _, err = run_cli(["report", str(run), "--no-plots"])
        assert rc == 0, err
        assert (run / "report").stat().st_mode & 0o777 == 0o755
        assert (run / "report" / "report.md").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


# -- 17. smaller ones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["-N", "1000000000"], "population N = 1000000000"),
        (["-T", "1000000000"], "generations T = 1000000000"),
        (["--stages", "9,9,9", "-N", "99999"], "N x L"),
    ],
)
def test_huge_searches_are_refused_up_front(tmp_path, argv, needle):
    # Was: -N 1000000000: an _ArrayMemoryError traceback and a half-made run directory.
    run = tmp_path / "r"
    assert_rejected(["evolve", "--fitness", "toy", *argv, "--run-dir", str(run)], needle, "at most")
    assert_rejected(["evolve", "--fitness", "toy", *argv, "--run-dir", str(run), "--dry-run"], needle)
    assert not run.exists()


def test_a_run_sqlite_that_is_a_folder(tmp_path):
    (tmp_path / "r" / "run.sqlite").mkdir(parents=True)
    assert_rejected(["evolve", *TOY, "--run-dir", str(tmp_path / "r")], "run.sqlite is not a file")
    assert_rejected(["evolve", "--resume", str(tmp_path / "r")], "run.sqlite is not a file")
    assert os.listdir(tmp_path / "r") == ["run.sqlite"]


def test_paths_are_shell_quoted_and_control_characters_shown(tmp_path):
    odd = tmp_path / "rün dir ✓" / "x y"
    rc, out, err = run_cli(["evolve", *TOY, "--run-dir", str(odd)])
    assert rc == 0, err
    assert f"report: genet-lab report '{odd}'" in out
    nl = tmp_path / "a\nb"
    rc, out, err = run_cli(["evolve", *TOY, "--run-dir", str(nl)])
    assert rc == 0, err
    hint = [line for line in out.splitlines() if line.startswith("report:")]
    assert hint == [f"report: genet-lab report $'{tmp_path}/a\\nb'"]
    assert repr(str(nl)) in out
    assert_rejected(["evolve", "--resume", str(tmp_path / "c\nd")], repr(str(tmp_path / "c\nd")))


@pytest.mark.parametrize("sig, rc, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_say_the_run_is_safe_and_how_to_resume(tmp_path, sig, rc, word):
    # Was: Ctrl-C printed only "error: interrupted"; SIGTERM exited 143 without a word.
    run = tmp_path / "r"
    env = {**os.environ, "GENET_LAB_TOY_DELAY": "0.05"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "genet_lab", "evolve", *TOY[:2], "-N", "4", "-T", "20", "--run-dir", str(run), "--json"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test run started in the background inherits Ctrl-C ignored: restore it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (run / "run.sqlite").exists():
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    line = assert_one_line_error(2, err, word, "is safe", f"genet-lab evolve --resume {run}")
    assert proc.returncode == rc, line
    assert snapshot(run)[2].state == "stopped"
    assert resume_run(run).state == "finished"
