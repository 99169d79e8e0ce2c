"""The run store: one directory per run, holding a SQLite database in WAL mode.

Everything a run needs to be resumed, reported or watched lives here: the
search config, the seed, the RNG state after each generation was bred, every
individual with its parents and the operation that made it, every evaluation
with its state machine (pending -> running -> done | failed), complexity
figures, per-generation statistics (Table 1's columns) and the event log.

Writes go through :meth:`RunStore.transaction` (commit on success, rollback on
error); one writer per directory is enforced with an ``flock`` on the run
directory itself (a deleted or replaced file cannot defeat it) and on
``run.lock``, which names the writer's pid; readers (the TUI, a notebook,
``genet-lab report``) open the store with ``readonly=True``, may poll while a
run is being written, and can read a run in a folder they may not write.
A new store is built under a temporary name and renamed into place once its
schema is committed, so a killed creation leaves no half-made ``run.sqlite``.
Readers get the typed records of :mod:`genet_lab.evolution.records`; a damaged
database is a one-line :class:`~genet_lab.errors.UsageError`, never a
``sqlite3`` traceback. This is the only module that speaks SQL. Knows sqlite3
and JSON only: no torch, no numpy.

With :mod:`genet_lab.evolution.queries` (the read API, Optuna's storage/queries line) it is the
only code that speaks SQL: a test checks that no SQL lives anywhere else.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import math
import os
import signal
import sqlite3
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from genet_lab.errors import ConfigError, UsageError, show
from genet_lab.evolution import events as ev
from genet_lab.evolution.queries import OPS, STATES, StoreQueries, _sqlite_kind, _transient  # noqa: F401
from genet_lab.fileio import connect_reader, why_not_written
from genet_lab.processes import process_state

SCHEMA_VERSION = 3
"""1: the first release; 2: ``evaluations.test_accuracy`` (``eval_test``); 3: ``run.data``, the
fingerprint of the data set a run measures on. An older store opened for writing is migrated in
place on its first write; opened read-only it is read as it is."""
MIGRATIONS = {
    1: ("ALTER TABLE evaluations ADD COLUMN test_accuracy REAL",),
    2: ("ALTER TABLE run ADD COLUMN data TEXT",),
}
"""Statements that take a store from version v to v + 1."""
DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
REAPERS = ("systemd", "init", "tini", "dumb-init", "catatonit")
"""Processes that adopt orphans: a stopped writer whose parent is one of these was left behind."""
LOCK_TRIES = 25
"""Attempts (10 ms apart) to take a run's lock: a reader checking for a writer holds it for microseconds."""

