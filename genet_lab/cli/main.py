"""The ``genet-lab`` command: one subcommand module per concern.

Every module under :mod:`genet_lab.cli` that has a ``register(subparsers)``
function adds its subcommands. Bad input of any kind ends with one line on
stderr starting with ``error:`` and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from genet_lab import __version__
from genet_lab.errors import UsageError

SUBCOMMAND_MODULES = ("core", "train", "evolve", "transfer", "tui")


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
