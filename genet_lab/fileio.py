"""Writing user-named files safely (no torch): a temporary file, then a rename."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

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
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
