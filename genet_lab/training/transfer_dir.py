"""A transfer directory: Table 2 kept as it fills, so that a stopped transfer continues.

``DIR/transfer.json`` holds the report of :func:`genet_lab.training.transfer.transfer_table`
with its ``settings`` (everything a test error depends on) and whether it is ``complete``;
``DIR/transfer.md`` holds the table. Both are rewritten atomically (a temporary file and a
rename) after every finished training, so a stop, a full disk or a missing data set loses at
most the training under way, and running the same command again trains only what is missing.
A directory whose settings differ is refused rather than mixed. Knows files and the report's
plain dict; nothing of torch, evolution or front ends.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from genet_lab.errors import ConfigError, UsageError, show
from genet_lab.fileio import atomic_write

REPORT = "transfer.json"
TABLE = "transfer.md"


def check_out(out: Path) -> list[Path]:
    """Refuse, before any training, an output folder that cannot be written: a file, a parent
    that is a file, a folder without write access. Makes the folder (and its parents) and
    returns the folders it made, deepest first (:func:`remove_made` takes them back)."""
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(
                "out",
                show(out),
                template=f"{{option}} {{value}}: {_literal(show(parent))} is a file, not a folder; give a folder",
            )
        if parent.exists():
            break
    made = [d for d in [out, *out.parents] if not d.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".transfer.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_made(made)
        raise ConfigError(
            "out",
            show(out),
            template=f"{{option}} {{value}} cannot be written ({_literal(exc.strerror or str(exc))}); "
            "give a writable folder",
        ) from None
    return made


def remove_made(made: list[Path]) -> None:
    """Remove the folders :func:`check_out` made, where they are still empty (a transfer refused
    before its first training leaves nothing behind)."""
    for d in made:
        try:
            d.rmdir()
        except OSError:
            return


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def read_previous(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The report recorded in ``out`` by an earlier run of the same transfer, or None when
    there is none; one line when it is damaged or was made with other settings."""
    path = out / REPORT
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(old, dict) or not isinstance(old.get("rows"), list):
            raise ValueError("not a transfer report")
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{show(path)} is not a readable transfer report ({' '.join(str(exc).split())[:80]}); "
            "move it away to start over in this folder"
        ) from None
    if "settings" not in old:  # written by an older release: its cells cannot be trusted to match
        raise UsageError(
            f"{show(path)} was written without its settings (an older genet-lab); move it away to start over"
        )
    if old["settings"] != settings:
        diff = [k for k in sorted(set(settings) | set(old["settings"])) if settings.get(k) != old["settings"].get(k)]
        k = diff[0]
        there, now = old["settings"].get(k), settings.get(k)
        if isinstance(there, dict) and isinstance(now, dict):  # name the first field that differs inside
            inner = next(f for f in sorted(set(there) | set(now)) if there.get(f) != now.get(f))
            k, there, now = f"{k} {inner}", there.get(inner), now.get(inner)
        raise UsageError(
            f"{show(out)} holds a transfer made with other settings ({k}: {str(there)[:40]} there, "
            f"{str(now)[:40]} now); give another output folder, or move {REPORT} away to start over"
        )
    return old


def finished_cells(old: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    """``(genome, data set) -> {params, test_error, val_error, seconds}`` of every training
    ``old`` recorded as finished (a failed one is trained again)."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in (old or {}).get("rows", []):
        try:
            for ds, test in row["test_error"].items():
                if test is not None and not row["failed"].get(ds):
                    cells[(row["genome"], ds)] = {
                        "params": row["params"][ds],
                        "test_error": test,
                        "val_error": row["val_error"].get(ds),
                        "seconds": row["seconds"].get(ds),
                    }
        except (KeyError, TypeError, AttributeError):
            continue  # a hand-edited row: trained again
    return cells


def record(out: Path, report: dict[str, Any], markdown: str) -> None:
    """Write the report and its table into ``out``, each atomically (report first)."""
    atomic_write(out / REPORT, (json.dumps(report, indent=1) + "\n").encode(), what="report")
    atomic_write(out / TABLE, markdown.encode(), what="report")


def check_kept(out: Path, old: dict[str, Any] | None, planned: set[tuple[str, str]]) -> None:
    """Refuse (one line) to continue a transfer whose recorded trainings this one would drop from
    the report (fewer structures or data sets than recorded): more is fine, less would lose them."""
    dropped = sorted(set(finished_cells(old)) - planned)
    if dropped:
        genome, ds = dropped[0]
        raise UsageError(
            f"{show(out)} holds {len(dropped)} recorded training(s) this command does not ask for "
            f"(e.g. {genome} on {ds}); name the same structures and data sets (or more) to continue it, "
            "or give another output folder"
        )
