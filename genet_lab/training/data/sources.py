"""Readers for the built-in data sets: sklearn's digits, idx folders, torchvision's classes.

Each reader returns uint8 N x C x H x W images and int64 labels on the CPU and
turns a missing or unreadable copy into one :class:`UsageError` line that names
the path tried and how to get the data. A download is never silent: it is announced on the
``genet_lab.data`` logger (shown on stderr without any logging set up) and a stalled one
times out (:data:`DOWNLOAD_TIMEOUT`); a local copy whose checksum differs is refused, never
downloaded over.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from genet_lab.errors import ConfigError, UsageError

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's dataset-fashion-mnist package puts the idx files."""

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

TORCHVISION = {
    # name: (class name, layout hint for the error message)
    "mnist": ("MNIST", "MNIST/raw/*-ubyte, or the four idx files themselves"),
    "fashion-mnist": (
        "FashionMNIST",
        "FashionMNIST/raw/*-ubyte, or the four idx files themselves "
        "(apt-get install dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist)",
    ),
    "cifar10": ("CIFAR10", "cifar-10-batches-py/"),
    "cifar100": ("CIFAR100", "cifar-100-python/"),
    "svhn": ("SVHN", "train_32x32.mat and test_32x32.mat"),
}


DOWNLOAD_TIMEOUT = 60.0
"""Seconds a download may wait for the server (to connect, or for the next bytes):
$GENET_LAB_DOWNLOAD_TIMEOUT."""
log = logging.getLogger("genet_lab.data")


def download_timeout() -> float:
    """$GENET_LAB_DOWNLOAD_TIMEOUT seconds when it is a positive finite number, else :data:`DOWNLOAD_TIMEOUT`."""
    try:
        value = float(os.environ.get("GENET_LAB_DOWNLOAD_TIMEOUT", DOWNLOAD_TIMEOUT))
    except ValueError:
        return DOWNLOAD_TIMEOUT
    return value if 0 < value < 86400 else DOWNLOAD_TIMEOUT


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """torchvision's downloads open URLs without a timeout: give every socket one meanwhile."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def local_files(name: str, root: Path) -> list[Path]:
    """What torchvision reads for ``name`` in ``root`` (present or not): its folder or files."""
    if name in ("mnist", "fashion-mnist"):
        return [root / TORCHVISION[name][0] / "raw"]
    if name == "cifar10":
        return [root / "cifar-10-batches-py"]
    if name == "cifar100":
        return [root / "cifar-100-python"]
    return [root / "train_32x32.mat", root / "test_32x32.mat"]


def svhn_extra_size(root) -> int:
    """Images in SVHN's extra set, read from the .mat file's header only (0 when it is absent)."""
    import scipy.io  # type: ignore[import-untyped]

    try:
        shapes = {n: shape for n, shape, _ in scipy.io.whosmat(str(Path(root) / "extra_32x32.mat"))}
    except Exception:  # absent or unreadable: load_svhn_extra says so in its own line
        return 0
    shape = shapes.get("X", ())
    return int(shape[-1]) if shape else 0


def default_data_root() -> Path:
    """Where downloads go without a ``data_dir``: $GENET_LAB_DATA or ~/.cache/genet-lab/data."""
    env = os.environ.get("GENET_LAB_DATA")
    return Path(env) if env else Path.home() / ".cache" / "genet-lab" / "data"


def load_digits() -> tuple[list[str], tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn's bundled 8x8 digits (1,797 images, values 0..16), scaled to 0..255 uint8."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    x = torch.from_numpy(images).unsqueeze(1).contiguous()
    y = torch.from_numpy(d.target.astype(np.int64))
    return [str(c) for c in d.target_names], (x, y)


# -- idx files (MNIST and Fashion-MNIST's original format) -------------------------------------


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = folder / name
        if p.is_file():
            return p
    return None


def find_idx_folder(folder: Path) -> bool:
    """True when ``folder`` holds the training images and labels as idx files (gzipped or not)."""
    return all(_idx_path(folder, stem) is not None for stem in IDX_FILES["train"])


def read_idx(path: Path) -> np.ndarray:
    """One idx file (big-endian header: 0, 0, dtype code, ndim; then the dims) as a numpy array."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UsageError(f"{path} is not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UsageError(f"{path} is truncated: header says {dims}, found {data.size} bytes of data")
    return data.reshape(dims)


def load_idx_folder(folder: Path, with_test: bool):
    def split(kind):
        img_stem, lab_stem = IDX_FILES[kind]
        img, lab = _idx_path(folder, img_stem), _idx_path(folder, lab_stem)
        if img is None or lab is None:
            raise UsageError(f"{folder} lacks {img_stem}[.gz] or {lab_stem}[.gz]")
        x, y = read_idx(img), read_idx(lab)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise UsageError(f"{img} and {lab} do not match: images {x.shape}, labels {y.shape}")
        return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))

    return split("train"), (split("test") if with_test else None)


# -- torchvision's data set classes ---------------------------------------------------------------


def _tv_split(name: str, root: Path, train: bool, download: bool):
    import torchvision.datasets as tvd

    if name == "svhn-extra":
        ds = tvd.SVHN(str(root), split="extra", download=False)
        return (
            [str(i) for i in range(10)],
            torch.from_numpy(np.asarray(ds.data, dtype=np.uint8)),
            torch.from_numpy(np.asarray(ds.labels, dtype=np.int64) % 10),
        )
    cls = getattr(tvd, TORCHVISION[name][0])
    if name == "svhn":
        ds = cls(str(root), split="train" if train else "test", download=download)
        x = torch.from_numpy(np.asarray(ds.data, dtype=np.uint8))
        y = torch.from_numpy(np.asarray(ds.labels, dtype=np.int64) % 10)
        return [str(i) for i in range(10)], x, y
    ds = cls(str(root), train=train, download=download)
    data = ds.data
    if isinstance(data, torch.Tensor):  # (fashion-)mnist: N x H x W
        x = data.to(torch.uint8).unsqueeze(1)
    else:  # cifar: N x H x W x C numpy
        x = torch.from_numpy(np.asarray(data, dtype=np.uint8)).permute(0, 3, 1, 2)
    y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return list(ds.classes), x.contiguous(), y