_SCHEMA = f"""
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kind TEXT NOT NULL CHECK (kind IN ('ga', 'random', 'aging', 'local')),  -- strategies.KINDS
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    state TEXT NOT NULL CHECK (state IN ('running', 'finished')),
    data TEXT
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


@functools.cache
def _columns_of(version: int) -> dict[str, tuple[str, ...]]:
    """The columns each table of a store at schema ``version`` has (the current schema less the
    columns later migrations add)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_SCHEMA)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {
            t: [str(r[1]) for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables if t != "sqlite_sequence"
        }
    finally:
        conn.close()
    for v in range(version, SCHEMA_VERSION):
        for stmt in MIGRATIONS[v]:
            table, column = stmt.split()[2], stmt.split()[5]
            out[table].remove(column)
    return {t: tuple(cols) for t, cols in out.items()}


def db_path(path: str | Path) -> Path:
    """The database file of a run directory (``path`` may also name the file)."""
    path = Path(path)
    return path if path.name == DB_NAME else path / DB_NAME


def is_run_dir(path: str | Path) -> bool:
    return db_path(path).is_file()


class _Held(UsageError):
    """Another process holds a run's write lock."""


class RunExists(ConfigError):
    """The directory asked for already holds a run (``directory``): resume it or choose another."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        super().__init__(
            "run_dir",
            show(directory),
            template="{value} already holds a run; use {resume} {value} or another {option}",
            also=("resume",),
        )


def _empty_database(db: Path) -> bool:
    """Whether ``db`` is a 0-byte file or an SQLite database without tables: what an
    interrupted creation by an older genet-lab left behind. Anything unreadable is not empty."""
    try:
        if db.stat().st_size == 0:
            return True
        conn = connect_reader(db)
        try:
            return bool(conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0)
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        return False


def _remove_db_files(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db}{suffix}")


def check_name(directory: str | Path) -> None:
    """Refuse a run directory whose path is not valid UTF-8 (a name made of raw bytes, such as
    ``$'\\xff_run'``): SQLite, JSON, the report and every message need text, so such a run could
    be made but not reported, resumed or transferred."""
    text = str(directory)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise UsageError(
            f"run directory {show(shown)} has a name that is not valid UTF-8; genet-lab needs run paths "
            "it can write as text: choose (or rename it to) a name in UTF-8"
        ) from None


def check_new_run_dir(path: str | Path) -> Path:
    """The run directory a new run in ``path`` would use, if :meth:`RunStore.create` would accept it
    (its name, not a file, no run in it, no symbolic link where the run writes); nothing is made.
    What ``--dry-run`` checks."""
    directory = Path(path)
    if directory.name == DB_NAME:
        directory = directory.parent
    check_name(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"run directory {show(directory)} is a file")
    db = directory / DB_NAME
    for name in (LOCK_NAME, DB_NAME):
        if (directory / name).is_symlink():
            raise _symlink_error(directory / name)
    if db.exists() and not db.is_file():
        raise ConfigError(
            "run_dir",
            show(directory),
            template=_literal(show(db)) + " is not a file, so {value} cannot hold a run; choose another {option}",
        )
    if is_run_dir(directory) and not _empty_database(db):
        raise RunExists(directory)
    return directory


def _symlink_error(path: Path) -> UsageError:
    return UsageError(
        f"{show(path)} is a symbolic link; a run directory's files must be "
        "plain files (copy the run instead of linking its files)"
    )


def _orphan_stopped(pid: int) -> bool:
    """Whether ``pid`` is a stopped (SIGSTOPped: paused) process whose parent is gone: re-parented
    to pid 1 or to an init-like sub-reaper. Nothing will ever continue it."""
    info = process_state(pid)
    if info is None or info[0] not in ("T", "t"):
        return False
    if info[1] <= 1:
        return True
    try:
        comm = Path(f"/proc/{info[1]}/comm").read_text().strip()
    except OSError:
        return True  # its parent has just gone
    return comm in REAPERS


def _end_orphan(pid: int, wait: float = 10.0) -> bool:
    """End the stopped, orphaned writer ``pid`` (see :func:`_orphan_stopped`): SIGTERM, then SIGCONT
    so that it acts on it (it closes its store as on Ctrl-C), SIGKILL after ``wait`` seconds.
    True once it is gone; False when it may not be signalled (another user's)."""
    try:
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        state = process_state(pid)
        if state is None or state[0] == "Z":
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    return True


def _flock(fd: int) -> bool:
    """Take an exclusive flock on ``fd``, retrying briefly; False when another process holds it."""
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < LOCK_TRIES:
                time.sleep(0.01)
    return False


def _locked(path: Path, directory: bool = False) -> bool:
    """Whether some process holds an flock on ``path`` (a shared lock taken and dropped at once)."""
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def _literal(text: str) -> str:
    """``text`` inside a :class:`ConfigError` template (its braces are not placeholders)."""
    return text.replace("{", "{{").replace("}", "}}")


def _read_only_message(directory: Path) -> str:
    return (
        f"run directory {show(directory)} is read-only; a run in it can be read (report, tui) but not "
        "written: copy the run to a writable folder and resume the copy"
    )


class RunStore(StoreQueries):
    """A run directory. ``RunStore(path)`` opens an existing run for writing
    (taking the directory's lock); ``readonly=True`` opens it for reading
    only, without a lock, and may be used while another process writes.
    :meth:`create` makes a new run.
    """

    def __init__(self, path: str | Path, readonly: bool = False, _create: bool = False):
        self.db = db_path(path)
        self.dir = self.db.parent
        check_name(self.dir)
        self.readonly = readonly
        self._lock_fd: int | None = None
        self._dir_fd: int | None = None
        self._conn: sqlite3.Connection | None = None
        self.version = SCHEMA_VERSION
        """The schema version of the open database (an old one stays as it is until the first write)."""
        if _create:
            self._lock()  # create() builds the database under this lock
            return
        if not self.db.is_file():
            if self.db.exists():
                raise UsageError(f"{show(self.db)} is not a file; a run directory holds its database there")
            raise UsageError(f"{show(self.dir)} is not a genet-lab run directory (no {DB_NAME} in it)")
        if not readonly:
            self._lock()
        try:
            if readonly:
                self._conn = self._connect_readonly()
                self._conn.row_factory = sqlite3.Row
            else:
                self._connect_writer()
            self._check_schema()
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------
    def _connect_readonly(self) -> sqlite3.Connection:
        return connect_reader(self.db, timeout=30, check_same_thread=False, isolation_level=None)

    def _connect_writer(self) -> None:
        self._conn = sqlite3.connect(self.db, timeout=30, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only power loss may drop the last commit.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.row_factory = sqlite3.Row

    @classmethod
    def create(
        cls, path: str | Path, kind: str, seed: int, config: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> RunStore:
        """Make a new run in directory ``path`` (created if missing; must not hold a run).

        The database is built under a temporary name and renamed into place once its schema and
        run record are committed: a creation killed at any moment leaves either no ``run.sqlite``
        (the same directory works again) or a whole one. A creation that fails (a full disk)
        removes what it made and says so in one line. ``data`` is the data set's fingerprint.
        """
        directory = check_new_run_dir(path)
        db = directory / DB_NAME
        missing = [p for p in (directory, *directory.parents) if not p.exists()]
        lock_existed = (directory / LOCK_NAME).exists()
        store: RunStore | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            store = cls(directory, _create=True)
            store._build(kind, seed, config, data)
            store._connect_writer()
        except BaseException as exc:
            if store is not None:
                store.close()
            if not isinstance(exc, RunExists):
                _remove_db_files(db)
            _remove_db_files(directory / f".{DB_NAME}.{os.getpid()}.tmp")
            if not lock_existed:
                with contextlib.suppress(OSError):
                    os.unlink(directory / LOCK_NAME)
            for p in missing:  # deepest first; only folders this call made, and only empty ones
                with contextlib.suppress(OSError):
                    p.rmdir()
            if isinstance(exc, (sqlite3.Error, OSError)) and not isinstance(exc, UsageError):
                if isinstance(exc, OSError):  # in words: a full disk, too many open files, permissions
                    why = why_not_written(exc)
                elif _sqlite_kind(exc) == "full":
                    why = f"{exc}; free some space"
                else:
                    why = str(exc)
                raise ConfigError(
                    "run_dir",
                    show(directory),
                    template=f"cannot create the run in {{value}}: {_literal(why)}; nothing was left behind "
                    "(or choose another {option})",
                ) from None
            raise
        return store

    def _build(self, kind: str, seed: int, config: Mapping[str, Any], data: Mapping[str, Any] | None) -> None:
        """Write the schema and the run record to a temporary file, then rename it to ``run.sqlite``
        (the caller holds the lock)."""
        if self.db.is_file():
            if not _empty_database(self.db):
                raise RunExists(self.dir)  # another process created it between our check and our lock
            _remove_db_files(self.db)  # an older genet-lab's interrupted creation: nothing in it
        for stale in self.dir.glob(f".{DB_NAME}.*.tmp*"):  # left by a killed creation (we hold the lock)
            with contextlib.suppress(OSError):
                stale.unlink()
        tmp = self.dir / f".{DB_NAME}.{os.getpid()}.tmp"
        # WAL is set here, before anything is stored, so that run.sqlite is never converted in
        # place (a conversion killed half-way leaves a hot journal). Closing the connection moves
        # every committed byte into the one file that is renamed.
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            conn.execute(
                "INSERT INTO run (id, kind, seed, config, created, state, data) VALUES (1, ?, ?, ?, ?, 'running', ?)",
                (
                    kind,
                    int(seed),
                    json.dumps(config, sort_keys=True),
                    time.time(),
                    None if data is None else json.dumps(data, sort_keys=True),
                ),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        os.replace(tmp, self.db)

    def check_writable(self) -> None:
        """What opening this run for writing would refuse, checked without taking its lock (a
        ``--dry-run`` of ``--resume`` on a store opened read-only): a planted link, a lock that is
        not a plain file, a read-only folder, another writer (a paused one whose front end is gone
        would be taken over, so it passes)."""
        self._check_lockable()
        pid = self._holder_pid()
        if self.writer_alive() and not (pid is not None and _orphan_stopped(pid)):
            raise _Held(self._held_message())

    def _lock(self) -> None:
        self._check_lockable()
        try:
            self._take_lock()
        except _Held:
            pid = self._holder_pid()
            if pid is None or not _orphan_stopped(pid) or not _end_orphan(pid):
                raise
            self._take_lock()  # the paused writer whose front end died is gone: the run is ours

    def _check_lockable(self) -> None:
        # A writer never follows a symlink inside the run directory: the lock is truncated and
        # the database written, so a planted link would let a run write outside its folder.
        for name in (LOCK_NAME, DB_NAME):
            if (self.dir / name).is_symlink():
                raise _symlink_error(self.dir / name)
        lock = self.dir / LOCK_NAME
        if lock.exists() and not lock.is_file():  # a FIFO would block every reader of the pid
            raise UsageError(
                f"{show(lock)} is not a plain file; remove it (no genet-lab process uses it) and try again"
            )
        if not os.access(self.dir, os.W_OK):
            raise UsageError(_read_only_message(self.dir))

    def _take_lock(self) -> None:
        # The lock that counts is on the directory itself: deleting or replacing run.lock cannot
        # let a second writer in. run.lock names the writer and keeps older genet-lab versions out.
        dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        fd = None
        try:
            if _flock(dir_fd):
                fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
                if _flock(fd):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"pid {os.getpid()}".encode())
                    self._lock_fd, self._dir_fd = fd, dir_fd
                    return
            raise _Held(self._held_message())
        except BaseException as exc:
            if fd is not None:
                os.close(fd)
            os.close(dir_fd)
            if isinstance(exc, OSError) and exc.errno in (13, 30):  # EACCES, EROFS
                raise UsageError(_read_only_message(self.dir)) from None
            raise

    def _held_message(self) -> str:
        holder, pid = self._holder(), self._holder_pid()
        info = None if pid is None else process_state(pid)
        paused = f" (paused: 'kill -CONT {pid}' continues it, 'kill {pid}' ends it)" if info and info[0] == "T" else ""
        return (
            f"run directory {show(self.dir)} is being written by {holder}{paused}; "
            "wait for it to finish or stop it (readers may open it read-only)"
        )

    def _holder(self) -> str:
        try:
            fd = os.open(self.dir / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return "another process"
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "another process"
            return os.read(fd, 64).decode(errors="replace").strip() or "another process"
        finally:
            os.close(fd)

    def _holder_pid(self) -> int | None:
        words = self._holder().split()
        return int(words[1]) if len(words) == 2 and words[0] == "pid" and words[1].isdigit() else None

    def _disk_error(self, exc: sqlite3.Error) -> ConfigError:
        return ConfigError(
            "resume",
            show(self.dir),
            template=f"run store {{value}}: {_literal(str(exc))}; nothing was half-written and every finished "
            "evaluation is kept: free some space, then continue with {option} {value}",
        )

    def _damaged(self, exc: object) -> str:
        return (
            f"{show(self.db)} is damaged ({exc}); genet-lab cannot read this run: restore it from a copy "
            "('sqlite3 FILE .recover' may save what is left)"
        )

    def _check_schema(self) -> None:
        try:
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            if _transient(exc):
                raise
            if _empty_database(self.db):
                raise ConfigError(
                    "run_dir",
                    show(self.dir),
                    template="{value} holds no run: its creation was interrupted before anything "
                    "was stored; start it again with {option} {value}",
                ) from None
            raise UsageError(f"{show(self.db)} is not a readable genet-lab run database ({exc})") from None
        version = row[0] if row else None
        if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise UsageError(
                f"{show(self.db)} has run-store schema version {version}, this genet-lab reads versions 1 to "
                f"{SCHEMA_VERSION}; use the genet-lab release that wrote it"
            )
        self.version = version
        for table, wanted in _columns_of(version).items():
            have = self._columns(table)
            lacking = [c for c in wanted if c not in have]
            if lacking:
                raise UsageError(
                    f"{show(self.db)} is damaged: it says run-store schema version {version}, but its table "
                    f"{table} lacks {', '.join(lacking)}; restore the run from a copy"
                )

    def _columns(self, table: str) -> set[str]:
        return {str(r[1]) for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def _migrate(self) -> None:
        """Bring an older store up to :data:`SCHEMA_VERSION` in one transaction (all or nothing)."""
        with self._transaction() as c:
            for v in range(self.version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[v]:
                    table, column = stmt.split()[2], stmt.split()[5]  # ALTER TABLE t ADD COLUMN c ...
                    if column not in self._columns(table):  # a store edited by hand may have it already
                        c.execute(stmt)
            c.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION,))
        self.version = SCHEMA_VERSION

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (tests and this module only: readers use the methods below)."""
        if self._conn is None:
            raise UsageError(f"run store {show(self.dir)} is closed")
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        for name in ("_lock_fd", "_dir_fd"):
            fd = getattr(self, name)
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``with store.transaction() as c:`` commits on success, rolls back on any error. The first
        write to an older store migrates it first (so a refused command changes nothing)."""
        if self.readonly:
            raise UsageError(f"run store {show(self.dir)} was opened read-only")
        if self.version < SCHEMA_VERSION:
            self._migrate()
        with self._transaction() as c:
            yield c

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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
            kind = _sqlite_kind(exc)
            if kind == "full":
                raise self._disk_error(exc) from None
            if kind == "readonly":
                raise UsageError(_read_only_message(self.dir)) from None
            raise
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # a constraint broken is a bug, not damage
                raise
            raise UsageError(self._damaged(exc)) from None

    # -- writing (the engine) --------------------------------------------------------
    def _event(self, c: sqlite3.Connection, event: object) -> None:
        data = ev.to_dict(event)
        c.execute(
            "INSERT INTO events (type, data, time) VALUES (?, ?, ?)", (data["type"], json.dumps(data), time.time())
        )

    def add_event(self, event: object) -> None:
        with self.transaction() as c:
            self._event(c, event)

    def add_generation(
        self, gen: int, rows: Sequence[Mapping[str, Any]], rng_state: Mapping[str, Any], event: object = None
    ) -> None:
        """Store generation ``gen``: its individuals, one pending evaluation each, and
        the RNG state after breeding it, all in one transaction.

        Each row: genome, bits, parents (list of indices in gen-1), op, changed,
        structure_key, params, macs, seed.
        """
        now = time.time()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO generations (gen, rng_state, started) VALUES (?, ?, ?)", (gen, json.dumps(rng_state), now)
            )
            for i, r in enumerate(rows):
                c.execute(
                    "INSERT INTO individuals (gen, idx, genome, bits, parents, op, changed, structure_key, params,"
                    " macs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        gen,
                        i,
                        r["genome"],
                        r["bits"],
                        json.dumps(r["parents"]),
                        r["op"],
                        int(r["changed"]),
                        r["structure_key"],
                        r.get("params"),
                        r.get("macs"),
                    ),
                )
                c.execute(
                    "INSERT INTO evaluations (gen, idx, state, seed) VALUES (?, ?, 'pending', ?)",
                    (gen, i, int(r["seed"])),
                )
            if event is not None:
                self._event(c, event)

    def start_evaluation(self, gen: int, idx: int) -> None:
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE evaluations SET state='running', started=?, attempts=attempts+1"
                " WHERE gen=? AND idx=? AND state='pending'",
                (time.time(), gen, idx),
            )
            if cur.rowcount != 1:
                raise RuntimeError(f"evaluation {gen}:{idx} is not pending")

    def finish_evaluation(
        self,
        gen: int,
        idx: int,
        *,
        accuracy: float,
        loss: float | None,
        seconds: float,
        device: str,
        failed: bool = False,
        reused: bool = False,
        error: str | None = None,
        test_accuracy: float | None = None,
        event: object = None,
    ) -> None:
        state = "failed" if failed else "done"
        if not math.isfinite(float(accuracy)):
            raise ValueError(
                f"the accuracy of evaluation {gen}:{idx} is {accuracy}, not a finite number; nothing was stored"
            )
        test = None if test_accuracy is None else float(test_accuracy)
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE evaluations SET state=?, accuracy=?, loss=?, seconds=?, device=?, reused=?, error=?,"
                " finished=?, test_accuracy=? WHERE gen=? AND idx=? AND state IN ('pending', 'running')",
                (state, float(accuracy), loss, float(seconds), device, int(reused), error, time.time(), test, gen, idx),
            )
            if cur.rowcount != 1:
                raise RuntimeError(f"evaluation {gen}:{idx} is already finished")
            if event is not None:
                self._event(c, event)

    def reset_running(self) -> int:
        """Evaluations left running by a killed writer go back to pending; returns how many."""
        with self.transaction() as c:
            return c.execute("UPDATE evaluations SET state='pending', started=NULL WHERE state='running'").rowcount

    def finish_generation(
        self, gen: int, fitness: Sequence[float], stats: Mapping[str, Any], event: object = None
    ) -> None:
        for i, f in enumerate(fitness):  # a non-finite fitness never enters a run (no statistic survives it)
            if not math.isfinite(float(f)):
                raise ValueError(f"the fitness of individual {gen}:{i} is {f}, not a finite number; nothing was stored")
        with self.transaction() as c:
            for i, f in enumerate(fitness):
                c.execute("UPDATE individuals SET fitness=? WHERE gen=? AND idx=?", (float(f), gen, i))
            c.execute(
                "UPDATE generations SET finished=?, max=?, min=?, mean=?, median=?, std=?, best=?, best_index=?,"
                " evaluations=?, reused=? WHERE gen=?",
                (
                    time.time(),
                    stats["max"],
                    stats["min"],
                    stats["mean"],
                    stats["median"],
                    stats["std"],
                    stats["best"],
                    stats["best_index"],
                    stats["evaluations"],
                    stats["reused"],
                    gen,
                ),
            )
            if event is not None:
                self._event(c, event)

    def finish_run(self, event: object = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE run SET state='finished', finished=? WHERE id=1", (time.time(),))
            if event is not None:
                self._event(c, event)

    def set_config(self, config: Mapping[str, Any]) -> None:
        """Replace the stored config (used to extend T on resume)."""
        self.update_run(config=config)

    def update_run(self, config: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None) -> None:
        """In one transaction: replace the stored config (to extend T on resume; the run is
        running again) and/or record the data set's fingerprint (a run made before it was stored)."""
        if config is None and data is None:
            return
        with self.transaction() as c:
            if config is not None:
                c.execute(
                    "UPDATE run SET config=?, state='running', finished=NULL WHERE id=1",
                    (json.dumps(config, sort_keys=True),),
                )
            if data is not None:
                c.execute("UPDATE run SET data=? WHERE id=1", (json.dumps(data, sort_keys=True),))

    def writer_alive(self) -> bool:
        """Whether some process holds this run's write lock right now."""
        if self._lock_fd is not None:
            return True
        # the directory's lock; run.lock's for a writer of an older genet-lab
        return _locked(self.dir, directory=True) or _locked(self.dir / LOCK_NAME)
