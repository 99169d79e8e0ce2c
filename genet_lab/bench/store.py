"""A build directory: ``bench.sqlite`` (WAL, every write a transaction) and ``bench.lock``.

One writer per directory, held by an ``flock`` on the directory and on ``bench.lock`` for the
writer's lifetime (as :class:`genet_lab.evolution.store.RunStore` does). The settings, package
versions and the list of structures are written once, at creation, in one transaction with a
``pending`` row per (structure, seed); a training moves to ``running`` when handed to a worker and
to ``done`` with its numbers in one transaction, which only a row not yet done accepts, so a
result is never counted twice. Opening as the writer turns every ``running`` row back to
``pending``: after kill -9 nothing is lost but the trainings in flight, which run again. No torch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from genet_lab.bench.settings import BenchSettings, package_versions
from genet_lab.bench.structures import iter_structures, sample_ids
from genet_lab.errors import UsageError
from genet_lab.fileio import connect_reader

__all__ = ["DB_NAME", "FORMAT", "BenchStore", "TrainingRecord"]

DB_NAME, LOCK_NAME = "bench.sqlite", "bench.lock"
FORMAT = 1
STATES = ("pending", "running", "done")

SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE structures (
    id INTEGER PRIMARY KEY, bits TEXT NOT NULL, notation TEXT NOT NULL, key TEXT NOT NULL UNIQUE,
    class_size INTEGER NOT NULL);
CREATE TABLE trainings (
    structure INTEGER NOT NULL REFERENCES structures(id), seed INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', val_accuracy REAL, test_accuracy REAL, final_loss REAL,
    seconds REAL, device TEXT, failed INTEGER, error TEXT, params INTEGER, macs INTEGER,
    curve TEXT, finished REAL, attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (structure, seed));
CREATE INDEX trainings_state ON trainings(state);
"""

TrainingRecord = dict[str, Any]
"""One finished training: val_accuracy, test_accuracy (percent), final_loss, seconds, device,
failed, error, params, macs, curve (a list of {epoch, val_accuracy, loss})."""

RESULT_FIELDS = (
    "val_accuracy", "test_accuracy", "final_loss", "seconds", "device", "failed", "error", "params", "macs",
)  # fmt: skip


def _disk_error(exc: sqlite3.Error, directory: Path) -> UsageError:
    return UsageError(f"cannot write the build in {directory}: {exc} (nothing recorded is lost; free space and rerun)")


class BenchStore:
    """A build directory, opened as its one writer (``readonly=False``) or read-only."""

    def __init__(self, directory: str | Path, readonly: bool = False):
        self.dir = Path(directory)
        self.db = self.dir / DB_NAME
        self.readonly = readonly
        self._fds: list[int] = []
        if not self.db.is_file():
            raise UsageError(f"{self.dir} holds no bench build (no {DB_NAME})")
        if not readonly:
            self._lock()
        if readonly:
            self.conn = connect_reader(self.db, timeout=30, isolation_level=None, check_same_thread=False)
        else:
            self.conn = sqlite3.connect(self.db, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            if not readonly:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
            fmt = self.meta("format")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise UsageError(f"{self.db} is not a bench build ({exc})") from None
        if fmt != FORMAT:
            self.close()
            raise UsageError(f"{self.db} is a bench build of format {fmt}; this genet-lab reads format {FORMAT}")
        self.settings = BenchSettings.from_dict(self.meta("settings"))
        if not readonly:
            with self.transaction():
                self.conn.execute("UPDATE trainings SET state='pending' WHERE state='running'")

    # creation -----------------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | Path, settings: BenchSettings) -> BenchStore:
        """A new build of ``settings`` (resolved) in ``directory``; written whole or not at all."""
        directory = Path(directory)
        if (directory / DB_NAME).exists():
            raise UsageError(f"{directory} already holds a bench build")
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{DB_NAME}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # set before the rename: never converted in place
            conn.executescript(SCHEMA)
            conn.execute("BEGIN")
            meta = {"format": FORMAT, "settings": settings.to_dict(), "versions": package_versions(),
                    "created": time.time()}  # fmt: skip
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            trained = set(sample_ids(settings.stages, settings.sample, settings.table_seed))
            for s in iter_structures(settings.stages):
                conn.execute(
                    "INSERT INTO structures VALUES (?, ?, ?, ?, ?)",
                    (s.index, s.genome.bitstring(), s.genome.notation(), s.key, s.class_size),
                )
                if s.index in trained:
                    conn.executemany(
                        "INSERT INTO trainings (structure, seed) VALUES (?, ?)",
                        [(s.index, x) for x in settings.seeds],
                    )
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # a full disk, a read-only folder
            conn.close()
            tmp.unlink(missing_ok=True)
            raise _disk_error(exc, directory) from None
        conn.close()
        os.replace(tmp, directory / DB_NAME)  # the build exists whole, or not at all
        return cls(directory)

    @classmethod
    def open_or_create(cls, directory: str | Path, settings: BenchSettings) -> tuple[BenchStore, bool]:
        """(the writer of the build in ``directory``, whether it was created now); a stored build
        with other settings is refused in one line."""
        if not (Path(directory) / DB_NAME).exists():
            return cls.create(directory, settings), True
        store = cls(directory)
        diff = store.settings.differences(settings)
        stored, here = store.meta("versions") or {}, package_versions()
        versions = [f"{k} {stored.get(k)} -> {v}" for k, v in here.items() if stored.get(k) != v]
        if diff or versions:
            store.close()
        if diff:
            raise UsageError(f"{directory} holds a build with other settings ({'; '.join(diff)}); use another --out")
        if versions:
            raise UsageError(
                f"{directory} was built with other package versions ({'; '.join(versions)}); its numbers would "
                "mix two versions: resume it where it was started, or build anew in another directory"
            )
        return store, False

    # locking ------------------------------------------------------------------------------------

    def _lock(self) -> None:
        dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        self._fds.append(dir_fd)
        fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        self._fds.append(fd)
        try:
            fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            self.close()
            raise UsageError(f"{self.dir} is being built by {holder}; wait for it or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
            self.conn = None  # type: ignore[assignment]
        for fd in self._fds:
            os.close(fd)  # closing drops the flocks
        self._fds = []

    def __enter__(self) -> BenchStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reads --------------------------------------------------------------------------------------

    def meta(self, name: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def counts(self) -> dict[str, int]:
        """Trainings per state (every state named, zeros included)."""
        rows = dict(self.conn.execute("SELECT state, COUNT(*) FROM trainings GROUP BY state").fetchall())
        return {s: int(rows.get(s, 0)) for s in STATES}

    def structures(self) -> list[tuple[int, str, str, str, int]]:
        """(id, bits, notation, key, class size) of every structure, by id."""
        return self.conn.execute("SELECT id, bits, notation, key, class_size FROM structures ORDER BY id").fetchall()

    def pending(self) -> list[tuple[int, int, str]]:
        """(structure, seed, bits) of every training not yet done, seed-major (every structure's
        first seed before any second seed, so a partial build covers the space)."""
        return self.conn.execute(
            "SELECT t.structure, t.seed, s.bits FROM trainings t JOIN structures s ON s.id=t.structure "
            "WHERE t.state != 'done' ORDER BY t.seed, t.structure"
        ).fetchall()

    def done(self) -> list[dict[str, Any]]:
        """Every finished training as a dict (structure, seed, the result fields, curve parsed)."""
        cur = self.conn.execute(
            f"SELECT structure, seed, {', '.join(RESULT_FIELDS)}, curve FROM trainings "
            "WHERE state='done' ORDER BY structure, seed"
        )
        names = ["structure", "seed", *RESULT_FIELDS, "curve"]
        out = []
        for row in cur:
            d = dict(zip(names, row))
            d["curve"], d["failed"] = json.loads(d["curve"]), bool(d["failed"])
            out.append(d)
        return out

    def mean_seconds(self) -> float | None:
        row = self.conn.execute("SELECT AVG(seconds) FROM trainings WHERE state='done' AND NOT failed").fetchone()
        return None if row[0] is None else float(row[0])

    # writes -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise _disk_error(exc, self.dir) from None

    def mark_running(self, jobs: Sequence[tuple[int, int]]) -> None:
        with self.transaction():
            self.conn.executemany(
                "UPDATE trainings SET state='running', attempts=attempts+1 "
                "WHERE structure=? AND seed=? AND state='pending'",
                list(jobs),
            )

    def record(self, results: Sequence[tuple[int, int, TrainingRecord]]) -> int:
        """Store finished trainings ``(structure, seed, record)`` in one transaction (a batched
        group is written whole or not at all); how many were new (a done row is never rewritten)."""
        new = 0
        with self.transaction():
            for structure, seed, result in results:
                values = [result.get(f) for f in RESULT_FIELDS]
                values[RESULT_FIELDS.index("failed")] = int(bool(result.get("failed")))
                cur = self.conn.execute(
                    f"UPDATE trainings SET state='done', {', '.join(f'{f}=?' for f in RESULT_FIELDS)}, curve=?, "
                    "finished=? WHERE structure=? AND seed=? AND state!='done'",
                    (*values, json.dumps(result["curve"]), time.time(), structure, seed),
                )
                new += cur.rowcount
        return new