def load_svhn_extra(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """SVHN's extra training set (``extra_32x32.mat`` in ``root``, torchvision's layout), labels 0..9.

    Never downloaded here (it is 1.3 GB): a missing file is one line saying where to put it.
    """
    path = Path(root) / "extra_32x32.mat"
    if not path.is_file():
        raise ConfigError(
            "data_dir",
            str(path),
            template="SVHN's extra set needs {value} (torchvision's layout, from "
            "http://ufldl.stanford.edu/housenumbers/extra_32x32.mat); pass {option} DIR holding it",
        )
    try:
        _, x, y = _tv_split("svhn-extra", Path(root), True, download=False)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UsageError(f"cannot read {path} ({reason})") from None
    return x, y


HOW_TO_GET = (
    "connect to the internet to download it into {value}, or pass {option} DIR holding "
    "torchvision's layout ({accepted})"
)
"""The remedy of a missing data set, a :class:`ConfigError` template of ``data_dir`` (the CLI
words it ``--data-dir``): ``value`` the folder, ``accepted`` the layout it reads."""


def _missing(name: str, root: Path, problem: str) -> ConfigError:
    """``problem`` (a template with ``{value}`` for ``root``), then how to get ``name``."""
    return ConfigError(
        "data_dir", str(root), accepted=TORCHVISION[name][1], what=name, template=f"{problem}; {HOW_TO_GET}"
    )


def _literal(text: str) -> str:
    """``text`` inside a :meth:`str.format` template, as it is."""
    return text.replace("{", "{{").replace("}", "}}")


def load_torchvision(name: str, data_dir, with_test: bool):
    """(classes, (train_x, train_y), (test_x, test_y) or None, root) for a torchvision data set."""
    if name in ("mnist", "fashion-mnist"):
        candidates = [Path(data_dir)] if data_dir else []
        if name == "fashion-mnist" and not data_dir:
            candidates.append(SYSTEM_FASHION_MNIST)
        for folder in candidates:
            if folder.is_dir() and find_idx_folder(folder):
                train, test = load_idx_folder(folder, with_test)
                classes = FASHION_CLASSES if name == "fashion-mnist" else [str(i) for i in range(10)]
                return classes, train, test, folder
    root = Path(data_dir) if data_dir else default_data_root()
    if data_dir and not root.is_dir():
        raise _missing(name, root, "{option} {value} is not a folder")
    existed = set(root.iterdir()) if root.is_dir() else set()
    try:
        try:
            classes, x, y = _tv_split(name, root, True, download=False)
        except RuntimeError as exc:
            if "not found" not in str(exc).lower() and "corrupted" not in str(exc).lower():
                raise
            present = [p for p in local_files(name, root) if p.exists()]
            if present:
                raise ConfigError(
                    "data_dir",
                    str(root),
                    template=f"{_literal(str(present[0]))} is there but {name} does not pass torchvision's "
                    "checksum (a damaged or partial copy, or another version); not downloading over it: "
                    "remove it to download a fresh copy, or put a good one in {value}",
                ) from None
            root.mkdir(parents=True, exist_ok=True)
            timeout = download_timeout()
            log.warning(f"{name}: not in {root}; downloading it there (waits at most {timeout:g} s for the server)")
            with _socket_timeout(timeout):
                classes, x, y = _tv_split(name, root, True, download=True)
        test = _tv_split(name, root, False, download=False)[1:] if with_test else None
    except (UsageError, KeyboardInterrupt):
        raise
    except Exception as exc:  # offline download, corrupt archive, unreadable file: one line
        _remove_empty_dirs(root, existed)
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise _missing(name, root, f"{{what}} not found or unreadable in {{value}} ({_literal(reason)})") from None
    return classes, (x, y), test, root


def _remove_empty_dirs(root: Path, existed: set) -> None:
    """Undo the empty folders (e.g. FashionMNIST/raw) a failed download made in ``root``."""
    if not root.is_dir():
        return
    for entry in set(root.iterdir()) - existed:
        if entry.is_dir() and not entry.is_symlink():
            for d in sorted((p for p in [entry, *entry.rglob("*")] if p.is_dir()), key=lambda p: -len(p.parts)):
                try:
                    d.rmdir()  # only succeeds when empty
                except OSError:
                    pass


def check_present(name: str, data_dir, extra: bool = False) -> None:
    """Before a long job: ``name`` can be read from ``data_dir`` (downloaded now when it is
    missing, with the same announcement), and SVHN's extra set is there when ``extra``; one
    :class:`UsageError` line otherwise. Loads and drops the data (seconds for these sets)."""
    import torchvision.datasets as tvd
    import torchvision.datasets.svhn as tvsvhn

    _classes, _train, _test, root = load_torchvision(name, data_dir, with_test=True)
    if extra:
        path = Path(root) / "extra_32x32.mat"
        if not path.is_file():
            load_svhn_extra(root)  # raises its one line
        md5 = tvd.SVHN.split_list["extra"][2]
        if not tvsvhn.check_integrity(str(path), md5):  # the check SVHN itself makes
            raise UsageError(
                f"{path} does not pass torchvision's checksum for SVHN's extra set (a damaged or partial "
                "copy, or another version); replace it"
            )
