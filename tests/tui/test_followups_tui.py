"""A training without a validation split (``--val-size 0``) streamed through the Train pane: the
events say "no validation accuracy" (null), the pane shows "-" and the test accuracy it was judged
on instead of crashing, and the history keeps it as none, read back in a new session.

A real ``train --events`` child: digits, 200 images, one epoch, one thread."""

from __future__ import annotations

import pytest
from tui_helpers import run_async, until

from genet_lab.tui import history
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.train_panel import TrainPane
from genet_lab.tui.train_results import COLUMNS, SessionTable

pytest.importorskip("torch")


@run_async
async def test_a_training_without_validation_split_shows_dash_and_its_test_accuracy():
    app = GenetLabApp()
    async with app.run_test(size=(120, 32)) as pilot:
        pane = app.query_one(TrainPane)
        await pilot.press("2")
        await pilot.pause()
        pane.query_one("#train-epochs").value = "1"
        pane.query_one("#train-extra").value = "--train-size 200 --val-size 0 --threads 1 --device cpu"
        labels: list[str] = []
        pane._set_label = lambda text, f=pane._set_label: (labels.append(text), f(text))
        await pilot.press("t")
        await until(pilot, lambda: pane.results and pane.results[-1].state != "running" and not pane.running, 240)
        r = pane.results[-1]
        assert r.state == "done", (r.error, labels[-3:])
        assert r.val_accuracy is None and r.test_accuracy is not None and 0.0 <= r.test_accuracy <= 1.0
        assert r.curve and all(point[2] is None for point in r.curve)  # the epoch's end too: no 0.0
        assert labels[-1].startswith(f"done: test acc {r.test_accuracy:.4f} in "), labels[-1]
        row = pane.query_one(SessionTable).get_row_at(len(pane.results) - 1)
        assert str(row[COLUMNS.index("val acc")]) == "-" and str(row[COLUMNS.index("state")]) == "done"
    past, _ = history.load()
    assert past[-1].val_accuracy is None and past[-1].test_accuracy == r.test_accuracy
    assert all(point[2] is None for point in past[-1].points)
    app2 = GenetLabApp()  # the next session lists it from the history
    async with app2.run_test(size=(120, 32)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        pane2 = app2.query_one(TrainPane)
        assert pane2.results and pane2.results[-1].past and pane2.results[-1].val_accuracy is None
        row = pane2.query_one(SessionTable).get_row_at(len(pane2.results) - 1)
        assert str(row[COLUMNS.index("val acc")]) == "-"


def test_a_past_training_without_a_validation_split_is_summarised_by_its_test_accuracy():
    from genet_lab.tui.train_results import SessionResult

    base = {"genome": "0-00 0-00 0-00-000", "dataset": "digits", "preset": "paper-cifar10", "epochs": 1,
            "state": "done", "finished": 0.0}  # fmt: skip
    done = SessionResult(**base, test_accuracy=0.5931)
    assert "done, test acc 0.5931, digits" in done.summary(0)
    neither = SessionResult(**base)
    assert "done, val acc -, digits" in neither.summary(0)
    assert "done, val acc 0.9000, digits" in SessionResult(**base, val_accuracy=0.9).summary(0)
