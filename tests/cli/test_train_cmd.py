"""``genet-lab train`` and ``genet-lab evaluate`` as a person (or the TUI) runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import run_cli

from genet_lab.cli.main import main

QUICK = [
    "--epochs",
    "1",
    "--train-size",
    "100",
    "--threads",
    "1",
    "--precision",
    "fp32",
    "--channels-last",
    "off",
    "--device",
    "cpu",
]


def test_train_json_last_line(capsys):
    code, out, err = run_cli(["train", "paper-best", *QUICK, "--json"])
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    for key in ("val_accuracy", "test_accuracy", "params", "seconds", "images_per_second", "failed"):
        assert key in result
    assert result["test_accuracy"] is None and result["failed"] is False and result["params"] == 22082
    assert result["genome"] == "1-01 0-01-100 0-11-101-0001" and result["train_images"] == 100


def test_train_human_output_and_bar(capsys):
    code, out, err = run_cli(["train", "1-01 0-01-100 0-11-101-0001", *QUICK, "--eval-test"])
    assert code == 0 and "val accuracy" in out and "test accuracy" in out
    assert "epoch 1/1" in err  # the rich bar's live stats (on stderr)


def test_save_then_evaluate_round_trip(capsys, tmp_path):
    ckpt = tmp_path / "best.pt"
    code, out, _ = run_cli(["train", "paper-best", *QUICK, "--eval-test", "--save", str(ckpt), "--json"])
    trained = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and ckpt.is_file() and trained["checkpoint"] == str(ckpt)
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary left behind
    raw = torch.load(ckpt, weights_only=True)
    assert raw["format"] == "genet-lab-checkpoint" and raw["version"] == 1
    assert raw["genome"] == "1-01 0-01-100 0-11-101-0001" and raw["network"]["image_size"] == 8
    assert raw["train"]["epochs"] == 1 and raw["metrics"]["val_accuracy"] == trained["val_accuracy"]
    code, out, _ = run_cli(["evaluate", str(ckpt), "--json", "--device", "cpu"])
    ev = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert ev["val_accuracy"] == pytest.approx(trained["val_accuracy"])
    assert ev["test_accuracy"] == pytest.approx(trained["test_accuracy"])


@pytest.mark.parametrize(
    "content, words",
    [
        (b"\x00garbage, not a zip or a pickle" * 10, "not a readable genet-lab checkpoint"),
        ("foreign", "not a genet-lab checkpoint"),
        ("missing", "does not exist"),
    ],
)
def test_evaluate_rejects_bad_checkpoints(capsys, tmp_path, content, words):
    path = tmp_path / "x.pt"
    if content == "foreign":
        torch.save({"model": {"w": torch.zeros(3)}, "epoch": 4}, path)
    elif content != "missing":
        path.write_bytes(content)
    code, out, err = run_cli(["evaluate", str(path)])
    assert code == 2 and out == ""
    assert err.startswith("error:") and words in err and len(err.strip().splitlines()) == 1


def test_truncated_checkpoint(capsys, tmp_path):
    good = tmp_path / "good.pt"
    main(["train", "zeros", *QUICK, "--save", str(good), "--json"])
    capsys.readouterr()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = run_cli(["evaluate", str(bad)])
    assert code == 2 and "corrupt" in err and len(err.strip().splitlines()) == 1


def test_diverging_run_exit_1_with_result(capsys, tmp_path):
    code, out, err = run_cli(
        [
            "train",
            "chain",
            *QUICK,
            "--lr",
            "1e12",
            "--schedule",
            "constant",
            "--json",
            "--save",
            str(tmp_path / "never.pt"),
        ]
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and result["failed"] and result["val_accuracy"] == 0.0 and result["error"].startswith("diverged")
    assert not (tmp_path / "never.pt").exists() and "not saving" in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "paper-best", "--dataset", "imagefolder", "--data-dir", "/nonexistent/x"], "/nonexistent/x/train"),
        (["train", "paper-best", "--device", "tpu"], "unknown device"),
        (["train", "paper-best", "--train-size", "99999"], "train_size"),
        (["train", "1-2-3"], ""),
        (["train", "paper-best", "--epochs", "0"], "positive integer"),
        (["train", "paper-best", "--save", "/nonexistent/dir/x.pt"], "existing folder"),
        (["evaluate", "/nonexistent/x.pt"], "does not exist"),
    ],
)
def test_bad_input_one_line(capsys, argv, words):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks exit directly
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("error:") and words in err and len(err.strip().splitlines()) == 1


def test_events_subprocess_as_the_tui_runs_it(tmp_path):
    from genet_lab.training.events import TrainingFinished, TrainingProgress, TrainingStarted, from_dict, to_dict

    env = dict(os.environ, PYTHONUNBUFFERED="")
    proc = subprocess.run(
        [sys.executable, "-m", "genet_lab", "train", "paper-best", *QUICK, "--events"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    events = [from_dict(line) for line in lines]
    assert [to_dict(e) for e in events] == lines  # nothing dropped on the way
    assert isinstance(events[0], TrainingStarted) and isinstance(events[-1], TrainingFinished)
    progress = [e for e in events if isinstance(e, TrainingProgress)]
    assert len(progress) >= 2 and len(progress) == len(events) - 2
    assert events[0].genome == "1-01 0-01-100 0-11-101-0001" and events[0].dataset["train"] == 100
    assert progress[-1].epoch == progress[-1].epochs == 1 and progress[-1].done == 1.0
    assert events[-1].val_accuracy == progress[-1].val_accuracy and not events[-1].failed
    assert events[-1].params == 22082 and events[-1].train_images == 100


def test_training_events_round_trip_and_reject_strangers():
    from genet_lab.training.events import TrainingProgress, from_dict, to_dict

    event = TrainingProgress(epoch=2, epochs=4, step=30, steps=100, loss=0.5, val_accuracy=None)
    data = to_dict(event)
    assert data == {
        "type": "TrainingProgress",
        "epoch": 2,
        "epochs": 4,
        "step": 30,
        "steps": 100,
        "loss": 0.5,
        "val_accuracy": None,
    }
    assert from_dict({**data, "new_field": 1}) == event  # a newer writer's extra field is ignored
    assert event.done == pytest.approx(1.2)
    with pytest.raises(ValueError, match="unknown training event type 'progress'"):
        from_dict({"event": "progress", "type": "progress"})
    with pytest.raises(ValueError, match="bad TrainingProgress event"):
        from_dict({"type": "TrainingProgress", "epoch": 1})


def test_the_recipe_is_chosen_shown_and_recorded():
    code, out, _ = run_cli(["train", "paper-best", *QUICK, "--json"])
    train = json.loads(out.strip().splitlines()[-1])["train"]
    assert code == 0 and (train["recipe"], train["schedule"], train["dropout"]) == ("fast", "onecycle", 0.0)
    code, out, _ = run_cli(["train", "paper-best", *QUICK, "--recipe", "paper", "--json"])
    train = json.loads(out.strip().splitlines()[-1])["train"]
    assert code == 0 and (train["recipe"], train["schedule"], train["lr"], train["dropout"]) == (
        "paper",
        "paper",
        0.01,
        0.5,
    )
    code, out, _ = run_cli(["train", "paper-best", *QUICK, "--recipe", "paper"])
    assert code == 0 and "recipe          paper: 1 epochs, batch 32, paper lr 0.01" in out
    code, _, err = run_cli(["train", "paper-best", "--recipe", "slow"])
    assert code == 2 and "invalid choice: 'slow'" in err
