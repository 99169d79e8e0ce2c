"""TrainPanel driven from code: the catalog's defaults, training in the kernel (blocking and in a
background thread), stopping, and what the bar, status, plot and table show."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from genet_lab.encoding.genome import chain
from genet_lab.widgets import GenomeEditor


@pytest.fixture
def one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only fight over the shared cores
    yield
    torch.set_num_threads(before)


CPU_FP32 = dict(device="cpu", precision="fp32", channels_last="off")


def test_train_panel_blocking_and_background_runs(one_thread):
    from genet_lab.widgets import TrainPanel

    ed = GenomeEditor("chain")
    panel = TrainPanel(ed, epochs=2, train_size=120, train_options=CPU_FP32)
    rows = []
    panel.on_result(rows.append)
    assert panel.genome == chain()
    result = panel.train()  # blocking: what a notebook under nbclient uses
    assert not result.failed and len(result.curve) == 2 and 0.0 <= result.val_accuracy <= 1.0
    assert rows[0]["genome"] == str(chain()) and rows[0]["epochs"] == 2
    assert panel.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert panel.progress.value == panel.progress.max
    ed.preset_buttons["zeros"].click()  # the panel follows the editor
    thread = panel.start(label="all-zero")
    assert thread is not None
    second = panel.wait(timeout=120)
    assert second is not None and not panel.running
    assert [r["label"] for r in rows] == [str(chain()), "all-zero"]
    assert "all-zero" in panel.table.value and str(chain()) in panel.table.value
    assert panel.runs == 2


def test_train_panel_stop_cancels_a_background_run(one_thread):
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("dense", epochs=500, train_size=120, train_options=CPU_FP32)
    panel.start()
    deadline = time.monotonic() + 60
    while not panel.results and not panel._curve and time.monotonic() < deadline:
        time.sleep(0.05)  # until training has really begun
    panel.stop()
    result = panel.wait(timeout=60)
    assert result.failed and result.error == "cancelled" and result.epochs_run < 500
    assert "cancelled" in panel.status.value
    assert panel.results[-1]["state"] == "failed: cancelled"
    # the bar stays where the run stopped, and no "validation accuracy 0.00%" for a run that has none
    assert panel.progress.value < panel.progress.max and panel.progress.bar_style == "warning"
    assert "0.00" not in panel.status.value and "accuracy" not in panel.status.value
    assert f"after {result.epochs_run} epoch" in panel.status.value
    assert panel.results[-1]["val_accuracy"] is None
    assert re.search(r"<td[^>]*>-</td><td[^>]*>[\d.]+</td><td[^>]*>failed: cancelled</td>", panel.table.value)


def test_train_panel_failed_runs_sort_last_and_say_their_last_accuracy():
    from types import SimpleNamespace

    from genet_lab.widgets import TrainPanel

    failed = SimpleNamespace(
        epochs_run=3,
        seconds=1.5,
        error="diverged: loss is nan",
        failed=True,
        curve=[{"val_accuracy": 0.25}, {"val_accuracy": 0.3507}, {"val_accuracy": 0.4}],
    )
    status = TrainPanel._failed_status("dense", failed)
    assert "dense: failed (diverged: loss is nan) after 3 epochs in 1.5 s, last validation 40.00%" in status
    panel = TrainPanel("chain")
    base = {"genome": "1", "dataset": "digits", "epochs": 3, "params": 1, "macs": 1, "seconds": 1.0}
    panel.results = [
        {**base, "label": "broken", "val_accuracy": None, "state": "failed: cancelled"},
        {**base, "label": "good", "val_accuracy": 0.5, "state": "done"},
    ]
    table = panel.results_html()
    assert table.index("good") < table.index("broken")


def test_train_panel_bad_input_is_reported():
    from genet_lab.training.catalog import list_datasets
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("paper-best")
    assert list(panel.dataset.options) == list_datasets(listed_only=True)  # the drop-down lists the catalog
    with pytest.raises(ValueError, match="unknown dataset 'no-such-set'; accepted: digits"):
        panel.train(dataset="no-such-set")
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainPanel("chain", dataset="no-such-set")
    panel.start(genome="1-0")  # malformed: shown, no thread started
    assert "group 2 must hold 2 bits" in panel.status.value and not panel.running


def test_train_panel_defaults_are_the_catalogs():
    from genet_lab.training.catalog import DATASETS, DEFAULT_DATASET, DEFAULT_RECIPE, list_recipes
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain")
    digits = DATASETS[DEFAULT_DATASET]
    assert panel.dataset.value == DEFAULT_DATASET and panel.recipe.value == DEFAULT_RECIPE
    assert (panel.epochs.value, panel.batch_size.value) == (digits.epochs, digits.batch_size)
    assert list(panel.recipe.options) == list_recipes()
    panel.dataset.value = "cifar10"  # the budget follows the data set
    assert (panel.epochs.value, panel.batch_size.value) == (DATASETS["cifar10"].epochs, DATASETS["cifar10"].batch_size)
    panel.epochs.value = 3  # an edited value stays
    panel.dataset.value = "mnist"
    assert (panel.epochs.value, panel.batch_size.value) == (3, DATASETS["mnist"].batch_size)
    given = TrainPanel("chain", epochs=7, train_options={"batch_size": 16, "recipe": "paper", "device": "cpu"})
    assert (given.epochs.value, given.batch_size.value, given.recipe.value) == (7, 16, "paper")
    assert given.train_options == {"device": "cpu"}
    from genet_lab.encoding.presets import get_preset, list_presets

    assert list(panel.preset.options) == list_presets() and panel.net_config == get_preset("paper-cifar10")
    panel.preset.value = "wide"
    assert panel.net_config == get_preset("wide")
    own = get_preset("wide").with_input(1, 8, 10)
    mine = TrainPanel("chain", net_config=replace(own, name="mine"))
    assert mine.preset.value == "mine" and mine.net_config.name == "mine" and mine.net_config.fc == own.fc
    full = TrainPanel("chain", dataset="cifar10", train_options={"schedule": "paper-full"})
    assert full.epochs.value == 240 and full.train_config().epochs == 240  # the schedule's only length, as train's
    full.dataset.value = "mnist"
    assert full.epochs.value == 240 and full.batch_size.value == DATASETS["mnist"].batch_size


def test_train_panel_trains_with_what_it_shows():
    from genet_lab.training.config import default_train_config
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain", seed=3, train_options=CPU_FP32)
    assert panel.train_config() == default_train_config("digits", seed=3, **CPU_FP32)
    panel.recipe.value = "legacy"
    panel.batch_size.value = 64
    cfg = panel.train_config("fashion-mnist")  # selects the data set: its budget, the edited batch
    assert panel.dataset.value == "fashion-mnist" and cfg.recipe == "legacy" and cfg.batch_size == 64
    assert cfg == default_train_config("fashion-mnist", recipe="legacy", batch_size=64, seed=3, **CPU_FP32)


def test_train_panel_reads_a_data_dir(tmp_path, monkeypatch, one_thread):
    from PIL import Image

    from genet_lab.widgets import TrainPanel

    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))
    for c, shade in (("dark", 40), ("light", 210)):  # two trivially separable classes
        folder = tmp_path / "imgs" / "train" / c
        folder.mkdir(parents=True)
        for i in range(20):
            Image.new("RGB", (8, 8), (shade + i, shade, shade)).save(folder / f"{i}.png")
    panel = TrainPanel("zeros", dataset="imagefolder", epochs=1, train_options=CPU_FP32)
    panel.data_dir.value = str(tmp_path / "imgs")
    result = panel.train()
    data = panel.data()
    assert data.classes == ["dark", "light"] and data.image_size == 8 and data.in_channels == 3
    assert not result.failed and panel.results[-1]["dataset"] == "imagefolder"


def test_train_panel_names_the_epoch_in_progress():
    from genet_lab.training.config import TrainProgress as TrainingProgress  # the trainer's own record
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain", epochs=8, train_size=120, train_options=CPU_FP32)
    panel._on_progress(TrainingProgress(epoch=1, epochs=8, step=3, steps=80, loss=2.0, val_accuracy=None))
    assert panel.progress.description == "epoch 1/8" and panel.progress.value == 3
    assert panel.status.value == "training loss 2.000"
    panel._on_progress(TrainingProgress(epoch=1, epochs=8, step=10, steps=80, loss=1.5, val_accuracy=0.5))
    assert panel.status.value.startswith("epoch 1/8 done") and "validation 50" in panel.status.value
    # the browser showed "epoch 2/8" beside a bar under 1/8: the label is now the bar's own, sent with
    # it in one message (hold_sync; tests/browser checks what the page shows)
    panel._on_progress(TrainingProgress(epoch=2, epochs=8, step=11, steps=80, loss=1.4, val_accuracy=None))
    assert panel.progress.description == "epoch 2/8" and 1 / 8 < panel.progress.value / 80 <= 2 / 8


def test_train_panel_status_never_runs_ahead_of_the_bar(one_thread):
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain", epochs=3, train_size=120, train_options=CPU_FP32)
    seen = []
    # the status is set after each update of the bar: what a person sees once an update is through
    panel.status.observe(
        lambda ch: seen.append((panel.progress.description, panel.progress.value, panel.progress.max, ch["new"])),
        "value",
    )
    panel.train()
    checked = 0
    for label, value, top, status in seen:
        m = re.fullmatch(r"epoch (\d+)/(\d+)", label)
        if not m:
            continue  # loading, or the result
        epoch, epochs = int(m[1]), int(m[2])
        assert (epoch - 1) / epochs < value / top <= epoch / epochs, (label, value, top)
        done = re.match(r"epoch (\d+)/\d+ done", status)
        assert done is None or int(done[1]) / epochs <= value / top, (status, value, top)
        checked += 1
    assert checked >= 6, seen  # at least two steps per epoch were seen


def test_train_panel_legend_covers_no_curve():
    from genet_lab.widgets import TrainPanel
    from genet_lab.widgets._render import figure_png

    panel = TrainPanel("chain")
    panel.results = [{"label": f"design {n} with a long name", "curve": [0.1 * n, 0.5, 0.9, 0.95]} for n in range(5)]
    fig = panel.figure()
    figure_png(fig)  # lays the figure out as the panel shows it
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    assert box.x1 <= fig.bbox.x1 + 1  # and it stays inside the picture
