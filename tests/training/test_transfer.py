"""Section 4.2's transfer experiments: SVHN's paper protocol (extra set, 6,000 validation images,
LCN), CIFAR-100 in torchvision's layout, and ``genet-lab transfer`` end to end on fake data
written exactly as torchvision reads it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_rejected, run_cli

from genet_lab.encoding.genome import paper_best
from genet_lab.training.data import load_dataset
from genet_lab.training.data.protocols import local_contrast_normalize, svhn_extra_splits
from genet_lab.training.transfer import Structure, table2_markdown


def write_svhn(root: Path, per_class: dict[str, int], seed: int = 0) -> None:
    """train/test/extra_32x32.mat: X as H x W x C x N uint8, y as N x 1 with 10 meaning the digit 0."""
    import scipy.io

    rng = np.random.default_rng(seed)
    for split, k in per_class.items():
        n = 10 * k
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1)
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": X, "y": y})


def write_cifar100(root: Path, train_per_class: int = 2, test_per_class: int = 1, seed: int = 0) -> None:
    """cifar-100-python/{train,test,meta}: pickles of data (N x 3072 uint8), fine_labels, fine_label_names."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, k in (("train", train_per_class), ("test", test_per_class)):
        n = 100 * k
        entry = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "fine_labels": [i % 100 for i in range(n)],
            "coarse_labels": [i % 20 for i in range(n)],
        }
        with open(base / name, "wb") as fh:
            pickle.dump(entry, fh)
    with open(base / "meta", "wb") as fh:
        pickle.dump(
            {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}, fh
        )


@pytest.fixture
def no_md5(monkeypatch):
    """torchvision checks the md5 sums of the real files; the fixtures are tiny stand-ins."""
    import torchvision.datasets as tvd
    import torchvision.datasets.cifar as tvcifar
    import torchvision.datasets.svhn as tvsvhn

    monkeypatch.setattr(tvsvhn, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tvcifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tvd.CIFAR100, "_check_integrity", lambda self: True)


def test_svhn_paper_validation_is_400_and_200_per_class():
    rng = np.random.default_rng(1)
    ty = torch.from_numpy(rng.permutation(np.repeat(np.arange(10), 450)))
    ey = torch.from_numpy(rng.permutation(np.repeat(np.arange(10), 260)))
    tx = torch.zeros((len(ty), 3, 4, 4), dtype=torch.uint8)
    ex = torch.ones((len(ey), 3, 4, 4), dtype=torch.uint8)  # extra images are all ones: countable
    d = svhn_extra_splits(
        [str(i) for i in range(10)], (tx, ty), (ex, ey), None, seed=0, train_size=None, val_size=None, source="mem"
    )
    assert len(d.val_y) == 6000 and torch.bincount(d.val_y).tolist() == [600] * 10
    from_extra = d.val_x[:, 0, 0, 0] == 1
    assert int(from_extra.sum()) == 2000
    assert torch.bincount(d.val_y[from_extra]).tolist() == [200] * 10
    assert len(d.train_y) == 4500 + 2600 - 6000 and d.name == "svhn" and not d.hflip
    none = svhn_extra_splits([str(i) for i in range(10)], (tx, ty), (ex, ey), None, 0, None, 0, "mem")
    assert len(none.val_y) == 0 and len(none.train_y) == 7100


def test_lcn_local_mean_and_contrast():
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    y = local_contrast_normalize(x)
    assert y.dtype == torch.float16 and y.shape == x.shape
    assert abs(float(y.float().mean())) < 0.1 and 0.3 < float(y.float().std()) < 3
    flat = local_contrast_normalize(torch.full((1, 3, 16, 16), 77, dtype=torch.uint8))
    assert float(flat.float().abs().max()) < 1e-3  # no contrast: nothing amplified


def test_svhn_extra_lcn_from_torchvision_layout(tmp_path, no_md5):
    write_svhn(tmp_path, {"train": 6, "test": 2, "extra": 3})
    d = load_dataset("svhn", tmp_path, val_size=30, extra=True, lcn=True)
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (60, 30, 20)
    assert torch.bincount(d.val_y).tolist() == [3] * 10  # 2 per class from train, 1 from extra
    assert d.train_x.dtype == torch.float16 and d.preprocessing == "lcn" and d.summary()["preprocessing"] == "lcn"
    assert d.test_y[9] == 0  # label 10 is the digit 0
    final = load_dataset("svhn", tmp_path, val_size=0, extra=True)
    assert len(final.val_y) == 0 and len(final.train_y) == 90


