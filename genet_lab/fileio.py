"""Writing user-named files safely (no torch): a temporary file, then a rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from genet_lab.errors import UsageError


def atomic_write(path: str | Path, data: bytes, what: str = "output") -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a reader or a crash
    never sees a partial file. ``what`` names the file in the one-line errors."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} path {path} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{what} folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
