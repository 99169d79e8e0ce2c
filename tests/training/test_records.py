"""The records of a training: torch-free, and the very events front ends read (no mirror types)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genet_lab.training import events as tev
from genet_lab.training.config import TrainProgress, TrainResult


def test_the_records_and_events_import_no_torch():
    code = "import sys, genet_lab.training.config, genet_lab.training.events; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_progress_event_is_the_trainers_record():
    assert tev.TrainingProgress is TrainProgress
    p = TrainProgress(epoch=1, epochs=4, step=5, steps=20, loss=1.5, val_accuracy=None)
    assert tev.to_dict(p)["type"] == "TrainingProgress" and tev.from_dict(tev.to_dict(p)) == p
    assert TrainProgress.of(p) is p and p.done == pytest.approx(1.0)


def _result(**kw) -> TrainResult:
    base = dict(
        val_accuracy=0.5,
        test_accuracy=None,
        final_loss=float("nan"),
        curve=[{"epoch": 1, "loss": 2.0, "lr": 0.1, "val_accuracy": 0.5, "seconds": 1.0}],
        seconds=1.0,
        images_per_second=100.0,
        params=22082,
        failed=False,
        error=None,
        device="cpu",
    )
    return TrainResult(**{**base, **kw})


def test_the_finished_event_is_a_result_with_what_was_trained_on():
    result = _result()
    context = dict(genome="1-01 0-01-100 0-11-101-0001", dataset="digits", train_images=100, val_images=20)
    line = json.loads(json.dumps({**context, **result.to_dict(), "train": {"epochs": 1}}))  # `train --json`'s line
    event = tev.from_dict({"type": "TrainingFinished", **line})
    assert isinstance(event, TrainResult) and isinstance(event, tev.TrainingFinished)
    assert event.final_loss is None and event.params == 22082 and event.train == {"epochs": 1}
    data = tev.to_dict(event)
    # the keys the TUI and the widgets read, the context first as `train --json` prints it
    assert list(data)[:5] == ["type", "genome", "dataset", "train_images", "val_images"]
    assert set(data) == {"type", *context, *result.to_dict(), "checkpoint", "train"}
    assert tev.from_dict(data) == event


def test_a_result_without_context_is_not_an_event():
    with pytest.raises(TypeError, match="not a training event: TrainResult"):
        tev.to_dict(_result())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bad TrainingFinished event"):
        tev.from_dict({"type": "TrainingFinished", **_result().to_dict()})  # genome, dataset... missing


def test_a_result_holds_no_network():
    assert "model" not in {f for f in TrainResult.__dataclass_fields__}
    assert json.dumps(_result().to_dict())  # plain data: NaN became None
