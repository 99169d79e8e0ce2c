"""Issue 22 (hardening, round 3), ``transfer``: every data set and ``--out`` checked before the
first training, each finished training recorded in ``--out`` so that the same command
continues after Ctrl-C, a full disk or a missing data set; a damaged local copy refused, never
downloaded over; ``--device`` checked first; ``--top`` labels in percent; Table 2's columns in
the paper's order; one recipe default in ``--help``. Fake SVHN / CIFAR-100 files written in
torchvision's layouts; nothing is downloaded."""

from __future__ import annotations

import errno
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, run_cli

import genet_lab.training.trainer as trainer


def write_svhn(root: Path, per_class: int = 3) -> None:
    """train/test_32x32.mat: X as H x W x C x N uint8, y as N x 1 (10 meaning the digit 0)."""
    import scipy.io

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        n = 10 * per_class
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": X, "y": (np.arange(n) % 10 + 1).reshape(n, 1)})


def write_cifar100(root: Path) -> None:
    """cifar-100-python/{train,test,meta}: one training and one test image per class."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in ("train", "test"):
        entry = {"data": rng.integers(0, 256, (100, 3072), dtype=np.uint8), "fine_labels": list(range(100))}
        (base / name).write_bytes(pickle.dumps(entry))
    (base / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"f{i}" for i in range(100)]}))


@pytest.fixture
def no_md5(monkeypatch):
    """torchvision checks the md5 sums of the real files; the fixtures are tiny stand-ins."""
    import torchvision.datasets as tvd
    import torchvision.datasets.cifar as tvcifar
    import torchvision.datasets.svhn as tvsvhn

    monkeypatch.setattr(tvsvhn, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tvcifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tvd.CIFAR100, "_check_integrity", lambda self: True)


@pytest.fixture
def offline(monkeypatch):
    """Any download fails at once (and is recorded), as on a machine without internet."""
    import torchvision.datasets.cifar as tvcifar
    import torchvision.datasets.svhn as tvsvhn

    tried = []

    def refuse(*args, **kwargs):
        tried.append(args)
        raise OSError("no network here")

    monkeypatch.setattr(tvcifar, "download_and_extract_archive", refuse)
    monkeypatch.setattr(tvsvhn, "download_url", refuse)
    return tried


@pytest.fixture
def counted(monkeypatch):
    """Counts the trainings; ``counted.stop_at = N`` makes the N-th raise KeyboardInterrupt (Ctrl-C)."""
    real = trainer.train_genome

    class Count:
        calls = 0
        stop_at = 0

    def wrapped(*args, **kwargs):
        Count.calls += 1
        if Count.calls == Count.stop_at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_genome", wrapped)
    return Count


def error_line(rc: int, err: str, *needles: str) -> str:
    """Exit 2, no traceback, the last line ``error: ...`` with each needle; the lines before it
    are what the transfer said while it worked (data sets loaded, trainings, a download)."""
    assert rc == 2 and "Traceback" not in err, (rc, err)
    last = err.strip("\n").split("\n")[-1]
    assert last.startswith("error: ") and all(n in last for n in needles), err
    return last


def transfer_argv(data: Path, *more: str) -> list[str]:
    return [
        "transfer",
        "chain",
        "zeros",
        "--stages",
        "3",
        "--data-dir",
        str(data),
        "--protocol",
        "plain",
        "--preset",
        "paper-cifar10",
        "--val-size",
        "0",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--threads",
        "1",
        *more,
    ]


@pytest.fixture
def data(tmp_path, no_md5) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    write_svhn(d)
    write_cifar100(d)
    return d


def test_missing_second_data_set_is_refused_before_any_training(tmp_path, monkeypatch, offline, counted, caplog):
    import torchvision.datasets.svhn as tvsvhn

    monkeypatch.setattr(tvsvhn, "check_integrity", lambda *a, **k: True)  # the fake SVHN passes; CIFAR-100 is absent
    d = tmp_path / "data"
    d.mkdir()
    write_svhn(d)  # cifar100 absent
    with caplog.at_level("WARNING", logger="genet_lab.data"):  # on stderr when nothing else handles logging
        rc, out, err = run_cli(transfer_argv(d, "--dataset", "svhn,cifar100", "--out", str(tmp_path / "out")))
    error_line(rc, err, "cifar100", "no network here")
    assert counted.calls == 0 and len(offline) == 1
    assert any(r.message.startswith("cifar100: not in") and "downloading" in r.message for r in caplog.records)
    assert not (tmp_path / "out").exists()  # the folder made for the tables is taken back


def test_ctrl_c_keeps_finished_trainings_and_the_same_command_continues(tmp_path, data, counted):
    out = tmp_path / "out"
    argv = transfer_argv(data, "--dataset", "svhn,cifar100", "--out", str(out), "--json")
    counted.stop_at = 2
    rc, _, err = run_cli(argv)
    assert rc == 130 and "1 finished training(s) are recorded in" in err and "Traceback" not in err
    saved = json.loads((out / "transfer.json").read_text())
    assert not saved["complete"] and saved["rows"][0]["test_error"]["svhn"] is not None
    assert "Partial: 1 of 4 trainings recorded" in (out / "transfer.md").read_text()
    counted.calls, counted.stop_at = 0, 0
    rc, stdout, err = run_cli(argv)
    assert rc == 0, err
    assert counted.calls == 3 and "continuing the transfer recorded in" in err
    report = json.loads(stdout)
    assert report["complete"] and report["reused"] == 1
    assert report["rows"][0]["test_error"]["svhn"] == saved["rows"][0]["test_error"]["svhn"]
    assert all(v is not None for row in report["rows"] for v in row["test_error"].values())
    assert json.loads((out / "transfer.json").read_text())["complete"]
    counted.calls = 0
    rc, _, err = run_cli(argv)  # everything recorded: nothing trains again
    assert rc == 0 and counted.calls == 0 and "all 2 trainings already recorded" in err
    rc, _, err = run_cli(transfer_argv(data, "--dataset", "svhn", "--out", str(out), "--seed", "1"))
    assert_one_line_error(rc, err, "other settings", "seed")
    fewer = transfer_argv(data, "--dataset", "svhn", "--out", str(out))  # would drop the CIFAR-100 column
    rc, _, err = run_cli(fewer)
    assert_one_line_error(rc, err, "holds 2 recorded training(s) this command does not ask for", "cifar100")
    assert json.loads((out / "transfer.json").read_text())["complete"]  # left as it was


def test_a_full_disk_while_recording_keeps_what_was_recorded(tmp_path, data, monkeypatch, counted):
    import genet_lab.training.transfer_dir as tdir

    real, writes = tdir.atomic_write, []

    def full(path, payload, what="output"):
        writes.append(path)
        if len(writes) > 2:  # the first training's report and table go through
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, payload, what=what)

    monkeypatch.setattr(tdir, "atomic_write", full)
    out = tmp_path / "out"
    argv = transfer_argv(data, "--dataset", "svhn", "--out", str(out))
    rc, _, err = run_cli(argv)
    error_line(rc, err, "No space left", "the 1 recorded before are kept")
    assert json.loads((out / "transfer.json").read_text())["rows"][0]["test_error"]["svhn"] is not None
    monkeypatch.setattr(tdir, "atomic_write", real)
    counted.calls = 0
    rc, _, err = run_cli(argv)
    assert rc == 0 and counted.calls == 1, err


@pytest.mark.parametrize("where", ["out-is-a-file", "parent-is-a-file"])
def test_unwritable_out_is_refused_before_any_training(tmp_path, data, counted, where):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" if where == "out-is-a-file" else tmp_path / "file" / "sub"
    rc, _, err = run_cli(transfer_argv(data, "--dataset", "svhn", "--out", str(out)))
    assert_one_line_error(rc, err, "--out", "is a file")
    assert counted.calls == 0


def test_read_only_out_is_refused_before_any_training(tmp_path, data, counted, monkeypatch):
    import genet_lab.training.transfer_dir as tdir

    def read_only(*args, **kwargs):  # as a read-only folder answers (root ignores chmod, so it is simulated)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tdir.tempfile, "mkstemp", read_only)
    rc, _, err = run_cli(transfer_argv(data, "--dataset", "svhn", "--out", str(tmp_path / "ro")))
    assert_one_line_error(rc, err, "--out", "cannot be written (Permission denied)")
    assert counted.calls == 0 and not (tmp_path / "ro").exists()


def test_damaged_local_copy_is_refused_not_downloaded(tmp_path, offline, counted):
    d = tmp_path / "data"
    d.mkdir()
    write_svhn(d)  # not the published files: their md5 differs (no no_md5 fixture here)
    rc, _, err = run_cli(transfer_argv(d, "--dataset", "svhn"))
    assert_one_line_error(rc, err, "does not pass torchvision's checksum", "not downloading over it")
    assert offline == [] and counted.calls == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of a device this machine lacks")
def test_device_is_checked_before_anything_is_read(tmp_path, counted):
    argv = transfer_argv(tmp_path / "nowhere", "--dataset", "svhn")
    argv[argv.index("--device") + 1] = "cuda"
    rc, _, err = run_cli(argv)
    assert_one_line_error(rc, err, "cuda", "--device")
    assert counted.calls == 0


def test_table2_columns_follow_the_paper_whatever_the_order_asked(tmp_path, data):
    rc, stdout, err = run_cli(transfer_argv(data, "--dataset", "cifar100", "--dataset", "svhn"))
    assert rc == 0, err
    assert "| structure | genome | params | SVHN | CF100 |" in stdout
    assert err.index("svhn:") < err.index("cifar100:")  # trained in that order too


def test_top_labels_show_the_stored_percentages(tmp_path):
    from genet_lab.cli.transfer import structures_from_run
    from genet_lab.evolution import RunStore, evolve

    evolve(tmp_path / "run", population=3, generations=1, fitness="toy", seed=0)
    with RunStore(tmp_path / "run", readonly=True) as st:
        stored = [i.accuracy for i in st.individuals() if i.accuracy is not None]
    label, _ = structures_from_run(tmp_path / "run", 1, None)[0]
    shown = float(label.split("(")[1].rstrip("%)"))
    assert min(stored) - 0.005 <= shown <= max(stored) + 0.005  # a mean of stored percentages, not x100


def test_help_gives_the_recipe_default_once():
    rc, out, _ = run_cli(["transfer", "--help"])
    assert rc == 0
    flat = " ".join(out.split())
    recipe = flat[flat.index("how to train") :]
    recipe = recipe[: recipe.index("--lr")]
    assert "default here: paper" in recipe and "(default:" not in recipe  # was: "default paper" and "fast (default:"
