"""Hardening, round 3 (issue 22): the TUI and the run process it starts.

Items 4 (a paused run ends with the lab that started it), 8 (a wrongly typed line of the training
history is skipped and counted), 9 (Rich markup in a path, a typed text or a stored value is shown,
never read as markup; a crash exits non-zero), 14 (a FIFO as the history) and 19 (a large history
is read from its end, bounded). Pilot-driven; the toy fitness only. docs/reliability.md, "Round 3".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_helpers import run_async, toy_run, until

from genet_lab.evolution import RunStore
from genet_lab.processes import process_state
from genet_lab.tui import history
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.dialogs import Prompt
from genet_lab.tui.evolution import EvolutionPane
from genet_lab.tui.train_panel import TrainPane

REPO_ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "genome": "1-01 0-01-100 0-01-100-1000",
    "dataset": "digits",
    "preset": "paper-cifar10",
    "epochs": 2,
    "state": "done",
    "finished": 1.7e9,
    "val_accuracy": 0.9,
    "points": [[1.0, 0.5, 0.8], [2.0, 0.3, None]],
}
BAD_FIELDS = [
    ("val_accuracy", "abc"),
    ("val_accuracy", 1e999),
    ("finished", 1e308),
    ("finished", "yesterday"),
    ("genome", 12),
    ("epochs", -3),
    ("epochs", True),
    ("params", 1.5),
    ("points", [[1.0, "x", None]]),
    ("points", [[1.0]]),
    ("points", "many"),
    ("error", ["a"]),
]


# -- 8. one wrongly typed line of the history ---------------------------------------------------------------


@pytest.mark.parametrize("name,value", BAD_FIELDS, ids=[f"{n}={v!r}" for n, v in BAD_FIELDS])
def test_a_wrongly_typed_field_is_refused(name, value):
    with pytest.raises(ValueError):
        history.PastTraining.from_json(json.dumps({**GOOD, name: value}))


def _write_history(lines: list[str]) -> Path:
    path = history.history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


@run_async
async def test_the_train_pane_opens_on_a_history_with_bad_lines_and_counts_them():
    bad = [json.dumps({**GOOD, name: value}).replace("1e999", "Infinity") for name, value in BAD_FIELDS]
    markup = json.dumps({**GOOD, "dataset": "x[/b]y", "genome": "[red]z"})  # text: shown as it is
    _write_history([json.dumps(GOOD), *bad, markup])
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        pane = app.query_one(TrainPane)
        assert [r.dataset for r in pane.results] == ["digits", "x[/b]y"]
        assert f"skipped {len(BAD_FIELDS)} unreadable line" in pane.history_note
        table = pane.query_one("#train-table")
        table.focus()
        await pilot.press("up", "down")
        await pilot.pause()
        assert app.is_running
    assert app.return_code in (0, None)  # None: the test harness ended it, no error


# -- 9. markup in user-supplied text ------------------------------------------------------------------------


@run_async
async def test_a_run_directory_with_markup_in_its_name_opens(tmp_path):
    run_dir = toy_run(tmp_path, name="mk[/b]run", t=1)
    app = GenetLabApp(run_dir=run_dir)
    async with app.run_test(size=(110, 32)) as pilot:
        pane = app.query_one(EvolutionPane)
        await until(pilot, lambda: pane.state.status is not None and pane.state.status.state == "finished")
        assert "mk[/b]run" in str(pane.query_one("#evo-status").render())
        app.notify("a [/b] in a notification")
        await pilot.pause()
        assert app.is_running
    assert app.return_code in (0, None)  # None: the test harness ended it, no error


@run_async
async def test_markup_typed_into_the_load_and_export_dialogs(tmp_path):
    app = GenetLabApp(export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        for key in ("ctrl+o", "s"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, Prompt)
            app.screen.query_one(Input).value = str(tmp_path / "x[/b]y" / "[red]z")
            await pilot.press("enter")
            await pilot.pause()
            assert app.is_running
            if isinstance(app.screen, Prompt):  # refused: the error is shown under the input
                assert "x[/b]y" in str(app.screen.query_one(".prompt-error").render())
                await pilot.press("escape")
                await pilot.pause()
    assert app.return_code in (0, None)  # None: the test harness ended it, no error


@run_async
async def test_a_crash_makes_a_non_zero_exit():
    class Crashing(GenetLabApp):
        def on_mount(self) -> None:
            raise RuntimeError("boom")

    app = Crashing()
    with pytest.raises(RuntimeError):
        async with app.run_test(size=(80, 24)):
            pass
    assert app.return_code not in (0, None)


def test_cmd_tui_returns_the_apps_exit_code(monkeypatch):
    from genet_lab.cli.main import main

    def crash(self, *a, **kw):
        self._return_code = 1

    monkeypatch.setattr(GenetLabApp, "run", crash)
    assert main(["tui"]) == 1


# -- 14. a FIFO as the history ------------------------------------------------------------------------------


@run_async
async def test_a_fifo_as_the_history_neither_hangs_nor_is_written():
    path = history.history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    start = time.monotonic()
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        pane = app.query_one(TrainPane)
        assert pane.results == [] and "not a plain file" in pane.history_note
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running and time.monotonic() - start < 30
    with pytest.raises(OSError):
        history.append(history.PastTraining.from_json(json.dumps(GOOD)))


# -- 19. a large history is read from its end ---------------------------------------------------------------


def test_a_large_history_is_read_from_its_end_within_a_bound(monkeypatch):
    line = json.dumps({**GOOD, "points": [[float(i), 0.5, 0.5] for i in range(50)]})
    path = _write_history([json.dumps({**GOOD, "epochs": i}) for i in range(3000)] + [line] * 5)
    read: list[int] = []
    real = os.pread
    monkeypatch.setattr(history.os, "pread", lambda fd, n, at: read.append(n) or real(fd, n, at))
    monkeypatch.setattr(history, "CHUNK", 4096)  # (1 MiB by default: this file would be one read)
    past, bad = history.load(path, keep=10)
    assert bad == 0 and len(past) == 10
    assert [p.epochs for p in past[:5]] == [2995, 2996, 2997, 2998, 2999] and len(past[-1].points) == 50
    assert sum(read) < path.stat().st_size / 10  # only the end was read
    monkeypatch.setattr(history, "MAX_READ", 4096)
    read.clear()
    past, _ = history.load(path, keep=200)
    assert sum(read) <= 4096 and 0 < len(past) < 200


# -- 4. a paused run ends with the lab that started it --------------------------------------------------------

_FRONT_END = """
import os, sys, time
from genet_lab.evolution import SearchConfig
from genet_lab.supervisor import RunControl
control = RunControl.create(sys.argv[1], SearchConfig(fitness="toy", init="zeros", population=4, generations=50))
time.sleep(3)  # the child has started and holds the lock
control.pause()
print(control.process.pid, flush=True)
os._exit(0)  # the lab is killed (kill -9): no clean-up
"""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux /proc)."""
    state = process_state(pid)
    return state is not None and state[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_paused_run_does_not_outlive_the_lab(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "GENET_LAB_TOY_DELAY": "0.2"}
    proc = subprocess.run(
        [sys.executable, "-c", _FRONT_END, str(run_dir)], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
        timeout=120,
    )  # fmt: skip
    pid = int(proc.stdout.split()[-1])
    try:
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the paused run outlived the lab"
        with RunStore(run_dir, readonly=True) as st:
            assert not st.writer_alive() and st.status().state == "stopped"
        with RunStore(run_dir):  # the lock is free: --resume can go on
            pass
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _writing(run_dir: Path) -> bool:
    try:
        with RunStore(run_dir, readonly=True) as st:
            return st.writer_alive()
    except Exception:  # not created yet
        return False


@run_async
async def test_quitting_the_lab_with_its_run_paused_ends_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_TOY_DELAY", "0.2")
    run_dir = tmp_path / "run"
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        from genet_lab.evolution import SearchConfig

        pane = app.query_one(EvolutionPane)
        pane.start_run(run_dir, SearchConfig(fitness="toy", init="zeros", population=4, generations=50))
        control = pane.control
        assert control is not None and control.process is not None
        await until(pilot, lambda: _writing(run_dir))
        pid = control.process.pid
        await pilot.press("3", "p")
        await pilot.pause()
        assert pane.paused
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert not _alive(pid)
    with RunStore(run_dir, readonly=True) as st:
        assert st.status().state == "stopped"
