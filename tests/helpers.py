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


def benchmark_script(name: str):
    """benchmarks/NAME.py loaded as a module (the folder is not a package), executed afresh."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def table_run(seed: int, val: float, **fields) -> dict:
    """One recorded training of a synthetic table (a run of the table file format); ``fields``
    override the defaults (no test accuracy, 1 s, CPU, not failed, a one-epoch curve)."""
    return {"seed": seed, "val": val, "test": None, "seconds": 1.0, "device": "cpu", "failed": False,
            "val_curve": [val], "loss_curve": [0.1], **fields}  # fmt: skip


def write_table(path: Path, stages, runs_of, *, epochs: int = 6, complete: bool = True, size_of=None) -> dict:
    """Write a synthetic table file (docs/bench.md's format) of every structure of ``stages``:
    ``runs_of(structure)`` gives its runs (:func:`table_run`), ``size_of(structure)`` its
    (params, macs) (default: computed under the default preset). Returns the table's JSON object."""
    import gzip
    import json

    from genet_lab.bench.structures import iter_structures
    from genet_lab.encoding.complexity import complexity
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training import catalog

    net = get_preset(catalog.DEFAULT_PRESET).with_input(1, 8, 10)
    structures = []
    for s in iter_structures(stages):
        if size_of is None:
            cx = complexity(s.genome, net)
            params, macs = cx.params, cx.macs
        else:
            params, macs = size_of(s)
        structures.append({"genome": s.genome.notation(), "bits": s.genome.bitstring(), "key": s.key,
                           "class_size": s.class_size, "params": params, "macs": macs, "runs": runs_of(s)})  # fmt: skip
    seeds = sorted({r["seed"] for st in structures for r in st["runs"]})
    settings = {"stages": list(stages), "dataset": "digits", "data_dir": None, "train_size": None,
                "val_size": None, "image_size": None, "preset": catalog.DEFAULT_PRESET, "epochs": epochs,
                "batch_size": 32, "recipe": "fast", "seeds": seeds, "table_seed": 0, "threads": 1,
                "mode": "loop", "group": 8}  # fmt: skip
    n, trainings = len(structures), sum(len(st["runs"]) for st in structures)
    data = {"format": "genet-lab-bench", "version": 1, "name": Path(path).name.removesuffix(".json.gz"),
            "settings": settings, "versions": {}, "created": 0.0, "exported": 0.0, "complete": complete,
            "counts": {"structures": n, "structures_present": n, "trainings": trainings,
                       "trainings_done": trainings},
            "structures": structures}  # fmt: skip
    Path(path).write_bytes(gzip.compress(json.dumps(data).encode()))
    return data
