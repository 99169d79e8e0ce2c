"""The run store: one directory per run, holding a SQLite database in WAL mode.

Everything a run needs to be resumed, reported or watched lives here: the
search config, the seed, the RNG state after each generation was bred, every
individual with its parents and the operation that made it, every evaluation
with its state machine (pending -> running -> done | failed), complexity
figures, per-generation statistics (Table 1's columns) and the event log.

Writes go through :meth:`RunStore.transaction` (commit on success, rollback on
error); one writer per directory is enforced with an ``flock`` on
``run.lock``; readers (the TUI, a notebook, ``genet-lab report``) open the
store with ``readonly=True`` and may poll while a run is being written.
Readers get the typed records of :mod:`genet_lab.evolution.records`. This is the only
module that speaks SQL. Knows sqlite3 and JSON only: no torch, no numpy.

At about 450 lines this is the project's longest module, on purpose: it is the only one that
speaks SQL (the schema, every query and the state machine), and keeping all of it in one
file is what lets a test check that no SQL lives anywhere else.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from genet_lab.errors import UsageError
from genet_lab.evolution import events as ev
from genet_lab.evolution.records import GenerationStats, Individual, RunStatus

SCHEMA_VERSION = 2
"""1: the first release; 2: ``evaluations.test_accuracy`` (``eval_test``). A version-1 store
opened for writing is migrated in place; opened read-only it is read as it is (no test accuracy)."""
MIGRATIONS = {1: ("ALTER TABLE evaluations ADD COLUMN test_accuracy REAL",)}
"""Statements that take a store from version v to v + 1."""
DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
OPS = ("init", "selection", "crossover", "mutation", "random")
STATES = ("pending", "running", "done", "failed")

_SCHEMA = f"""
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kind TEXT NOT NULL CHECK (kind IN ('ga', 'random')),
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    state TEXT NOT NULL CHECK (state IN ('running', 'finished'))
);
CREATE TABLE generations (
    gen INTEGER PRIMARY KEY CHECK (gen >= 0),
    rng_state TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    max REAL, min REAL, mean REAL, median REAL, std REAL,
    best TEXT, best_index INTEGER,
    evaluations INTEGER, reused INTEGER
);
CREATE TABLE individuals (
    gen INTEGER NOT NULL REFERENCES generations(gen),
    idx INTEGER NOT NULL CHECK (idx >= 0),
    genome TEXT NOT NULL,
    bits TEXT NOT NULL,
    parents TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ({", ".join(repr(o) for o in OPS)})),
    changed INTEGER NOT NULL,
    structure_key TEXT NOT NULL,
    params INTEGER,
    macs INTEGER,
    fitness REAL,
    PRIMARY KEY (gen, idx)
);
CREATE TABLE evaluations (
    gen INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s) for s in STATES)})),
    seed INTEGER NOT NULL,
    accuracy REAL,
    loss REAL,
    seconds REAL,
    device TEXT,
    reused INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    test_accuracy REAL,
    PRIMARY KEY (gen, idx),
    FOREIGN KEY (gen, idx) REFERENCES individuals(gen, idx)
);
CREATE INDEX evaluations_state ON evaluations(state);
CREATE INDEX individuals_bits ON individuals(bits);
CREATE INDEX individuals_key ON individuals(structure_key);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    time REAL NOT NULL
);
"""


def db_path(path: str | Path) -> Path:
    """The database file of a run directory (``path`` may also name the file)."""
    path = Path(path)
    return path if path.name == DB_NAME else path / DB_NAME


def is_run_dir(path: str | Path) -> bool:
    return db_path(path).is_file()


class RunStore:
    """A run directory. ``RunStore(path)`` opens an existing run for writing
    (taking the directory's lock); ``readonly=True`` opens it for reading
    only, without a lock, and may be used while another process writes.
    :meth:`create` makes a new run.
    """

    def __init__(self, path: str | Path, readonly: bool = False, _create: bool = False):
        self.db = db_path(path)
        self.dir = self.db.parent
        self.readonly = readonly
        self._lock_fd: int | None = None
        self._conn: sqlite3.Connection | None = None
        self.version = SCHEMA_VERSION
        """The schema version of the open database (an old one read-only stays as it is)."""
        if not _create and not self.db.is_file():
            raise UsageError(f"{self.dir} is not a genet-lab run directory (no {DB_NAME} in it)")
        if not readonly:
            self._lock()
        try:
            if readonly:
                self._conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30,
                                             check_same_thread=False, isolation_level=None)
            else:
                self._conn = sqlite3.connect(self.db, timeout=30, check_same_thread=False, isolation_level=None)
                self.conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a killed process; only power loss may drop the last commit.
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.row_factory = sqlite3.Row
            if not _create:
                self._check_schema()
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, kind: str, seed: int, config: Mapping[str, Any]) -> RunStore:
        """Make a new run in directory ``path`` (created if missing; must not hold a run)."""
        directory = Path(path)
        if directory.name == DB_NAME:
            directory = directory.parent
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"run directory {directory} is a file")
        if is_run_dir(directory):
            raise UsageError(f"{directory} already holds a run; use --resume {directory} or another --run-dir")
        directory.mkdir(parents=True, exist_ok=True)
        store = cls(directory, _create=True)
        try:
            if store.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                # another process created it between our check and our lock
                raise UsageError(f"{directory} already holds a run; use --resume {directory} or another --run-dir")
            with store.transaction() as c:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                c.execute("INSERT INTO run (id, kind, seed, config, created, state) VALUES (1, ?, ?, ?, ?, 'running')",
                          (kind, int(seed), json.dumps(config, sort_keys=True), time.time()))
        except BaseException:
            store.close()
            raise
        return store

    def _lock(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # A writer never follows a symlink inside the run directory: the lock is truncated and
        # the database written, so a planted link would let a run write outside its folder.
        for name in (LOCK_NAME, DB_NAME):
            if (self.dir / name).is_symlink():
                raise UsageError(f"{self.dir / name} is a symbolic link; a run directory's files must be "
                                 "plain files (copy the run instead of linking its files)")
        fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UsageError(
                f"run directory {self.dir} is being written by {holder}; "
                "wait for it to finish or stop it (readers may open it read-only)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._lock_fd = fd

    def _check_schema(self) -> None:
        try:
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.db} is not a readable genet-lab run database ({exc})") from None
        version = row[0] if row else None
        if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise UsageError(
                f"{self.db} has run-store schema version {version}, this genet-lab reads versions 1 to "
                f"{SCHEMA_VERSION}; use the genet-lab release that wrote it"
            )
        self.version = version
        if version < SCHEMA_VERSION and not self.readonly:
            self._migrate(version)

    def _migrate(self, version: int) -> None:
        """Bring an older store up to :data:`SCHEMA_VERSION` in one transaction (all or nothing)."""
        with self.transaction() as c:
            for v in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[v]:
                    c.execute(stmt)
            c.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION,))
        self.version = SCHEMA_VERSION

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (tests and this module only: readers use the methods below)."""
        if self._conn is None:
            raise UsageError(f"run store {self.dir} is closed")
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``with store.transaction() as c:`` commits on success, rolls back on any error."""
        if self.readonly:
            raise UsageError(f"run store {self.dir} was opened read-only")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): a second ROLLBACK
                # would raise and hide the real error.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "full" in text or "disk I/O" in text:
                raise UsageError(
                    f"run store {self.dir}: {text}; nothing was half-written and every finished evaluation "
                    f"is kept: free some space, then continue with --resume {self.dir}") from None
            raise

    # -- writing (the engine) --------------------------------------------------------
    def _event(self, c: sqlite3.Connection, event: object) -> None:
        data = ev.to_dict(event)
        c.execute("INSERT INTO events (type, data, time) VALUES (?, ?, ?)",
                  (data["type"], json.dumps(data), time.time()))

    def add_event(self, event: object) -> None:
        with self.transaction() as c:
            self._event(c, event)

    def add_generation(self, gen: int, rows: Sequence[Mapping[str, Any]], rng_state: Mapping[str, Any],
                       event: object = None) -> None:
        """Store generation ``gen``: its individuals, one pending evaluation each, and
        the RNG state after breeding it, all in one transaction.

        Each row: genome, bits, parents (list of indices in gen-1), op, changed,
        structure_key, params, macs, seed.
        """
        now = time.time()
        with self.transaction() as c:
            c.execute("INSERT INTO generations (gen, rng_state, started) VALUES (?, ?, ?)",
                      (gen, json.dumps(rng_state), now))
            for i, r in enumerate(rows):
                c.execute(
                    "INSERT INTO individuals (gen, idx, genome, bits, parents, op, changed, structure_key, params,"
                    " macs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (gen, i, r["genome"], r["bits"], json.dumps(r["parents"]), r["op"], int(r["changed"]),
                     r["structure_key"], r.get("params"), r.get("macs")))
                c.execute("INSERT INTO evaluations (gen, idx, state, seed) VALUES (?, ?, 'pending', ?)",
                          (gen, i, int(r["seed"])))
            if event is not None:
                self._event(c, event)

    def start_evaluation(self, gen: int, idx: int) -> None:
        with self.transaction() as c:
            cur = c.execute("UPDATE evaluations SET state='running', started=?, attempts=attempts+1"
                            " WHERE gen=? AND idx=? AND state='pending'", (time.time(), gen, idx))
            if cur.rowcount != 1:
                raise RuntimeError(f"evaluation {gen}:{idx} is not pending")

    def finish_evaluation(self, gen: int, idx: int, *, accuracy: float, loss: float | None, seconds: float,
                          device: str, failed: bool = False, reused: bool = False, error: str | None = None,
                          test_accuracy: float | None = None, event: object = None) -> None:
        state = "failed" if failed else "done"
        test = None if test_accuracy is None else float(test_accuracy)
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE evaluations SET state=?, accuracy=?, loss=?, seconds=?, device=?, reused=?, error=?,"
                " finished=?, test_accuracy=? WHERE gen=? AND idx=? AND state IN ('pending', 'running')",
                (state, float(accuracy), loss, float(seconds), device, int(reused), error, time.time(), test,
                 gen, idx))
            if cur.rowcount != 1:
                raise RuntimeError(f"evaluation {gen}:{idx} is already finished")
            if event is not None:
                self._event(c, event)

    def reset_running(self) -> int:
        """Evaluations left running by a killed writer go back to pending; returns how many."""
        with self.transaction() as c:
            return c.execute("UPDATE evaluations SET state='pending', started=NULL WHERE state='running'").rowcount

    def finish_generation(self, gen: int, fitness: Sequence[float], stats: Mapping[str, Any],
                          event: object = None) -> None:
        with self.transaction() as c:
            for i, f in enumerate(fitness):
                c.execute("UPDATE individuals SET fitness=? WHERE gen=? AND idx=?", (float(f), gen, i))
            c.execute(
                "UPDATE generations SET finished=?, max=?, min=?, mean=?, median=?, std=?, best=?, best_index=?,"
                " evaluations=?, reused=? WHERE gen=?",
                (time.time(), stats["max"], stats["min"], stats["mean"], stats["median"], stats["std"],
                 stats["best"], stats["best_index"], stats["evaluations"], stats["reused"], gen))
            if event is not None:
                self._event(c, event)

    def finish_run(self, event: object = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE run SET state='finished', finished=? WHERE id=1", (time.time(),))
            if event is not None:
                self._event(c, event)

    def set_config(self, config: Mapping[str, Any]) -> None:
        """Replace the stored config (used to extend T on resume)."""
        with self.transaction() as c:
            c.execute("UPDATE run SET config=?, state='running', finished=NULL WHERE id=1",
                      (json.dumps(config, sort_keys=True),))

    # -- reading (front ends) ----------------------------------------------------------
    def _run_row(self) -> sqlite3.Row:
        return self.conn.execute("SELECT * FROM run WHERE id=1").fetchone()

    def config(self) -> dict[str, Any]:
        """The search config as stored (see ``SearchConfig.to_dict``), plus ``kind`` and ``seed``."""
        row = self._run_row()
        return {**json.loads(row["config"]), "kind": row["kind"], "seed": row["seed"]}

    def generations(self, finished_only: bool = True) -> list[GenerationStats]:
        """Per-generation statistics of fitness (Table 1's columns), oldest first; the
        unfinished generation too when ``finished_only`` is False (its statistics None)."""
        q = ("SELECT gen, max, min, mean, median, std, best, best_index, evaluations, reused, started, finished"
             " FROM generations")
        if finished_only:
            q += " WHERE finished IS NOT NULL"
        return [GenerationStats(**dict(r)) for r in self.conn.execute(q + " ORDER BY gen")]

    def rng_state(self, gen: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT rng_state FROM generations WHERE gen=?", (gen,)).fetchone()
        if row is None:
            raise KeyError(f"no generation {gen}")
        return json.loads(row[0])

    def individuals(self, gen: int | None = None) -> list[Individual]:
        """Individuals with their evaluation, by generation then index (see :class:`Individual`)."""
        q = ("SELECT i.gen, i.idx AS 'index', i.genome, i.bits, i.parents, i.op, i.changed, i.fitness,"
             " i.structure_key, i.params, i.macs, e.state, e.accuracy, e.loss, e.seconds, e.device, e.reused,"
             f" e.error, e.seed, {'e.test_accuracy' if self.version >= 2 else 'NULL AS test_accuracy'}"
             " FROM individuals i JOIN evaluations e ON e.gen=i.gen AND e.idx=i.idx")
        args: tuple[int, ...] = ()
        if gen is not None:
            q += " WHERE i.gen=?"
            args = (gen,)
        out = []
        for r in self.conn.execute(q + " ORDER BY i.gen, i.idx", args):
            d = dict(r)
            d["parents"] = tuple(json.loads(d["parents"]))
            d["changed"] = bool(d["changed"])
            d["reused"] = bool(d["reused"])
            out.append(Individual(**d))
        return out

    def evaluation_counts(self) -> tuple[int, int]:
        """(trained, reused) evaluations of the whole run (a pending one counts as trained)."""
        trained, reused = self.conn.execute(
            "SELECT COUNT(*) FILTER (WHERE reused=0), COUNT(*) FILTER (WHERE reused=1) FROM evaluations").fetchone()
        return int(trained), int(reused)

    def evaluation_log(self) -> dict[tuple[int, int], tuple[str, float | None, float | None]]:
        """(gen, index) -> (state, accuracy, finished time) of every evaluation: what a check that
        a finished evaluation never changes compares."""
        return {(g, i): (state, acc, fin) for g, i, state, acc, fin in self.conn.execute(
            "SELECT gen, idx, state, accuracy, finished FROM evaluations")}

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``ok`` for an intact database."""
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def occurrences(self, gen: int, by: str = "bits") -> dict[str, list[float]]:
        """Finished, trained (not reused) evaluations of generations <= gen, grouped by
        ``bits`` or ``structure_key``, in (gen, index) order."""
        if by not in ("bits", "structure_key"):
            raise ValueError("group by bits or structure_key")
        groups: dict[str, list[float]] = {}
        q = (f"SELECT i.{by}, e.accuracy FROM individuals i JOIN evaluations e ON e.gen=i.gen AND e.idx=i.idx"
             " WHERE i.gen<=? AND e.state IN ('done', 'failed') AND e.reused=0 ORDER BY i.gen, i.idx")
        for key, acc in self.conn.execute(q, (gen,)):
            groups.setdefault(key, []).append(acc)
        return groups

    def events_since(self, seq: int = 0, limit: int | None = None) -> list[tuple[int, object]]:
        """Stored events with sequence number > ``seq``, as (seq, event dataclass)."""
        q = "SELECT seq, data FROM events WHERE seq>? ORDER BY seq"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        return [(s, ev.from_dict(json.loads(d))) for s, d in self.conn.execute(q, (seq,))]

    def writer_alive(self) -> bool:
        """Whether some process holds this run's write lock right now."""
        if self._lock_fd is not None:
            return True
        lock = self.dir / LOCK_NAME
        if not lock.exists():
            return False
        fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock we may have taken
        return False

    def status(self) -> RunStatus:
        """Where the run stands (see :class:`RunStatus`); ``state`` is 'stopped' for an
        unfinished run with no writer."""
        run = self._run_row()
        cfg = json.loads(run["config"])
        n, t = cfg.get("population"), cfg.get("generations")
        done = self.conn.execute("SELECT COUNT(*) FROM evaluations WHERE state IN ('done', 'failed')").fetchone()[0]
        last = self.conn.execute("SELECT MAX(gen) FROM generations").fetchone()[0]
        best = self.conn.execute(
            "SELECT genome, fitness FROM individuals WHERE fitness IS NOT NULL ORDER BY fitness DESC, gen, idx LIMIT 1"
        ).fetchone()
        state = run["state"]
        if state == "running" and not self.writer_alive():
            state = "stopped"
        return RunStatus(
            state=state, kind=run["kind"], gen=last, generations=t, population=n,
            evaluations_done=done, evaluations_total=n * (t + 1) if n and t is not None else None,
            best=best["genome"] if best else None, best_fitness=best["fitness"] if best else None,
        )
