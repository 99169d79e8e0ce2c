"""Layout of the TUI's main screens, compared with pytest-textual-snapshot.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from genet_lab.encoding import genome as gn
from genet_lab.tui.app import GenetLabApp


async def _settle(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_editor_80x24(snap_compare):
    assert snap_compare(GenetLabApp(), terminal_size=(80, 24), press=["down", "right", "space"], run_before=_settle)


def test_editor_paper_best_120x36(snap_compare):
    assert snap_compare(GenetLabApp(genome=gn.paper_best()), terminal_size=(120, 36), run_before=_settle)


def test_train_pane_80x24(snap_compare):
    async def to_train(pilot):
        await pilot.press("2")
        await _settle(pilot)

    assert snap_compare(GenetLabApp(), terminal_size=(80, 24), run_before=to_train)


def test_help_80x24(snap_compare):
    assert snap_compare(GenetLabApp(), terminal_size=(80, 24), press=["question_mark"], run_before=_settle)


def test_finished_run_100x30(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "genet_lab",
            "evolve",
            "--fitness",
            "toy",
            "-N",
            "6",
            "-T",
            "4",
            "--seed",
            "3",
            "--run-dir",
            "run",
            "--json",
        ],
        check=True,
        capture_output=True,
    )

    async def loaded(pilot):
        pane = pilot.app.query_one("#evolution-pane")
        while len(pane.generations) < 5:
            await pilot.pause(0.1)
        await pilot.press("down", "down")
        await _settle(pilot)

    assert snap_compare(GenetLabApp(run_dir=Path("run")), terminal_size=(100, 30), run_before=loaded)