def test_svhn_extra_missing_is_one_line(tmp_path, no_md5):
    write_svhn(tmp_path, {"train": 6, "test": 2})
    with pytest.raises(Exception, match="extra_32x32.mat") as info:
        load_dataset("svhn", tmp_path, extra=True)
    assert "\n" not in str(info.value)
    with pytest.raises(Exception, match="svhn"):
        load_dataset("digits", extra=True)


def test_cifar100_torchvision_layout(tmp_path, no_md5):
    write_cifar100(tmp_path)
    d = load_dataset("cifar100", tmp_path, val_size=0)
    assert d.num_classes == 100 and d.classes[:2] == ["f0", "f1"] and len(d.val_y) == 0
    assert d.train_x.shape == (200, 3, 32, 32) and len(d.test_y) == 100


def test_table2_markdown_layout():
    report = {
        "datasets": ["svhn", "cifar100"],
        "protocol": "paper",
        "preset": "wide",
        "data": {"svhn": {"val": 0}, "cifar100": {"val": 0}},
        "rows": [
            {
                "structure": "paper-best",
                "genome": paper_best().notation(),
                "params": {"svhn": 1000, "cifar100": 1090},
                "test_error": {"svhn": 1.97, "cifar100": None},
            }
        ],
    }
    md = table2_markdown(report)
    assert "| structure | genome | params | SVHN | CF100 |" in md
    assert "| 1.97 | - |" in md and "1,000 / 1,090" in md and "whole training set" in md
    assert Structure("x", paper_best()).genome == paper_best()


def test_transfer_command_end_to_end(tmp_path, no_md5):
    data = tmp_path / "data"
    data.mkdir()
    write_svhn(data, {"train": 6, "test": 2, "extra": 3})
    write_cifar100(data)
    out = tmp_path / "report"
    rc, stdout, err = run_cli(
        [
            "transfer",
            "paper-best",
            "chain",
            "--dataset",
            "svhn,cifar100",
            "--data-dir",
            str(data),
            "--preset",
            "paper-cifar10",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--val-size",
            "0",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0, err
    report = json.loads(stdout)
    assert report["datasets"] == ["svhn", "cifar100"] and report["protocol"] == "paper"
    assert [r["structure"] for r in report["rows"]] == ["paper-best", "chain"]
    for row in report["rows"]:
        for ds in ("svhn", "cifar100"):
            assert 0 <= row["test_error"][ds] <= 100 and row["params"][ds] > 0
    assert report["data"]["svhn"]["preprocessing"] == "lcn" and report["data"]["svhn"]["train"] == 90
    assert report["rows"][0]["params"]["cifar100"] > report["rows"][0]["params"]["svhn"]  # a 100-class head
    md = (out / "transfer.md").read_text()
    assert "| SVHN | CF100 |" in md and "paper-best" in md
    assert json.loads((out / "transfer.json").read_text())["rows"][1]["structure"] == "chain"
    assert "test error" in err


def test_transfer_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "run").mkdir()
    assert_rejected(["transfer", str(tmp_path / "run"), "--data-dir", str(tmp_path)], "not a run")


def test_transfer_reads_a_real_run(tmp_path):
    from genet_lab.cli.transfer import structures_from_run
    from genet_lab.evolution import evolve

    evolve(tmp_path / "run", population=3, generations=1, fitness="toy", seed=0)
    picked = structures_from_run(tmp_path / "run", 2, None)
    assert len(picked) == 2 and picked[0][0].startswith("run #1")
    gens = structures_from_run(tmp_path / "run", 1, [0, 1])
    assert [label for label, _ in gens] == ["run G-00 best", "run G-01 best"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["transfer", "paper-best", "--dataset", "mnist"], "svhn"),
        (["transfer", "paper-best", "--top", "0"], "positive"),
        (["transfer", "nonsense-genome", "--data-dir", "."], "genome"),
        (["transfer", "paper-best", "--val-size", "-1"], ">= 0"),
    ],
)
def test_transfer_bad_input_one_line(argv, words):
    assert_rejected(argv, words)
