"""Writing user-named files safely (no torch): a temporary file, then a rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError


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
