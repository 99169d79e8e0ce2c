"""People's own images: ``DIR/train/<class>/*`` and optionally ``DIR/test/<class>/*``.

Files are listed the way torchvision's ImageFolder lists them and decoded once
with PIL (sets above a memory limit are refused here and streamed by
:mod:`genet_lab.training.data.stream` instead); the decoded uint8 tensors are cached in a ``.pt`` file of
plain tensors and lists (loaded with ``weights_only=True``), one entry per image
keyed by its path, size and modification time, so a second load decodes only
new or changed files. A file that cannot be decoded is skipped and counted (one note naming
the first), a symlink loop is entered once, and without a size asked for the images are
resized to their most common shorter side (a note says so when they differ).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from genet_lab.errors import ConfigError, UsageError
from genet_lab.training.data import images
from genet_lab.training.data.images import Unreadable, common_size, list_images, loop_note, open_rgb

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
    except (ValueError, OverflowError):
        return 8 * 2**30


def largest_size(images: int, channels: int = 3) -> int:
    """The largest square size whose ``images`` decoded uint8 images fit :func:`in_memory_limit`."""
    return int((in_memory_limit() / max(1, images * channels)) ** 0.5)


def size_text(n: float) -> str:
    """Bytes in words: GiB, or MiB / KiB / bytes for small amounts (never "0.0 GiB")."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale / 10:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def check_fits(images: int, channels: int, size: int, what: str, stream: bool = True) -> None:
    """Refuse (one line) ``images`` uint8 images of ``size`` x ``size`` above the in-memory limit,
    naming the size asked for and the largest that fits, before anything is allocated."""
    need = images * channels * size**2
    limit = in_memory_limit()
    if need <= limit:
        return
    fits = largest_size(images, channels)
    remedy = f"the largest size that fits is {fits}x{fits}: pass {{option}} {fits} or less" if fits else "no size fits"
    raise ConfigError(
        "image_size",
        size,
        template=f"{_literal(what)}: {images:,} images at {{value}}x{{value}} would take {size_text(need)}, above the "
        f"in-memory limit of {size_text(limit)} ($GENET_LAB_MEMORY_GB); {remedy}"
        + (", or stream the folder ({stream})" if stream else ""),
        also=("stream",) if stream else (),
    )


def _literal(text: str) -> str:
    """``text`` inside a :meth:`str.format` template, as it is."""
    return text.replace("{", "{{").replace("}", "}}")


def _list(split_dir: Path, classes: list[str] | None):
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes

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
        samples, loops = list_images(split_dir, {c: index[c] for c in found}, IMG_EXTENSIONS)
    except OSError as exc:
        raise UsageError(f"cannot list {split_dir}: {' '.join(str(exc).split())}") from None
    if not samples:
        raise UsageError(f"no images ({', '.join(IMG_EXTENSIONS[:4])}, ...) under {split_dir}/<class>/")
    return classes, samples, loops


