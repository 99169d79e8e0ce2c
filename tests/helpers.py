"""Helpers shared by the test files: run the CLI (in this process or in a real one), check the
one-line error contract, and snapshot a run store for comparisons. Plain functions, imported
as ``from helpers import ...`` (pytest puts this folder on sys.path)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from genet_lab.cli.main import main
from genet_lab.evolution import RunStore

REPO = Path(__file__).resolve().parents[1]
VOLATILE = ("seconds", "device")
"""Fields of an individual that differ between two runs of the same search."""


def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """``genet-lab ARGV`` in this process: (exit status, stdout, stderr); argparse's own exits
    (--help, usage errors) count as exit statuses."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:
                rc = exc.code
    finally:
        sys.stdin = old_stdin
    return rc, out.getvalue(), err.getvalue()


def cli_process(
    *args: str, stdin: str | None = None, env: dict | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m genet_lab ARGS`` in a real process, run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "genet_lab", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def cli_popen(*args: str, env: dict | None = None) -> subprocess.Popen:
    """``python -m genet_lab ARGS`` started in the background (to be killed or waited for)."""
    return subprocess.Popen(
        [sys.executable, "-m", "genet_lab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def assert_one_line_error(rc: int, err: str, *needles: str) -> str:
    """The contract for bad input: exit status 2, one line starting ``error: ``, no traceback,
    and each needle in that line."""
    assert rc == 2, (rc, err)
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def assert_process_rejected(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """:func:`assert_one_line_error` for a finished real process."""
    return assert_one_line_error(proc.returncode, proc.stderr, *needles)


def assert_rejected(argv: list[str], *needles: str) -> str:
    """``genet-lab ARGV`` (in this process) is refused by the one-line error contract."""
    rc, _, err = run_cli(argv)
    return assert_one_line_error(rc, err, *needles)


def snapshot(run_dir: Path):
    """(generations, individuals, status) of an intact run, without what differs between two
    runs of the same search (times, devices)."""
    with RunStore(run_dir, readonly=True) as st:
        assert st.integrity() == "ok"
        gens = [replace(g, started=0.0, finished=None) for g in st.generations()]
        inds = [replace(i, **{k: None for k in VOLATILE}) for i in st.individuals()]
        return gens, inds, st.status()


def sqlite_error(message: str, code: int) -> Exception:
    """An ``sqlite3.OperationalError`` as SQLite raises it: with its result code (the store decides
    by the code, never by the words)."""
    import sqlite3

    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc
