"""Errors the front ends report in one line (exit status 2 on the CLI)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class UsageError(ValueError):
    """Bad input or a missing prerequisite the user can fix; the message says how."""


def reject_unknown_keys(data: Iterable[str], cls: Any, what: str, list_known: bool = False) -> None:
    """Raise UsageError naming the keys of ``data`` that are not fields of dataclass ``cls``."""
    from dataclasses import fields

    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        tail = f"; known: {', '.join(sorted(known))}" if list_known else ""
        raise UsageError(f"unknown {what}: {', '.join(sorted(unknown))}{tail}")


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception by the CLI so that a run closes its store as on Ctrl-C
    (exit status 143 instead of 130)."""


def show(path: object) -> str:
    """A path (or any text) for a one-line message: as it is when printable, else quoted with
    its control characters escaped (``'a\\nb'``), so a newline in a name cannot split or hide
    the line. Non-ASCII letters stay readable."""
    text = str(path)
    return text if text.isprintable() else repr(text)
