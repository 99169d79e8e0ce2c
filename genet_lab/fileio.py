"""Writing user-named files safely (no torch): a temporary file, then a rename; and opening an
SQLite database for reading after its writer was killed."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from genet_lab.errors import UsageError


def current_umask() -> int:
    """The process's umask (read without changing it where Linux shows it in /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes, what: str = "output") -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a reader or a crash
    never sees a partial file. ``what`` names the file in the one-line errors. The file gets the
    mode of the file it replaces, or a new file's (0666 less the umask), not the temporary's 0600."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} path {path} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{what} folder {parent} does not exist")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666 & ~current_umask()
    remove_stale_temporaries(parent, path.name)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=temporary_prefix(path.name), suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def temporary_prefix(name: str) -> str:
    """The prefix of a temporary file or folder that will become ``name``: ``.NAME.PID.`` (the
    writer's pid, so that a later writer knows whether it was left by a killed one)."""
    return f".{name}.{os.getpid()}."


def remove_stale_temporaries(folder: Path, name: str) -> int:
    """Remove what writers of ``name`` killed before their rename left in ``folder``
    (``.NAME.PID.*.tmp`` files or folders whose process is gone); returns how many. A temporary
    of a live writer, or one that cannot be removed, stays."""
    import shutil

    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    head = f".{name}."
    for entry in entries:
        rest = entry.name[len(head) :]
        if not entry.name.startswith(head) or not entry.name.endswith(".tmp"):
            continue
        pid = rest.split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def why_not_written(exc: OSError) -> str:
    """What an ``OSError`` of a write means and what to do, in words: free some space only for a
    full disk or quota; too many open files names the limit; otherwise the system's reason."""
    import errno

    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{reason}; free some space"
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        return f"{reason}: this process may not open more files; raise the limit ('ulimit -n')"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{reason}; choose a folder you may write"
    return reason


def read_json_cache(path: Path) -> dict:
    """A JSON cache file as a dict; missing or unreadable means empty (it is only a cache)."""
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_json_cache(path: Path, data: dict) -> None:
    """Replace a JSON cache file in one rename; a cache that cannot be written is skipped."""
    import json

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


def connect_reader(db: Path, **kw: Any) -> sqlite3.Connection:
    """A read-only connection to the SQLite database ``db`` (``uri=True`` is set here; other
    keyword arguments go to :func:`sqlite3.connect`).

    A writer killed in the middle of a rollback-journal transaction leaves a hot journal that a
    read-only connection may not roll back (SQLite's ``SQLITE_READONLY_ROLLBACK``, "attempt to
    write a readonly database", and ``..._RECOVERY`` for a WAL index): where the folder and the
    file are writable, one read-write connection reads once, which makes SQLite restore the last
    committed state, and the reader opens again. In a folder nobody may write, SQLite cannot make
    the ``-shm`` file a WAL reader needs; nobody can write there either, so the file is read as
    an unchanging one (``immutable=1``). Any other error is raised at the first query, as usual.
    """
    uri = f"file:{urllib.parse.quote(str(Path(db).absolute()))}"
    kw["uri"] = True
    conn = sqlite3.connect(uri + "?mode=ro", **kw)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code == sqlite3.SQLITE_BUSY:
            return conn  # a writer holds it for a moment: the caller's queries wait or retry
        conn.close()
        folder_writable = os.access(Path(db).absolute().parent, os.W_OK)
        if code == sqlite3.SQLITE_READONLY and folder_writable and os.access(db, os.W_OK):
            fixer = sqlite3.connect(uri + "?mode=rw", uri=True, timeout=kw.get("timeout", 5.0))
            try:
                fixer.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            finally:
                fixer.close()
            return sqlite3.connect(uri + "?mode=ro", **kw)
        if not folder_writable:
            return sqlite3.connect(uri + "?mode=ro&immutable=1", **kw)
        return sqlite3.connect(uri + "?mode=ro", **kw)  # the caller's first query raises the error
    except sqlite3.DatabaseError:
        return conn  # not a database: the caller's first query says so in its own words
