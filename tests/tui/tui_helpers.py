"""Helpers shared by the TUI tests (functions, not fixtures: the fixtures are in conftest.py).

Imported as ``from tui_helpers import ...`` (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import textwrap
import time

from genet_lab.tui.app import GenetLabApp

FAKE_TRAINER = textwrap.dedent("""
    import json, sys, time
    args = sys.argv[1:]
    genome = args[0]
    epochs = int(args[args.index("--epochs") + 1]) if "--epochs" in args else 3  # as if the data set's
    assert args[args.index("--recipe") + 1] in ("fast", "paper", "legacy")
    slow = "--slow" in args
    if "--crash" in args:
        print("error: the fake trainer was told to fail", file=sys.stderr)
        sys.exit(2)
    def emit(kind, **fields):
        print(json.dumps({"type": kind, **fields}), flush=True)
    emit("TrainingStarted", genome=genome, dataset={"dataset": "digits", "train": 100, "val": 20},
         train={"epochs": epochs})
    for epoch in range(1, epochs + 1):
        for step in (1, 2):
            emit("TrainingProgress", epoch=epoch, epochs=epochs, step=2 * (epoch - 1) + step, steps=2 * epochs,
                 loss=2.0 / (epoch + step), val_accuracy=0.5 + 0.1 * epoch if step == 2 else None)
            time.sleep(5 if slow else 0.01)
    emit("TrainingFinished", genome=genome, dataset="digits", train_images=100, val_images=20,
         val_accuracy=0.5 + 0.1 * epochs, test_accuracy=None, final_loss=0.5, curve=[], seconds=0.1,
         images_per_second=1000.0, params=len(genome) * 100, failed=False, error=None, device="cpu")
""")


def run_async(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kw):
        return asyncio.run(fn(*args, **kw))

    return wrapper


async def until(pilot, predicate, timeout=30.0):
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for the TUI {getattr(pilot.app, '_dbg', lambda: None)()}")
        await pilot.pause(0.1)


def fake_app(tmp_path, **kw):
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAINER)
    app = GenetLabApp(**kw)
    return app, [sys.executable, str(script)]


def toy_run(tmp_path, name="run", t=3, n=4):
    """A finished toy run written by another process, opened in the evolution pane."""
    run_dir = tmp_path / name
    subprocess.run(
        [
            sys.executable,
            "-m",
            "genet_lab",
            "evolve",
            "--fitness",
            "toy",
            "-N",
            str(n),
            "-T",
            str(t),
            "--run-dir",
            str(run_dir),
            "--json",
        ],
        check=True,
        capture_output=True,
    )
    return run_dir
