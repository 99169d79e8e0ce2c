"""Data sets and splits: digits, idx folders, torchvision layouts (no network), imagefolder + cache."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from genet_lab.errors import ConfigError, UsageError
from genet_lab.training.data import imagefolder, list_datasets, load_dataset, stratified_split

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_list_datasets():
    assert list_datasets() == ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "imagefolder"]


def test_digits_scaled_split_and_disjoint():
    d = load_dataset("digits", seed=0)
    assert (d.in_channels, d.image_size, d.num_classes) == (1, 8, 10)
    assert d.train_x.dtype == torch.uint8 and d.train_y.dtype == torch.int64
    assert d.train_x.shape[1:] == (1, 8, 8)
    # sklearn's 0..16 values scaled to the full 0..255 range
    assert int(d.train_x.max()) == 255 and int(d.train_x.min()) == 0
    sizes = (len(d.train_y), len(d.val_y), len(d.test_y))
    assert sum(sizes) == 1797 and sizes == (1150, 288, 359)
    rows = lambda x: {bytes(r.numpy().tobytes()) for r in x}  # noqa: E731
    # the digits set has a few exact duplicate images, so compare counts rather than require disjoint sets
    assert len(rows(d.train_x) | rows(d.val_x) | rows(d.test_x)) >= 1797 - 30
    assert len(d.mean) == 1 and 0.2 < d.mean[0] < 0.4 and d.hflip is False


def test_split_fixed_by_seed_and_stratified():
    a, b, c = load_dataset("digits", seed=1), load_dataset("digits", seed=1), load_dataset("digits", seed=2)
    assert torch.equal(a.val_x, b.val_x) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.val_x, c.val_x)
    assert torch.equal(a.test_x, c.test_x), "the held-out test split must not move with the seed"
    counts = torch.bincount(a.val_y, minlength=10)
    assert counts.max() - counts.min() <= 2


def test_stratified_split_cifar_sized():
    labels = np.repeat(np.arange(10), 5000)
    taken, rest = stratified_split(labels, 10_000, seed=3)
    assert len(taken) == 10_000 and len(rest) == 40_000
    assert np.bincount(labels[taken]).tolist() == [1000] * 10
    assert not set(taken) & set(rest)


def test_train_size_subset_and_no_test():
    full = load_dataset("digits")
    d = load_dataset("digits", train_size=100, with_test=False)
    assert len(d.train_y) == 100 and d.test_x is None and d.test_y is None
    assert torch.equal(d.val_x, full.val_x), "the validation split must not depend on train_size"
    assert torch.bincount(d.train_y, minlength=10).min() >= 9


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(name="nope"), "unknown dataset"),
        (dict(name="digits", train_size=5000), "train_size must be between 1 and 1150"),
        (dict(name="digits", val_size=-1), "val_size"),
        (dict(name="digits", val_size=1150 + 288), "val_size must be between 0"),
        (dict(name="imagefolder"), "needs data_dir DIR"),
    ],
)
def test_bad_arguments_one_line(kwargs, words):
    with pytest.raises(UsageError, match=words) as info:
        load_dataset(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_idx_folder():
    d = load_dataset("fashion-mnist", with_test=True)
    assert d.source == str(FASHION)
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (50_000, 10_000, 10_000)
    assert d.train_x.shape[1:] == (1, 28, 28) and d.classes[0] == "T-shirt/top"
    assert torch.bincount(d.val_y).tolist() == [1000] * 10


def _write_idx(folder: Path, n: int, gz: bool, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", n), ("t10k", n // 2)):
        imgs = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labs = (np.arange(count) % 10).astype(np.uint8)
        for stem, arr, magic in ((f"{prefix}-images-idx3-ubyte", imgs, 3), (f"{prefix}-labels-idx1-ubyte", labs, 1)):
            head = bytes([0, 0, 8, magic]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
            data = head + arr.tobytes()
            if gz:
                (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / stem).write_bytes(data)
    return imgs


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_plain_or_gzipped(tmp_path, gz):
    _write_idx(tmp_path, 60, gz)
    d = load_dataset("fashion-mnist", tmp_path, val_size=20)
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (40, 20, 30)
    assert d.source == str(tmp_path)


def test_truncated_idx_file_is_one_line(tmp_path):
    _write_idx(tmp_path, 60, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UsageError, match="truncated"):
        load_dataset("mnist", tmp_path)


def test_torchvision_download_path_with_local_fixture(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []

    def fake_download(self):  # what torchvision would fetch, written locally
        calls.append(self.raw_folder)
        _write_idx(Path(self.raw_folder), 40, gz=False)

    monkeypatch.setattr(tvd.MNIST, "download", fake_download)
    (tmp_path / "mnist-root").mkdir()
    d = load_dataset("mnist", tmp_path / "mnist-root", val_size=10)
    assert calls and calls[0].endswith(os.path.join("MNIST", "raw"))
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (30, 10, 20)
    assert d.classes[0].startswith("0")
    calls.clear()
    load_dataset("mnist", tmp_path / "mnist-root", val_size=10)  # second time: already there
    assert not calls


def test_download_failure_names_path_and_remedy(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self):
        raise OSError("Name or service not known")

    monkeypatch.setattr(tvd.CIFAR10, "download", offline)
    with pytest.raises(UsageError) as info:
        load_dataset("cifar10", tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg and "data_dir" in msg and "cifar-10-batches-py" in msg and "\n" not in msg
    assert "--" not in msg  # the core names the field; the command line words it as its flag
    assert isinstance(info.value, ConfigError) and info.value.option == "data_dir"
    line = info.value.format(lambda o: "--" + o.replace("_", "-"))
    assert line.startswith(f"cifar10 not found or unreadable in {tmp_path} (") and line.endswith(
        f"; connect to the internet to download it into {tmp_path}, or pass --data-dir DIR holding "
        "torchvision's layout (cifar-10-batches-py/)"
    )


def test_cifar10_torchvision_layout(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", 20) for i in range(1, 6)] + [("test_batch", 10)]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [i % 10 for i in range(n)]}
        with open(base / name, "wb") as fh:
            pickle.dump(batch, fh)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, fh)
    import torchvision.datasets.cifar as tvcifar

    # torchvision checks the md5 sums of the real files; these are tiny stand-ins
    monkeypatch.setattr(tvd.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tvcifar, "check_integrity", lambda *a, **k: True)
    d = load_dataset("cifar10", tmp_path, val_size=20)
    assert d.train_x.shape == (80, 3, 32, 32) and d.classes[:2] == ["c0", "c1"]
    assert (len(d.val_y), len(d.test_y)) == (20, 10) and d.hflip
    # NHWC pickles become NCHW tensors: first image's red plane is the first 1024 bytes
    raw = pickle.load(open(base / "test_batch", "rb"))["data"][0]
    assert torch.equal(d.test_x[0, 0].flatten(), torch.from_numpy(raw[:1024]))


def test_imagefolder_and_decoded_cache(cifar_slice, monkeypatch):
    before = set((imagefolder.cache_root() / "imagefolder").glob("*.pt"))  # other tests share the cache
    d = load_dataset("imagefolder", cifar_slice, val_size=50)
    assert d.classes[:3] == ["airplane", "automobile", "bird"] and d.image_size == 32 and d.in_channels == 3
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (150, 50, 50)
    caches = sorted(set((imagefolder.cache_root() / "imagefolder").glob("*.pt")) - before)
    assert len(caches) == 2
    stored = torch.load(caches[0], weights_only=True)
    assert stored["x"].dtype == torch.uint8

    decoded = []
    real = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda p, s: decoded.append(p) or real(p, s))
    again = load_dataset("imagefolder", cifar_slice, val_size=50)
    assert decoded == [] and torch.equal(again.train_x, d.train_x)

    touched = sorted((cifar_slice / "train" / "cat").iterdir())[0]
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    load_dataset("imagefolder", cifar_slice, val_size=50, with_test=False)
    assert decoded == [str(touched)]


def test_imagefolder_resize_and_errors(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (40 + i, 30), (i * 20, 0, 0)).save(tmp_path / "train" / cls / f"{i}.png")
    d = load_dataset("imagefolder", tmp_path, image_size=16, val_size=2)
    assert d.train_x.shape[1:] == (3, 16, 16) and d.test_x is not None  # test held out from train/
    (tmp_path / "train" / "a" / "bad.jpg").write_bytes(b"not an image")
    skipped = load_dataset("imagefolder", tmp_path, image_size=16, val_size=2)  # skipped and counted, not fatal
    assert len(skipped.train_y) + len(skipped.val_y) + len(skipped.test_y) == 12
    assert any("skipped 1 unreadable image file" in str(n) and "bad.jpg" in str(n) for n in skipped.notes)
    with pytest.raises(UsageError, match="train"):
        load_dataset("imagefolder", tmp_path / "nowhere")


def test_svhn_torchvision_layout(tmp_path, monkeypatch):
    import scipy.io
    import torchvision.datasets.svhn as tvsvhn

    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("test", 10)):
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # the .mat files' H x W x C x N
        y = (np.arange(n) % 10 + 1).reshape(n, 1)  # SVHN labels 1..10, 10 meaning the digit 0
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": X, "y": y})
    monkeypatch.setattr(tvsvhn, "check_integrity", lambda *a, **k: True)  # md5s of the real files
    d = load_dataset("svhn", tmp_path, val_size=10)
    assert d.train_x.shape[1:] == (3, 32, 32) and not d.hflip
    assert set(d.test_y.tolist()) == set(range(10)) and d.test_y[9] == 0


def test_val_size_zero_trains_on_everything():
    d = load_dataset("digits", val_size=0)
    assert len(d.val_y) == 0 and d.val_x.shape[1:] == (1, 8, 8) and len(d.train_y) == 1150 + 288
    assert len(d.test_y) == 359, "the held-out test split does not move"
