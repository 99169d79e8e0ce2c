"""The history of trainings: one JSON line per finished training, in the user's data folder.

The Train pane appends a line when a training ends (done, failed or cancelled) and lists
the past ones, so a curve can be reopened after the lab was closed. Each line is written
with one ``write`` on a file opened for appending, so two labs writing at once never
interleave inside a line; a line that cannot be read (a crash mid-write, an edit by hand)
is skipped and counted, never fatal. Knows neither Textual nor torch.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV = "GENET_LAB_DATA_DIR"
"""Overrides the folder of the history (tests point it at a temporary folder)."""

FILE = "trainings.jsonl"
KEEP = 200
"""How many past trainings the pane lists (the newest)."""


def data_dir() -> Path:
    """``$GENET_LAB_DATA_DIR``, else platformdirs' user data folder, else ``$XDG_DATA_HOME/genet-lab``
    (``~/.local/share/genet-lab``)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    try:
        import platformdirs
    except ImportError:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        return base / "genet-lab"
    return Path(platformdirs.user_data_dir("genet-lab", appauthor=False))


def history_path() -> Path:
    return data_dir() / FILE


@dataclass
class PastTraining:
    """One line of the history: what was trained, how it ended, and its curve."""

    genome: str
    dataset: str
    preset: str
    epochs: int | None
    state: str
    finished: float
    """Unix time the training ended."""
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    seconds: float | None = None
    error: str | None = None
    points: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    """(epochs done, loss, validation accuracy) per progress event."""

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "points": [list(p) for p in self.points]}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> PastTraining:
        """One line of the history, every field checked (a ValueError says which is wrong): a line
        written by hand or by another program must not reach the table, the plot or a label."""
        d: dict[str, Any] = json.loads(line)
        if not isinstance(d, dict):
            raise ValueError("not an object")
        points = d.get("points", [])
        if not isinstance(points, list):
            raise ValueError(f"points {points!r} is not a list")
        return cls(
            genome=_text(d, "genome"),
            dataset=_text(d, "dataset"),
            preset=_text(d, "preset"),
            epochs=_count(d, "epochs"),
            state=_text(d, "state"),
            finished=_time(d.get("finished")),
            val_accuracy=_number(d, "val_accuracy"),
            test_accuracy=_number(d, "test_accuracy"),
            params=_count(d, "params"),
            seconds=_number(d, "seconds"),
            error=_text(d, "error", none=True),
            points=[_point(p) for p in points],
        )


LATEST = 253402300799.0
"""The last second of the year 9999: a ``finished`` time after it is not a time (1e308 was read as one)."""


def _text(d: dict[str, Any], name: str, none: bool = False) -> Any:
    value = d.get(name)
    if value is None and none:
        return None
    if not isinstance(value, str) or len(value) > 10_000:
        raise ValueError(f"{name} {value!r:.40} is not text")
    return value


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(d: dict[str, Any], name: str) -> float | None:
    value = d.get(name)
    if value is None:
        return None
    if not _real(value):
        raise ValueError(f"{name} {value!r:.40} is not a finite number")
    return float(value)


def _count(d: dict[str, Any], name: str) -> int | None:
    value = d.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} {value!r:.40} is not a count")
    return value


def _time(value: object) -> float:
    if not _real(value) or not 0 <= value <= LATEST:  # type: ignore[operator]
        raise ValueError(f"finished {value!r:.40} is not a time")
    return float(value)  # type: ignore[arg-type]


def _point(p: object) -> tuple[float, float | None, float | None]:
    if not isinstance(p, (list, tuple)) or len(p) != 3:
        raise ValueError(f"point {p!r:.40} is not [epochs, loss, accuracy]")
    done, loss, acc = p
    if not _real(done) or any(v is not None and not _real(v) for v in (loss, acc)):
        raise ValueError(f"point {p!r:.40} holds something that is not a finite number")
    return float(done), None if loss is None else float(loss), None if acc is None else float(acc)


def append(past: PastTraining, path: Path | None = None) -> Path:
    """Add one line to the history (creating its folder); OSError when it cannot be written."""
    path = path or history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (past.to_json() + "\n").encode()
    # O_NONBLOCK: a FIFO in the history's place must not hang the lab (it is refused below)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a plain file", str(path))
        os.write(fd, data)  # one write of one line: appends from two processes do not interleave
    finally:
        os.close(fd)
    return path


def load(path: Path | None = None, keep: int = KEEP) -> tuple[list[PastTraining], int]:
    """The newest ``keep`` past trainings, oldest first, and how many lines were unreadable (among
    those read). The file is read from its end, at most :data:`MAX_READ` bytes, so a history of
    any size opens at once; a history that is not a plain file (a FIFO, a device) is not read."""
    path = path or history_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return [], 0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return [], 0  # see not_plain
        lines = _last_lines(fd, keep)
    except OSError:
        return [], 0
    finally:
        os.close(fd)
    out: list[PastTraining] = []
    bad = 0
    for line in reversed(lines):  # newest first, until ``keep`` are read
        if len(out) == keep:
            break
        if not line.strip():
            continue
        try:
            out.append(PastTraining.from_json(line))
        except (ValueError, TypeError, RecursionError):  # JSONDecodeError too
            bad += 1
    return out[::-1], bad


def not_plain(path: Path | None = None) -> bool:
    """Whether something other than a plain file (a FIFO, a folder, a device) is where the history goes."""
    path = path or history_path()
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


MAX_READ = 32 * 2**20
"""The most bytes of the history read at start-up (its newest lines): 200 trainings take far less."""
CHUNK = 2**20


def _last_lines(fd: int, keep: int) -> list[str]:
    """The complete lines at the end of the file ``fd``: enough of them for ``keep`` trainings
    plus as many unreadable ones, within :data:`MAX_READ` bytes (a cut first line is dropped)."""
    end = os.fstat(fd).st_size
    data = b""
    start = end
    while start > 0 and end - start < MAX_READ:
        size = min(CHUNK, start, MAX_READ - (end - start))
        start -= size
        data = os.pread(fd, size, start) + data
        if data.count(b"\n") > 2 * keep + 1:
            break
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # begins inside a line
    return lines
