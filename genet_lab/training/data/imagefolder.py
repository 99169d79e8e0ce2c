"""People's own images: ``DIR/train/<class>/*`` and optionally ``DIR/test/<class>/*``.

Files are listed the way torchvision's ImageFolder lists them and decoded once
with PIL (sets above a memory limit are refused here and streamed by
:mod:`genet_lab.training.data.stream` instead); the decoded uint8 tensors are cached in a ``.pt`` file of
plain tensors and lists (loaded with ``weights_only=True``), one entry per image
keyed by its path, size and modification time, so a second load decodes only
new or changed files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from genet_lab.errors import ConfigError, UsageError

CACHE_VERSION = 1


def cache_root() -> Path:
    """$GENET_LAB_CACHE or ~/.cache/genet-lab."""
    env = os.environ.get("GENET_LAB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "genet-lab"


def in_memory_limit() -> int:
    """Bytes of decoded uint8 images an in-memory image folder may take: $GENET_LAB_MEMORY_GB
    (default 8); above it, decoding is refused with a pointer to the streaming path."""
    try:
        return int(float(os.environ.get("GENET_LAB_MEMORY_GB", "8")) * 2**30)
    except ValueError:
        return 8 * 2**30


def _list(split_dir: Path, classes: list[str] | None):
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    try:
        found, _ = find_classes(str(split_dir))
    except (FileNotFoundError, OSError) as exc:
        raise UsageError(f"no class folders in {split_dir}: {' '.join(str(exc).split())}") from None
    classes = classes or found
    index = {c: i for i, c in enumerate(classes)}
    unknown = [c for c in found if c not in index]
    if unknown:
        raise UsageError(f"{split_dir} has classes not in train/: {', '.join(unknown[:5])}")
    try:
        samples = make_dataset(str(split_dir), index, extensions=IMG_EXTENSIONS, allow_empty=True)
    except (FileNotFoundError, OSError) as exc:
        raise UsageError(f"cannot list {split_dir}: {' '.join(str(exc).split())}") from None
    if not samples:
        raise UsageError(f"no images ({', '.join(IMG_EXTENSIONS[:4])}, ...) under {split_dir}/<class>/")
    return classes, samples


def _decode(path: str, size: int | None) -> torch.Tensor:
    """One image as uint8 3 x size x size: shorter side resized to ``size``, then centre-cropped.

    PIL, as torchvision's ImageFolder uses by default (torchvision.io's decoders are
    deprecated since torchvision 0.29).
    """
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as src:
            im = src.convert("RGB")
            if size is not None and im.size != (size, size):
                w, h = im.size
                scale = size / min(w, h)
                im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
                w, h = im.size
                left, top = (w - size) // 2, (h - size) // 2
                im = im.crop((left, top, left + size, top + size))
            arr = np.asarray(im, dtype=np.uint8)
    except Exception as exc:
        raise UsageError(f"cannot decode image {path}: {' '.join(str(exc).split())[:120]}") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _header_size(path: str) -> int:
    """The shorter side of an image, read from its header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return min(im.size)
    except Exception as exc:
        raise UsageError(f"cannot read image {path}: {' '.join(str(exc).split())[:120]}") from None


def _load_split(split_dir: Path, classes, image_size: int | None):
    given = classes
    classes, samples = _list(split_dir, classes)
    present = sorted({classes[t] for _, t in samples})
    if given is None and len(present) < 2:  # refused before anything is decoded or cached
        raise UsageError(
            f"{split_dir} has images of only 1 class ({present[0]}) of {len(classes)}; "
            "classification needs images of at least 2 classes (one folder per class)"
        )
    if image_size is None:
        image_size = _header_size(samples[0][0])
    need = len(samples) * 3 * image_size**2
    if need > in_memory_limit():
        raise ConfigError(
            "data_dir",
            str(split_dir),
            template=f"{{value}} would take {need / 2**30:.1f} GiB decoded at {image_size}x{image_size}, "
            f"above the in-memory limit of {in_memory_limit() / 2**30:.1f} GiB "
            "($GENET_LAB_MEMORY_GB); stream it instead ({stream}), or pass a smaller {image_size}",
            also=("stream", "image_size"),
        )
    stats = []
    for path, _ in samples:
        st = os.stat(path)
        stats.append((st.st_size, st.st_mtime_ns))
    key = hashlib.sha1(f"{split_dir.resolve()}|{image_size}|v{CACHE_VERSION}".encode()).hexdigest()[:20]
    cache = cache_root() / "imagefolder" / f"{key}.pt"
    old = _read_cache(cache)
    x = torch.empty((len(samples), 3, image_size, image_size), dtype=torch.uint8)
    decoded = 0
    for i, ((path, _), (size, mtime)) in enumerate(zip(samples, stats)):
        hit = old.get(path)
        if hit is not None and hit[0] == size and hit[1] == mtime:
            x[i] = hit[2]
        else:
            x[i] = _decode(path, image_size)
            decoded += 1
    y = torch.tensor([t for _, t in samples], dtype=torch.int64)
    if decoded or len(old) != len(samples):
        _write_cache(cache, samples, stats, x)
    return classes, x, y, image_size


def _read_cache(cache: Path) -> dict:
    if not cache.is_file():
        return {}
    try:
        data = torch.load(cache, map_location="cpu", weights_only=True)
        if data.get("version") != CACHE_VERSION:
            return {}
        sizes, mtimes, x = data["sizes"].tolist(), data["mtimes"].tolist(), data["x"]
        return {p: (s, m, x[i]) for i, (p, s, m) in enumerate(zip(data["paths"], sizes, mtimes))}
    except Exception:  # a damaged cache is only slower: rebuild it
        return {}


def _write_cache(cache: Path, samples, stats, x: torch.Tensor) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        torch.save(
            {
                "version": CACHE_VERSION,
                "paths": [p for p, _ in samples],
                "sizes": torch.tensor([s for s, _ in stats], dtype=torch.int64),
                "mtimes": torch.tensor([m for _, m in stats], dtype=torch.int64),
                "x": x,
            },
            tmp,
        )
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only cache folder only costs decoding time next time


def folder_root(data_dir) -> tuple[Path, Path]:
    """(root, root/train) of an ImageFolder tree, or a one-line UsageError saying what is accepted."""
    if not data_dir:
        raise ConfigError(
            "data_dir",
            template="imagefolder needs {option} DIR holding train/<class>/* (and optionally test/<class>/*)",
        )
    root = Path(data_dir)
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise UsageError(
            f"{train_dir} is not a folder; imagefolder needs DIR/train/<class>/*.jpg "
            "(and optionally DIR/test/<class>/*)"
        )
    return root, train_dir


def load_imagefolder(data_dir, with_test: bool = True, image_size: int | None = None):
    """(classes, (x, y), test or None, has_test_folder, root) from an ImageFolder tree."""
    root, train_dir = folder_root(data_dir)
    if image_size is not None and image_size < 1:
        raise UsageError(f"image_size must be a positive integer, got {image_size}")
    classes, x, y, size = _load_split(train_dir, None, image_size)
    test_dir = root / "test"
    has_test = test_dir.is_dir()
    test = None
    if has_test and with_test:
        _, tx, ty, _ = _load_split(test_dir, classes, size)
        test = (tx, ty)
    return classes, (x, y), test, has_test, root