def _decode(path: str, size: int | None) -> torch.Tensor:
    """One image as uint8 3 x size x size: shorter side resized to ``size``, then centre-cropped.

    PIL (:func:`~genet_lab.training.data.images.open_rgb`: 16-bit images scaled, not clipped),
    as torchvision's ImageFolder uses by default. Raises whatever decoding raises.
    """
    import numpy as np
    from PIL import Image

    im = open_rgb(path)
    if size is not None and im.size != (size, size):
        w, h = im.size
        scale = size / min(w, h)
        im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        im = im.crop((left, top, left + size, top + size))
    arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _load_split(split_dir: Path, classes, image_size: int | None):
    """(classes, x, y, size, notes) of one split folder; unreadable files are skipped and counted."""
    given = classes
    classes, samples, loops = _list(split_dir, classes)
    notes: list = [n for n in (loop_note(loops),) if n]
    present = sorted({classes[t] for _, t in samples})
    if given is None and len(present) < 2:  # refused before anything is decoded or cached
        raise UsageError(
            f"{split_dir} has images of only 1 class ({present[0]}) of {len(classes)}; "
            "classification needs images of at least 2 classes (one folder per class)"
        )
    bad = Unreadable()
    stats, kept = [], []
    for path, t in samples:
        try:
            st = os.stat(path)
        except OSError as exc:  # a dangling symlink, a file removed since the listing
            bad.add(path, exc.strerror or str(exc))
            continue
        stats.append((st.st_size, st.st_mtime_ns))
        kept.append((path, t))
    auto = image_size is None
    key = hashlib.sha1(f"{split_dir.resolve()}|{'auto' if auto else image_size}|v{CACHE_VERSION}".encode())
    cache = cache_root() / "imagefolder" / f"{key.hexdigest()[:20]}.pt"
    old, old_sides = _read_cache_full(cache)
    sides: dict[str, int] = {}
    if image_size is None:  # every file's shorter side, from the cache where the file has not changed
        stat_of = dict(zip((p for p, _ in kept), stats))

        def side(p: str) -> int:
            hit = old_sides.get(p)
            sides[p] = hit[2] if hit is not None and hit[:2] == stat_of[p] else images.header_side(p)
            return sides[p]

        try:
            image_size, differ = common_size([p for p, _ in kept], bad, side=side)
        except ValueError as exc:
            raise UsageError(f"{split_dir}: {exc} ({bad.note()})") from None
        notes += [differ] if differ else []
        stats = [st for (p, _), st in zip(kept, stats) if p not in bad.paths]
        kept = [(p, t) for p, t in kept if p not in bad.paths]
        old = {p: e for p, e in old.items() if e[2].shape[-1] == image_size}  # decoded at another size before
    check_fits(len(samples), 3, image_size, str(split_dir))
    x = torch.empty((len(kept), 3, image_size, image_size), dtype=torch.uint8)
    good = torch.ones(len(kept), dtype=torch.bool)
    decoded = 0
    for i, ((path, _), (size, mtime)) in enumerate(zip(kept, stats)):
        hit = old.get(path)
        if hit is not None and hit[0] == size and hit[1] == mtime:
            x[i] = hit[2]
            continue
        try:
            x[i] = _decode(path, image_size)
        except Exception as exc:  # PIL raises many kinds; the file is skipped and counted
            bad.add(path, " ".join(str(exc).split())[:120] or type(exc).__name__)
            good[i] = False
        decoded += 1
    if not bool(good.all()):
        x = x[good]
        kept = [s for s, g in zip(kept, good.tolist()) if g]
        stats = [s for s, g in zip(stats, good.tolist()) if g]
    if not kept:
        raise UsageError(f"none of the {len(samples)} image files under {split_dir} could be read ({bad.note()})")
    y = torch.tensor([t for _, t in kept], dtype=torch.int64)
    fresh_sides = auto and any(old_sides.get(p, (0, 0, 0))[2] != sides.get(p) for p, _ in kept)
    if decoded or len(old) != len(kept) or fresh_sides:
        _write_cache(cache, kept, stats, x, [sides.get(p, 0) for p, _ in kept] if auto else None)
    skipped = bad.note(f"in {split_dir}")
    return classes, x, y, image_size, notes + ([skipped] if skipped else [])


def _read_cache(cache: Path) -> dict:
    """``path -> (size, mtime, decoded image)`` of a cache file; {} when absent, foreign or damaged."""
    return _read_cache_full(cache)[0]


def _read_cache_full(cache: Path) -> tuple[dict, dict]:
    """(decoded entries, ``path -> (size, mtime, shorter side)``) of a cache file; the sides are
    kept by a cache of a folder loaded without a size asked for."""
    if not cache.is_file():
        return {}, {}
    try:
        data = torch.load(cache, map_location="cpu", weights_only=True)
        if data.get("version") != CACHE_VERSION:
            return {}, {}
        sizes, mtimes, x = data["sizes"].tolist(), data["mtimes"].tolist(), data["x"]
        entries = {p: (s, m, x[i]) for i, (p, s, m) in enumerate(zip(data["paths"], sizes, mtimes))}
        sides = data.get("sides")
        if not isinstance(sides, torch.Tensor) or len(sides) != len(sizes):
            return entries, {}
        return entries, {p: (s, m, int(v)) for p, s, m, v in zip(data["paths"], sizes, mtimes, sides.tolist())}
    except Exception:  # a damaged cache is only slower: rebuild it
        return {}, {}


def _write_cache(cache: Path, samples, stats, x: torch.Tensor, sides: list[int] | None = None) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        payload = {
            "version": CACHE_VERSION,
            "paths": [p for p, _ in samples],
            "sizes": torch.tensor([s for s, _ in stats], dtype=torch.int64),
            "mtimes": torch.tensor([m for _, m in stats], dtype=torch.int64),
            "x": x,
        }
        if sides is not None:
            payload["sides"] = torch.tensor(sides, dtype=torch.int64)
        torch.save(payload, tmp)
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
    """(classes, (x, y), test or None, has_test_folder, root, notes) from an ImageFolder tree;
    ``notes``: lines for the user (files skipped, image sizes that differ, loops cut)."""
    root, train_dir = folder_root(data_dir)
    if image_size is not None and image_size < 1:
        raise UsageError(f"image_size must be a positive integer, got {image_size}")
    classes, x, y, size, notes = _load_split(train_dir, None, image_size)
    test_dir = root / "test"
    has_test = test_dir.is_dir()
    test = None
    if has_test and with_test:
        _, tx, ty, _, more = _load_split(test_dir, classes, size)
        test = (tx, ty)
        notes += more
    return classes, (x, y), test, has_test, root, notes
