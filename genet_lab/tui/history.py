"""The history of trainings: one JSON line per finished training, in the user's data folder.

The Train pane appends a line when a training ends (done, failed or cancelled) and lists
the past ones, so a curve can be reopened after the lab was closed. Each line is written
with one ``write`` on a file opened for appending, so two labs writing at once never
interleave inside a line; a line that cannot be read (a crash mid-write, an edit by hand)
is skipped and counted, never fatal. Knows neither Textual nor torch.
"""

from __future__ import annotations

import json
import os
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
        d: dict[str, Any] = json.loads(line)
        if not isinstance(d, dict):
            raise ValueError("not an object")
        names = set(cls.__dataclass_fields__)
        try:
            past = cls(**{k: v for k, v in d.items() if k in names})
            past.points = [(float(a), b, c) for a, b, c in past.points]
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        return past


def append(past: PastTraining, path: Path | None = None) -> Path:
    """Add one line to the history (creating its folder); OSError when it cannot be written."""
    path = path or history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (past.to_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)  # one write of one line: appends from two processes do not interleave
    finally:
        os.close(fd)
    return path


def load(path: Path | None = None, keep: int = KEEP) -> tuple[list[PastTraining], int]:
    """The newest ``keep`` past trainings, oldest first, and how many lines were unreadable."""
    path = path or history_path()
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return [], 0
    out, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            out.append(PastTraining.from_json(line))
        except ValueError:  # JSONDecodeError too
            bad += 1
    return out[-keep:], bad
