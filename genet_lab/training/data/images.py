"""Image files for the image-folder loaders: listing, decoding, and the files that cannot be read.

:func:`list_images` lists ``<class>/**`` the way torchvision's ImageFolder does (the same files in
the same order) but enters each folder once, so a symlink loop is cut instead of listing the
same images forty levels deep. :func:`open_rgb` decodes one file to 8-bit RGB, scaling 16-bit
images instead of clipping them to 255. :class:`Unreadable` collects the files that failed, so
a loader skips a bad file, counts it and names the first, once, instead of ending a training.
:class:`ImageFiles` is torchvision's ImageFolder with these three. Knows PIL, numpy and
torchvision's folder conventions; nothing of splits, networks or training.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from torchvision.datasets import ImageFolder

from genet_lab.errors import ConfigError

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def list_images(directory, class_to_idx: dict[str, int], extensions: Iterable[str] | None = None):
    """(samples, loops): ``(path, class index)`` of every image file under ``directory/<class>/``
    in torchvision's order (folders sorted by path, files by name, symlinks followed), and the
    folders not entered because they had been entered already (a symlink loop, a link back to
    the split folder or to a class folder, or a second link to one folder)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    exts = tuple(e.lower() for e in (extensions or IMG_EXTENSIONS))
    samples: list[tuple[str, int]] = []
    loops: list[str] = []
    tops = {name: os.path.join(str(directory), name) for name in sorted(class_to_idx)}
    # the split folder and every class folder count as entered: a link back to any of them
    # (a loop, or another class's images under this class's name) is not followed
    seen: set[tuple[int, int]] = set()
    for path in [str(directory), *tops.values()]:
        try:
            st = os.stat(path)
            seen.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    for name, top in tops.items():
        if not os.path.isdir(top):
            continue
        walked = []
        for root, dirs, files in os.walk(top, followlinks=True):
            walked.append((root, files))
            keep = []
            for d in dirs:
                try:
                    st = os.stat(os.path.join(root, d))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    loops.append(os.path.join(root, d))
                else:
                    seen.add((st.st_dev, st.st_ino))
                    keep.append(d)
            dirs[:] = keep
        for root, files in sorted(walked):
            for f in sorted(files):
                if f.lower().endswith(exts):
                    samples.append((os.path.join(root, f), class_to_idx[name]))
    return samples, loops


def open_rgb(path) -> Any:
    """The image at ``path`` as an 8-bit RGB PIL image, fully decoded (a truncated file fails
    here, not later). 16-bit images (PNG's ``I;16``, and ``I`` from a PNG) are scaled from
    0..65535 to 0..255; floating-point images are refused (ValueError)."""
    from PIL import Image

    with Image.open(path) as src:
        src.load()
        mode = src.mode
        if mode in SIXTEEN_BIT or mode == "I":
            arr = np.asarray(src).astype(np.float64)
            if arr.size and (arr.min() < 0 or arr.max() > 65535):
                raise ValueError(f"{mode} image values outside 0..65535")
            top = 65535.0 if mode in SIXTEEN_BIT or src.format == "PNG" or (arr.size and arr.max() > 255) else 255.0
            gray = np.rint(arr * (255.0 / top)).clip(0, 255).astype(np.uint8)
            return Image.fromarray(gray).convert("RGB")
        if mode == "F":
            raise ValueError("floating-point images are not supported (8- or 16-bit images are)")
        return src.convert("RGB")


def reason(path) -> str:
    """Why ``path`` cannot be read, in a few words ('' when it can)."""
    try:
        open_rgb(path)
    except Exception as exc:  # PIL raises many kinds: whatever it is, the file is skipped
        return " ".join(str(exc).split())[:120] or type(exc).__name__
    return ""


class Unreadable:
    """The files a loader could not read: counted once each, in the order met."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}

    def add(self, path: str, why: str = "") -> None:
        self.paths.setdefault(str(path), why)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def first(self) -> str | None:
        return next(iter(self.paths), None)

    def note(self, where: str = "") -> str | None:
        """One line: how many were skipped and the first with its reason; None when none was."""
        if not self.paths:
            return None
        path = next(iter(self.paths))
        why = self.paths[path] or reason(path) or "unreadable"
        n = len(self.paths)
        return (
            f"skipped {n} unreadable image file{'s' if n > 1 else ''}{' ' + where if where else ''} "
            f"(first: {path}: {why})"
        )


def loop_note(loops: list[str]) -> str | None:
    """One line about folders entered once only (symlink loops); None when there were none."""
    if not loops:
        return None
    n = len(loops)
    return f"did not follow {n} symlinked folder{'s' if n > 1 else ''} already listed (a loop; first: {loops[0]})"


class ImageFiles(ImageFolder):
    """torchvision's ImageFolder that lists with :func:`list_images` and decodes with
    :func:`open_rgb`; a file that cannot be read comes back as :attr:`placeholder` with the label
    ``-1 - index`` (negative), which :meth:`StreamSplits.readable` filters and counts (this works
    across DataLoader worker processes, which share nothing else)."""

    loops: list[str]
    placeholder: Any = None

    def make_dataset(  # an instance method (torchvision's is static): it records the loops
        self, directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False
    ):
        samples, self.loops = list_images(directory, class_to_idx, extensions)
        if not allow_empty:
            present = {t for _, t in samples}
            empty = sorted(c for c, i in class_to_idx.items() if i not in present)
            if empty:
                raise FileNotFoundError(f"no image file in class folder(s) {', '.join(empty[:5])}")
        return samples

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        try:
            img = open_rgb(path)
        except Exception:  # counted by the consumer, which names the reason once
            return self.placeholder, -1 - index
        if self.transform is not None:
            img = self.transform(img)
        return img, target


def image_files(folder: Path) -> ImageFiles:
    """An :class:`ImageFiles` listing of ``folder`` (class folders under it)."""
    return ImageFiles(str(folder), loader=open_rgb)


def header_side(path) -> int:
    """The shorter side of an image, read from its header only (raises what PIL raises)."""
    from PIL import Image

    with Image.open(path) as im:
        return min(im.size)


def common_size(
    paths: list[str], bad: Unreadable, limit: int | None = None, side: Callable[[str], int] = header_side
) -> tuple[int, ConfigError | None]:
    """(size, note): the most common shorter side among the images' headers (the larger on a
    tie), and a line saying so when they differ. ``limit``: read at most that many headers,
    evenly spread (a streamed folder of a million files); ``side``: how a file's shorter side is
    read (a cached reader). Unreadable headers go to ``bad``; none readable raises ValueError."""
    from collections import Counter

    picked = paths if limit is None or len(paths) <= limit else [paths[i * len(paths) // limit] for i in range(limit)]
    sides: Counter[int] = Counter()
    for p in picked:
        try:
            sides[side(p)] += 1
        except Exception as exc:
            bad.add(p, " ".join(str(exc).split())[:120] or type(exc).__name__)
    if not sides:
        raise ValueError(f"none of the {len(picked)} image files could be read")
    size = max(sides, key=lambda s: (sides[s], s))
    if len(sides) == 1:
        return size, None
    n, other = sum(sides.values()), sum(c for s, c in sides.items() if s != size)
    of = f" (headers of {len(picked)} of {len(paths)} files read)" if len(picked) < len(paths) else ""
    return size, ConfigError(
        "image_size",
        size,
        template=f"images differ in size (shorter side {min(sides)} to {max(sides)} pixels; {other} of {n} are "
        f"not {size}){of}: all are resized to {size}x{size}, the most common; choose another with {{option}} N",
    )
