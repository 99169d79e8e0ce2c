"""Errors the front ends report in one line (exit status 2 on the CLI)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class UsageError(ValueError):
    """Bad input or a missing prerequisite the user can fix; the message says how."""


_UNSET: Any = object()


def option_name(option: str) -> str:
    """How the core names a config field in a message: as it is (``train_size``)."""
    return option


class ConfigError(UsageError):
    """A config field has a value that is not accepted: the field, the value and what is
    accepted travel as data, so each front end words the one line its own way (the core names
    the field, the CLI its flag: :func:`genet_lab.cli.common.flag`).

    ``template`` is a :meth:`str.format` text with ``{option}`` (this field's name), ``{value}``
    (``{value!r}`` for the quoted value), ``{accepted}`` (the accepted values, comma-joined) and
    one placeholder per field named in ``also`` (other fields the message points to, each worded
    like ``option``). Without a template the line is ``unknown WHAT VALUE; accepted: ...`` when
    ``accepted`` is given, else ``bad OPTION VALUE``.
    """

    def __init__(
        self,
        option: str,
        value: Any = _UNSET,
        *,
        accepted: Iterable[Any] | str | None = None,
        what: str | None = None,
        template: str | None = None,
        also: Iterable[str] = (),
    ) -> None:
        self.option = option
        self.value = None if value is _UNSET else value
        self.accepted: tuple[str, ...] | str | None = (
            accepted if accepted is None or isinstance(accepted, str) else tuple(str(a) for a in accepted)
        )
        self.what = what
        self.also = tuple(also)
        if template is None:
            template = (
                "unknown {what} {value!r}; accepted: {accepted}" if accepted is not None else "bad {option} {value!r}"
            )
        self.template = template
        super().__init__(self.format())

    def format(self, name: Callable[[str], str] = option_name) -> str:
        """The one-line message, each field worded by ``name`` (the CLI passes its flag maker)."""
        accepted = (
            self.accepted if isinstance(self.accepted, str) or self.accepted is None else ", ".join(self.accepted)
        )
        fields = {o: name(o) for o in self.also}
        return self.template.format(
            **fields, option=name(self.option), value=self.value, accepted=accepted, what=self.what or name(self.option)
        )

    def __str__(self) -> str:
        return self.format()


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
