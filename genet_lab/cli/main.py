"""The ``genet-lab`` command: one subcommand module per concern.

Every module under :mod:`genet_lab.cli` that has a ``register(subparsers)``
function adds its subcommands. Bad input of any kind ends with one line on
stderr starting with ``error:`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

from genet_lab import __version__
from genet_lab.cli import options
from genet_lab.errors import ConfigError, Terminated, UsageError
from genet_lab.processes import follow_parent_from_env

SUBCOMMAND_MODULES = ("core", "train", "evolve", "transfer", "tui", "bench", "export")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="genet-lab",
        description="Explore the search space of Genetic CNN: genomes, stage graphs, training, evolution.",
    )
    parser.add_argument("--version", action="version", version=f"genet-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{name}":
                continue  # that front end is not part of this build
            raise
        module.register(sub)
    options.learn_flags(parser)  # so that a ConfigError names any command's flag
    return parser


def main(argv: list[str] | None = None) -> int:
    follow_parent_from_env()  # first: a run a front end started ends with it, even while paused
    try:
        parser = build_parser()  # imports the subcommands: a Ctrl-C here is not a traceback either
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("error: interrupted before the command started; nothing was changed", file=sys.stderr)
        return 130
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _sigterm_as_exception(args.command != "tui"):  # Textual handles its own signals
            return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # A command that can say more (evolve: the run is safe, how to resume) sets exc.hint.
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        hint = getattr(exc, "hint", "")
        print(f"error: {what}{'; ' + hint if hint else ''}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:
        return 0
    except (OSError, ImportError, MemoryError) as exc:
        line = _environment_error(exc)
        if line is None:
            raise
        print(f"error: {_one_line(UsageError(line))}", file=sys.stderr)
        return 2


def _environment_error(exc: BaseException) -> str | None:
    """One line for what this machine refused, not the input: too many open files, a full disk,
    no memory (torch cannot even be loaded under a low memory limit); None for anything else.
    Whatever was stored stays (a run's finished evaluations are in its store)."""
    import errno

    from genet_lab.fileio import why_not_written

    if isinstance(exc, MemoryError):
        return "out of memory; a memory limit ('ulimit -v', a container's) is too low for this command"
    if isinstance(exc, ImportError):
        text = str(exc)
        if (exc.name or "").split(".")[0] != "torch" and "torch" not in text:
            return None
        return (
            f"torch could not be loaded ({text}); under a memory limit ('ulimit -v') torch's libraries may not "
            "fit: raise the limit, or check the install with 'python -c \"import torch\"'"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOSPC, errno.EDQUOT):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{why_not_written(exc)}{where}; what was finished is kept (a run resumes with --resume)"
    return None


@contextlib.contextmanager
def _sigterm_as_exception(enabled: bool) -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in this process, so that a run closes its store and the
    message says so, as on Ctrl-C (exit status 143). A process forked from this one still dies of it."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    pid = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line; a :class:`ConfigError` names its fields as flags."""
    if isinstance(exc, ConfigError):
        text = exc.format(options.flag)
    else:
        text = str(exc) or type(exc).__name__
    # a control character (an escape sequence in a file name) is shown, never sent to the terminal
    text = "".join(c if c.isprintable() or c in "\n\t " else repr(c)[1:-1] for c in text)
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
