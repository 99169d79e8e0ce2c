"""Section 4.3's settings on small generated folders: --image-size, the streaming ImageFolder path
with top-1 and top-5 accuracy, and the Caltech-256 protocol (FC features + a linear SVM)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_rejected, run_cli

from genet_lab.errors import ConfigError
from genet_lab.training.data import load_dataset
from genet_lab.training.data.stream import StreamSplits, load_stream


def make_folder(
    root: Path, classes: int = 6, per_class: int = 8, size: int = 40, test: int = 0, flat: bool = False
) -> Path:
    """``classes`` x ``per_class`` random PNGs (each class tinted so it can be learnt a little)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    splits = [("", per_class)] if flat else [("train", per_class)] + ([("test", test)] if test else [])
    for split, n in splits:
        for c in range(classes):
            folder = root / split / f"class{c}" if split else root / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
                arr[..., c % 3] += np.uint8(40 * (c // 3 + 1))
                Image.fromarray(arr).save(folder / f"{i}.png")
    return root


def test_stream_splits_are_file_lists(tmp_path):
    make_folder(tmp_path, test=2)
    d = load_stream("imagefolder", tmp_path, val_size=12, image_size=32)
    assert isinstance(d, StreamSplits) and d.streaming and d.num_classes == 6 and d.image_size == 32
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (36, 12, 12)
    assert torch.bincount(d.val_y).tolist() == [2] * 6
    xb, yb = next(iter(d.loader("train", 8, train=True, generator=torch.Generator().manual_seed(0))))
    assert xb.shape == (8, 3, 32, 32) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    held = load_stream("imagefolder", make_folder(tmp_path / "no-test"), val_size=0)
    assert len(held.val_y) == 0 and len(held.test_y) == 10 and len(held.train_y) == 38  # 20% held out


def test_train_streamed_reports_top5(tmp_path):
    make_folder(tmp_path)
    rc, out, err = run_cli(
        [
            "train",
            "paper-best",
            "--dataset",
            "imagefolder",
            "--data-dir",
            str(tmp_path),
            "--image-size",
            "32",
            "--stream",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--val-size",
            "12",
            "--eval-test",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--json",
        ]
    )
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["train_images"] == 26 and res["val_images"] == 12 and res["epochs_run"] == 1
    assert 0 <= res["val_accuracy"] <= res["val_top5_accuracy"] <= 1
    assert res["test_top5_accuracy"] is not None and res["test_accuracy"] <= res["test_top5_accuracy"]
    assert res["curve"][0]["val_top5_accuracy"] == res["val_top5_accuracy"]
    rc, out, err = run_cli(
        [
            "train",
            "paper-best",
            "--dataset",
            "imagefolder",
            "--data-dir",
            str(tmp_path),
            "--image-size",
            "32",
            "--stream",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--threads",
            "1",
        ]
    )
    assert rc == 0, err
    assert "top-5 error" in out


def test_in_memory_image_size_and_val_size_zero(tmp_path):
    make_folder(tmp_path, classes=3, per_class=5)
    d = load_dataset("imagefolder", tmp_path, image_size=24, val_size=0)
    assert d.train_x.shape[1:] == (3, 24, 24) and len(d.val_y) == 0
    digits = load_dataset("digits", image_size=16, val_size=0)
    assert digits.train_x.shape[1:] == (1, 16, 16) and digits.image_size == 16 and len(digits.val_y) == 0


def test_in_memory_limit_points_to_stream(tmp_path, monkeypatch):
    make_folder(tmp_path, classes=2, per_class=3)
    monkeypatch.setenv("GENET_LAB_MEMORY_GB", "0.000001")  # 1,073 bytes: 6 images of 3 x 7 x 7 fit
    with pytest.raises(ConfigError, match=r"the largest size that fits is 7x7") as info:
        load_dataset("imagefolder", tmp_path)
    assert "\n" not in str(info.value) and info.value.option == "image_size"
    line = info.value.format(lambda o: "--" + o.replace("_", "-"))  # as the command line says it
    assert line.startswith(f"{tmp_path / 'train'}: 6 images at 40x40 would take 28.1 KiB") and line.endswith(
        "pass --image-size 7 or less, or stream the folder (--stream)"
    )


def test_imagenet_preset_builds_at_a_small_size():
    from genet_lab.encoding.genome import paper_best
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training.network import build_network

    net = build_network(paper_best(), get_preset("imagenet").with_input(3, 32, 6))
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 6)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "paper-best", "--dataset", "digits", "--stream"], "imagefolder"),
        (["train", "paper-best", "--image-size", "0"], "positive"),
    ],
)
def test_bad_stream_input_one_line(argv, words):
    assert_rejected(argv, words)


def test_features_svm_on_a_flat_folder(tmp_path):
    ckpt = tmp_path / "net.pt"
    make_folder(tmp_path / "train-set")
    rc, _, err = run_cli(
        [
            "train",
            "paper-best",
            "--dataset",
            "imagefolder",
            "--data-dir",
            str(tmp_path / "train-set"),
            "--image-size",
            "32",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--save",
            str(ckpt),
            "--json",
        ]
    )
    assert rc == 0, err
    caltech = make_folder(tmp_path / "256_ObjectCategories", classes=4, per_class=6, size=48, flat=True)
    rc, out, err = run_cli(
        ["features-svm", str(ckpt), "--data-dir", str(caltech), "--train-per-class", "3", "--device", "cpu", "--json"]
    )
    assert rc == 0, err
    res = json.loads(out)
    assert (res["classes"], res["train_images"], res["test_images"]) == (4, 12, 12)
    assert res["features"] == 32  # paper-cifar10's FC32
    assert 0 <= res["accuracy"] <= 1 and 0 <= res["mean_class_accuracy"] <= 1
    rc, out, err = run_cli(
        ["features-svm", str(ckpt), "--data-dir", str(caltech), "--train-per-class", "3", "--device", "cpu"]
    )
    assert rc == 0 and "mean class accuracy" in out
    assert_rejected(
        ["features-svm", str(ckpt), "--data-dir", str(caltech), "--train-per-class", "6"], "--train-per-class"
    )
    assert_rejected(["features-svm", str(tmp_path / "missing.pt"), "--data-dir", str(caltech)], "missing.pt")


def test_fc_features_are_normalised():
    from genet_lab.encoding.genome import paper_best
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training.features import fc_features
    from genet_lab.training.network import build_network

    net = build_network(paper_best(), get_preset("paper-cifar10"))
    loader = [(torch.randn(5, 3, 32, 32), torch.arange(5))]
    x, y = fc_features(net, loader, torch.device("cpu"))
    assert x.shape == (5, 32) and (x >= 0).all() and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert y.tolist() == [0, 1, 2, 3, 4]
