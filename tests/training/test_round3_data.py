"""Issue 22 (hardening, round 3), the data half: bad files in image folders are skipped and
counted (streamed, in memory, features-svm, evaluate), symlink loops are cut, the image size
is decided from all images, 16-bit PNGs are scaled, resampling is bounded by the memory limit,
a damaged local copy is never downloaded over, evaluate matches classes by name, val-size 0
reports no validation accuracy, the imagenet protocol, and Caltech-256 without its clutter.
Tiny folders made here with PIL; nothing is downloaded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, assert_rejected, run_cli

from genet_lab.errors import ConfigError, UsageError
from genet_lab.training.data import load_dataset
from genet_lab.training.data.images import list_images, open_rgb
from genet_lab.training.data.stream import load_stream

FAST = ["--epochs", "1", "--batch-size", "8", "--device", "cpu", "--threads", "1"]


def folder(root: Path, classes=("cat", "dog"), per_class: int = 6, size: int = 16, split: str = "train") -> Path:
    """``root/split/<class>/i.png``: random images, each class tinted so that it can be told apart."""
    from PIL import Image

    rng = np.random.default_rng(len(classes) * 100 + per_class)
    for c, name in enumerate(classes):
        d = root / split / name if split else root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 100, (size, size, 3), dtype=np.uint8)
            arr[..., c % 3] += 120
            Image.fromarray(arr).save(d / f"{i}.png")
    return root


def plant_bad_files(d: Path, monkeypatch) -> list[str]:
    """A text file named .png, a 0-byte file, a truncated PNG and a decompression bomb in ``d``."""
    from PIL import Image

    (d / "text.png").write_text("not an image\n")
    (d / "empty.png").write_bytes(b"")
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(d / "whole.png")
    raw = (d / "whole.png").read_bytes()
    (d / "truncated.png").write_bytes(raw[: len(raw) // 2])
    (d / "whole.png").unlink()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(d / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 > 2 x 1000: a bomb to PIL
    return ["text.png", "empty.png", "truncated.png", "bomb.png"]


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


# -- item 3: train --stream never dies on one file ------------------------------------------------


def test_stream_skips_and_counts_unreadable_files(tmp_path, monkeypatch):
    root = folder(tmp_path, per_class=8)
    folder(tmp_path, per_class=3, split="test")
    bad = plant_bad_files(root / "train" / "cat", monkeypatch)
    (root / "test" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")  # --eval-test's own bad file
    rc, out, err = run_cli(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(root), "--stream"]
        + ["--image-size", "16", "--val-size", "4", "--eval-test", "--json", *FAST]
    )
    assert rc == 0, err
    res = last_json(out)
    assert not res["failed"] and res["test_accuracy"] is not None
    skipped = len(bad) + 1
    assert res["unreadable"] == skipped, res
    notes = [line for line in err.splitlines() if line.startswith("note: skipped")]
    assert len(notes) == 1 and f"skipped {skipped} unreadable image files" in notes[0], err
    assert any(name in notes[0] for name in [*bad, "broken.png"])
    assert "Traceback" not in err


def test_unreadable_files_are_counted_across_loader_workers(tmp_path, monkeypatch):
    root = folder(tmp_path, per_class=6)
    bad = plant_bad_files(root / "train" / "dog", monkeypatch)
    s = load_stream("imagefolder", root, val_size=0, image_size=16, workers=2)  # decoded in 2 worker processes
    seen = 0
    for xb, yb in s.loader("train", 4):
        xb, yb = s.readable("train", xb, yb)
        assert len(xb) == len(yb) and bool((yb >= 0).all())
        seen += len(yb)
    in_train = [p for p, _ in s.train_samples if Path(p).name in bad]
    assert in_train and set(s.unreadable.paths) == set(in_train)  # each counted once, whichever worker met it
    assert seen == len(s.train_samples) - len(in_train)
    assert s.note()[-1].startswith(f"skipped {len(s.unreadable)} unreadable image file")


def test_stream_where_nothing_can_be_read_fails_the_training_not_the_process(tmp_path):
    root = tmp_path / "f"
    for c in ("a", "b"):
        (root / "train" / c).mkdir(parents=True)
        for i in range(4):
            (root / "train" / c / f"{i}.png").write_text("text")
    argv = ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(root), "--stream"]
    rc, _, err = run_cli([*argv, *FAST])  # the size is read from the headers: none readable, refused up front
    assert_one_line_error(rc, err, "none of the 8 image files could be read", "0.png")
    rc, out, err = run_cli([*argv, "--image-size", "8", "--json", *FAST])  # no header read: the training fails
    assert rc == 1 and "Traceback" not in err
    res = last_json(out)
    assert res["failed"] and res["error"].startswith("no training image could be read (skipped")


# -- item 10: in memory, features-svm, symlink loops ----------------------------------------------


def test_symlink_loop_is_cut_not_followed(tmp_path):
    root = folder(tmp_path, per_class=3)
    os.symlink("..", root / "train" / "cat" / "loop")
    samples, loops = list_images(root / "train", {"cat": 0, "dog": 1})
    assert len(samples) == 6 and len(loops) == 1 and loops[0].endswith("loop")
    d = load_dataset("imagefolder", root, val_size=0, with_test=False)
    assert len(d.train_y) + len(load_dataset("imagefolder", root, val_size=0).test_y) == 6
    assert any("symlinked folder" in str(n) for n in d.notes)
    s = load_stream("imagefolder", root, val_size=0)
    assert len(s.train_samples) + len(s.test_samples) == 6 and any("loop" in str(n) for n in s.notes)


def test_train_in_memory_with_bad_files_and_a_loop_says_so_once(tmp_path, monkeypatch):
    root = folder(tmp_path, per_class=6)
    plant_bad_files(root / "train" / "dog", monkeypatch)
    os.symlink("..", root / "train" / "dog" / "loop")
    rc, out, err = run_cli(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(root), "--json", *FAST]
    )
    assert rc == 0, err
    assert last_json(out)["train_images"] + last_json(out)["val_images"] < 12  # 12 readable, some held out
    assert err.count("note: skipped 4 unreadable image files") == 1 and err.count("symlinked folder") == 1


def test_features_svm_skips_bad_files_and_leaves_clutter_out(tmp_path, monkeypatch):
    ckpt = tmp_path / "net.pt"
    train = folder(tmp_path / "set", classes=("a", "b", "c"), per_class=5)
    rc, _, err = run_cli(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(train)]
        + ["--image-size", "16", "--save", str(ckpt), "--json", *FAST]
    )
    assert rc == 0, err
    caltech = folder(tmp_path / "256_ObjectCategories", classes=("001.ak47", "002.bat", "257.clutter"), split="")
    plant_bad_files(caltech / "002.bat", monkeypatch)
    os.symlink("..", caltech / "001.ak47" / "loop")
    argv = ["features-svm", str(ckpt), "--data-dir", str(caltech), "--train-per-class", "2", "--device", "cpu"]
    rc, out, err = run_cli([*argv, "--json"])
    assert rc == 0, err
    res = json.loads(out)
    assert res["classes"] == 2 and res["left_out"] == ["257.clutter"] and "257.clutter left out" in res["protocol"]
    assert res["unreadable"] == 4 and "note: skipped 4 unreadable" in err and "symlinked folder" in err
    rc, out, err = run_cli([*argv, "--clutter", "--json"])
    assert rc == 0, err
    assert json.loads(out)["classes"] == 3 and json.loads(out)["left_out"] == []
    rc, out, _ = run_cli(argv)
    assert rc == 0 and "protocol             2 classes, 257.clutter left out" in out


# -- item 16: the size from all images -------------------------------------------------------------


def test_image_size_is_the_most_common_not_the_first(tmp_path, monkeypatch):
    from PIL import Image

    root = folder(tmp_path, per_class=5, size=16)
    Image.new("RGB", (1, 1)).save(root / "train" / "cat" / "0000-first.png")  # sorts first
    d = load_dataset("imagefolder", root, val_size=0)
    assert d.image_size == 16
    note = next(n for n in d.notes if isinstance(n, ConfigError))
    line = note.format(lambda o: "--" + o.replace("_", "-"))
    assert "images differ in size (shorter side 1 to 16 pixels; 1 of 11 are not 16)" in line
    assert line.endswith("choose another with --image-size N")
    s = load_stream("imagefolder", root)
    assert s.image_size == 16 and any(isinstance(n, ConfigError) for n in s.notes)
    same = load_dataset("imagefolder", folder(tmp_path / "same", size=12), val_size=0)
    assert same.image_size == 12 and not same.notes
    import genet_lab.training.data.images as images

    def no_header(path):
        raise AssertionError(f"header of {path} read again")

    monkeypatch.setattr(images, "header_side", no_header)  # the sides are cached with the files' stat
    assert load_dataset("imagefolder", root, val_size=0).image_size == 16


# -- item 17: 16-bit PNGs ------------------------------------------------------------------------------


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    from PIL import Image

    ramp = (np.arange(64).reshape(8, 8) * 1040).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as im:
        assert im.mode.startswith("I")  # what PIL makes of it; convert("RGB") would clip at 255
    arr = np.asarray(open_rgb(tmp_path / "deep.png"))
    assert arr.shape == (8, 8, 3) and arr.dtype == np.uint8
    expected = np.rint(ramp * (255 / 65535)).astype(np.uint8)
    assert np.array_equal(arr[..., 0], expected) and len(np.unique(arr)) > 32  # not all white
    root = folder(tmp_path / "f", per_class=3, size=8)
    Image.fromarray(ramp).save(root / "train" / "cat" / "deep.png")
    d = load_dataset("imagefolder", root, val_size=0, image_size=8)
    assert len(d.train_y) + len(d.test_y) == 7 and not any("unreadable" in str(n) for n in d.notes)
    from genet_lab.training.data.imagefolder import _decode

    assert torch.equal(_decode(str(root / "train" / "cat" / "deep.png"), 8)[1], torch.from_numpy(expected))
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ValueError, match="floating-point"):
        open_rgb(tmp_path / "float.tif")


# -- item 11: resampling bounded by the memory limit -------------------------------------------------


def test_image_size_resampling_is_checked_against_memory(monkeypatch):
    monkeypatch.setenv("GENET_LAB_MEMORY_GB", "0.01")  # 10.7 MB: digits' 1,797 images fit at 77x77
    with pytest.raises(ConfigError) as info:
        load_dataset("digits", image_size=600)
    line = info.value.format(lambda o: "--" + o.replace("_", "-"))
    fits = int((0.01 * 2**30 / 1797) ** 0.5)
    assert "resampling digits: 1,797 images at 600x600" in line and f"fits is {fits}x{fits}" in line
    assert f"--image-size {fits} or less" in line and "\n" not in line
    assert load_dataset("digits", image_size=fits, val_size=0).image_size == fits
    assert_rejected(["train", "chain", "--stages", "3", "--image-size", "600", *FAST], "600x600", f"{fits}x{fits}")


# -- item 14: a local copy whose checksum differs is not downloaded over ---------------------------


def test_checksum_mismatch_is_said_and_nothing_downloads(tmp_path, monkeypatch):
    import pickle

    import torchvision.datasets.utils as tvu

    base = tmp_path / "cifar-100-python"
    base.mkdir()
    for name in ("train", "test", "meta"):
        (base / name).write_bytes(pickle.dumps({"data": []}))
    called = []
    monkeypatch.setattr(tvu, "download_url", lambda *a, **k: called.append(a))
    monkeypatch.setattr(tvu, "download_and_extract_archive", lambda *a, **k: called.append(a))
    with pytest.raises(UsageError, match="does not pass torchvision's checksum") as info:
        load_dataset("cifar100", tmp_path)
    assert "not downloading over it" in str(info.value) and str(base) in str(info.value)
    assert called == []


def test_a_download_is_announced_and_has_a_timeout(tmp_path, monkeypatch, caplog):
    import socket

    import torchvision.datasets.cifar as tvcifar

    seen = {}

    def fake_download(*args, **kwargs):
        seen["timeout"] = socket.getdefaulttimeout()
        raise OSError("offline")

    monkeypatch.setattr(tvcifar, "download_and_extract_archive", fake_download)
    monkeypatch.setenv("GENET_LAB_DOWNLOAD_TIMEOUT", "7")
    with caplog.at_level("WARNING", logger="genet_lab.data"):
        with pytest.raises(UsageError, match="offline"):
            load_dataset("cifar10", tmp_path)
    assert seen["timeout"] == 7.0 and socket.getdefaulttimeout() != 7.0
    assert any("downloading it there" in r.message and "7 s" in r.message for r in caplog.records)


# -- item 15: evaluate matches classes by name -----------------------------------------------------


def test_relabel_renumbers_by_name():
    from types import SimpleNamespace

    from genet_lab.training.data.splits import relabel

    y = torch.tensor([0, 1, 1, 0])
    data = SimpleNamespace(classes=["dog", "cat"], num_classes=2, train_y=y, val_y=y.clone(), test_y=None)
    assert relabel(data, ["cat", "dog"], "pets") == []
    assert data.val_y.tolist() == [1, 0, 0, 1] and data.classes == ["cat", "dog"]
    sub = SimpleNamespace(classes=["cat", "dog"], num_classes=2, train_y=y, val_y=y.clone(), test_y=y.clone())
    notes = relabel(sub, ["ant", "cat", "dog"], "pets")
    assert sub.test_y.tolist() == [1, 2, 2, 1] and sub.num_classes == 3 and "2 of the 3 classes" in notes[0]


def test_evaluate_on_a_folder_with_some_of_the_classes(tmp_path):
    ckpt = tmp_path / "net.pt"
    root = folder(tmp_path / "pets", classes=("ant", "cat", "dog"), per_class=6)
    rc, _, err = run_cli(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(root)]
        + ["--save", str(ckpt), "--json", *FAST]
    )
    assert rc == 0, err
    some = folder(tmp_path / "some", classes=("cat", "dog"), per_class=6)
    rc, out, err = run_cli(["evaluate", str(ckpt), "--data-dir", str(some), "--json"])
    assert rc == 0, err
    assert "2 of the 3 classes" in err and 0 <= json.loads(out)["test_accuracy"] <= 1


def test_evaluate_refuses_other_class_names(tmp_path):
    ckpt = tmp_path / "net.pt"
    root = folder(tmp_path / "pets", classes=("cat", "dog"), per_class=6)
    rc, _, err = run_cli(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(root)]
        + ["--save", str(ckpt), "--json", *FAST]
    )
    assert rc == 0, err
    other = folder(tmp_path / "zoo", classes=("cat", "fox"), per_class=6)
    assert_rejected(
        ["evaluate", str(ckpt), "--data-dir", str(other)], "classes the checkpoint was not trained on: fox", "lacks dog"
    )


# -- item 18: no validation split, no validation accuracy ---------------------------------------------


def test_val_size_zero_reports_no_val_accuracy_and_judges_on_test(tmp_path):
    ckpt = tmp_path / "final.pt"
    rc, out, err = run_cli(["train", "chain", "--stages", "3", "--val-size", "0", "--save", str(ckpt), "--json", *FAST])
    assert rc == 0, err
    res = last_json(out)
    assert res["val_images"] == 0 and res["val_accuracy"] is None and res["curve"][0]["val_accuracy"] is None
    assert res["test_accuracy"] is not None and res["train"]["eval_test"]  # judged on the test split
    rc, out, err = run_cli(["train", "chain", "--stages", "3", "--val-size", "0", *FAST])
    assert rc == 0 and "val accuracy    -" in out and "test accuracy   -" not in out
    rc, out, err = run_cli(["evaluate", str(ckpt), "--json"])
    assert rc == 0, err
    ev = json.loads(out)
    assert ev["val_images"] == 0 and ev["val_accuracy"] is None and ev["trained_val_accuracy"] is None
    assert ev["test_accuracy"] is not None
    root = folder(tmp_path / "f", per_class=6)
    rc, out, err = run_cli(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(root), "--stream"]
        + ["--image-size", "16", "--val-size", "0", "--json", *FAST]
    )
    assert rc == 0, err
    res = last_json(out)
    assert res["val_accuracy"] is None and res["val_top5_accuracy"] is None and res["test_accuracy"] is not None


# -- item 23: the imagenet protocol ---------------------------------------------------------------------


def test_imagenet_protocol_trains_on_all_of_train_and_reports_val(tmp_path):
    root = folder(tmp_path, per_class=5)
    folder(tmp_path, per_class=2, split="val")
    s = load_stream("imagefolder", root, protocol="imagenet", image_size=16)
    assert (len(s.train_samples), len(s.val_samples), len(s.test_samples)) == (10, 0, 4)
    assert all("/val/" in p for p, _ in s.test_samples) and s.summary()["protocol"] == "imagenet"
    assert len(load_stream("imagefolder", root, image_size=16).train_samples) < 10  # holdout: a validation split
    rc, out, err = run_cli(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(root)]
        + ["--protocol", "imagenet", "--image-size", "16", "--json", *FAST]
    )
    assert rc == 0, err
    res = last_json(out)
    assert res["train_images"] == 10 and res["val_images"] == 0 and res["test_accuracy"] is not None
    rc, out, err = run_cli(["train", "chain", "--stages", "3", "--protocol", "imagenet", "--dry-run", *FAST])
    assert rc == 0 and '"protocol": "imagenet"' in out and '"stream": true' in out and '"eval_test": true' in out
    bare = folder(tmp_path / "bare", per_class=3)
    assert_rejected(
        ["train", "chain", "--stages", "3", "--dataset", "imagefolder", "--data-dir", str(bare)]
        + ["--protocol", "imagenet", *FAST],
        "imagenet protocol reports on",
        "val",
    )
