"""The notebook TrainPanel trained without a validation split (``val_size=0``): no validation
accuracy (the trainer's 0.0 of an empty split) anywhere: status line, table, curves.

Tiny budget: digits, 120 images, one epoch, on the CPU in one thread."""

from __future__ import annotations

import re

import pytest

CPU_FP32 = dict(device="cpu", precision="fp32", channels_last="off")


def test_train_panel_without_validation_split_shows_no_accuracy():
    torch = pytest.importorskip("torch")
    from genet_lab.widgets import TrainPanel

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        panel = TrainPanel("chain", epochs=1, train_size=120, val_size=0, train_options=CPU_FP32)
        statuses: list[str] = []
        panel.status.observe(lambda change: statuses.append(change["new"]), "value")
        rows: list[dict] = []
        panel.on_result(rows.append)
        result = panel.train()
    finally:
        torch.set_num_threads(before)
    assert not result.failed and result.epochs_run == 1
    assert rows[0]["val_accuracy"] is None and rows[0]["curve"] == []
    assert panel._val == []  # nothing drawn as a validation accuracy of 0
    assert any("done" in s and "no validation split" in s for s in statuses[:-1]), statuses[-3:]
    assert "no validation split" in panel.status.value and "0.00" not in panel.status.value
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", panel.table.value)
    header = re.findall(r"<th[^>]*>([^<]*)</th>", panel.table.value)
    assert cells[header.index("val. acc. %")] == "-"
    assert panel.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
