"""Image folders too large to decode into memory (ILSVRC2012, section 4.3), read batch by batch.

:func:`load_stream` lists ``DIR/train/<class>/*`` (and ``DIR/test/<class>/*``) with
torchvision's :class:`~torchvision.datasets.ImageFolder` and splits the file list the way
:func:`~genet_lab.training.data.load_dataset` splits tensors (stratified validation fixed by
the seed, a fixed 20% held out as test when there is no ``test/``); nothing is decoded until
a :class:`torch.utils.data.DataLoader` asks for a batch. Training images are VGG-style
augmented (shorter side resized to 8/7 of the input size, a random crop, a horizontal flip);
evaluation takes the centre crop. A file that cannot be decoded is skipped and counted
(:meth:`StreamSplits.readable`), never the end of a training. :data:`PROTOCOLS` names the two
ways of splitting: ``holdout`` (the in-memory rules) and ``imagenet`` (section 4.3: all of
``train/`` trains, ``val/`` is reported). Knows torch and torchvision; nothing of networks or
training.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genet_lab.errors import UsageError
from genet_lab.training.data.images import Unreadable, loop_note
from genet_lab.training.devices import pin_memory

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel statistics of ILSVRC2012's training images (0..1 scale), torchvision's values:
measuring them would mean decoding the whole set once."""
RESIZE_RATIO = 256 / 224
"""Shorter side before the crop, relative to the input size (VGG's 256 for 224)."""
PROTOCOLS = {
    "holdout": "a validation split carved from train/ (20% by default), test/ reported (or a fixed 20% "
    "of train/ held out when there is no test/)",
    "imagenet": "section 4.3's ILSVRC2012 protocol: every image of train/ trains (no validation split "
    "unless asked for), val/<class>/* (or test/<class>/*) is reported",
}
"""How :func:`load_stream` splits a folder, by name."""
HEADER_SAMPLE = 2000
"""Image headers read to choose the input size of a streamed folder without one given."""


@dataclass
class StreamSplits:
    """An image folder split into file lists; images are decoded by the loaders, per batch.

    Has the attributes of :class:`~genet_lab.training.data.DataSplits` that describe the set
    (``name``, ``classes``, shapes, ``mean``/``std``, ``train_y``/``val_y``/``test_y`` labels)
    but no image tensors; the trainer recognises it by ``streaming``.
    """

    name: str
    classes: list[str]
    image_size: int
    root: Path
    train_samples: list[tuple[str, int]]
    val_samples: list[tuple[str, int]]
    test_samples: list[tuple[str, int]] | None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    hflip: bool = True
    workers: int = 0
    """DataLoader worker processes (0: decode in the training process)."""
    source: str = field(default="", compare=False)
    in_channels: int = 3
    streaming: bool = True
    folder: Path | None = None
    """The folder whose class subfolders hold the images (default: ``root/train``)."""
    listing: Any = field(default=None, repr=False, compare=False)
    """torchvision's ImageFolder of :attr:`folder`, listed once (by :func:`load_stream` or on first use)."""
    protocol: str = "holdout"
    """The :data:`PROTOCOLS` name the splits follow."""
    unreadable: Unreadable = field(default_factory=Unreadable, repr=False, compare=False)
    """Files met so far that could not be decoded (skipped)."""
    notes: list[Any] = field(default_factory=list, compare=False)
    """Lines for the user about the listing (symlink loops cut, image sizes that differ)."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @staticmethod
    def _labels(samples: list[tuple[str, int]] | None) -> torch.Tensor | None:
        return None if samples is None else torch.tensor([t for _, t in samples], dtype=torch.int64)

    @property
    def train_y(self) -> torch.Tensor:
        return torch.tensor([t for _, t in self.train_samples], dtype=torch.int64)

    @property
    def val_y(self) -> torch.Tensor:
        return torch.tensor([t for _, t in self.val_samples], dtype=torch.int64)

    @property
    def test_y(self) -> torch.Tensor | None:
        return self._labels(self.test_samples)

    def summary(self) -> dict:
        return {
            "dataset": self.name,
            "classes": list(self.classes),
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            "train": len(self.train_samples),
            "val": len(self.val_samples),
            "test": None if self.test_samples is None else len(self.test_samples),
            "source": self.source,
            "streaming": True,
            "protocol": self.protocol,
        }

    def transform(self, train: bool, crop: bool = True, flip: bool = True) -> Any:
        """torchvision transforms to a normalised float tensor: the random crop (``crop``) and
        flip (``flip`` and :attr:`hflip`) for training, the centre crop otherwise."""
        from torchvision import transforms as T

        size = self.image_size
        steps: list[Any] = [T.Resize(max(size, round(size * RESIZE_RATIO)))]
        steps.append(T.RandomCrop(size) if train and crop else T.CenterCrop(size))
        if train and flip and self.hflip:
            steps.append(T.RandomHorizontalFlip())
        steps += [T.ToTensor(), T.Normalize(self.mean, self.std)]
        return T.Compose(steps)

    def dataset(self, split: str, transform: Any) -> torch.utils.data.Dataset:
        """An :class:`~torchvision.datasets.ImageFolder` over ``split``'s files (train, val, test)."""
        from PIL import Image
        from torchvision.datasets import ImageFolder

        samples = self.samples(split)
        if samples is None:
            raise UsageError(f"{self.root} has no {split} split")
        if self.listing is None:
            self.listing = folder_listing(self.folder or self.root / "train")
        ds = copy.copy(self.listing)  # one listing, shared; only the samples and transform differ
        ds.samples = ds.imgs = list(samples)
        ds.targets = [t for _, t in samples]
        ds.transform = transform
        # what an unreadable file stands in as (then dropped by readable()): the transform's shape
        ds.placeholder = transform(Image.new("RGB", (self.image_size, self.image_size)))
        assert isinstance(ds, ImageFolder)
        return ds

    def samples(self, split: str) -> list[tuple[str, int]] | None:
        """The (path, class) list of ``split``: train, val or test."""
        return {"train": self.train_samples, "val": self.val_samples, "test": self.test_samples}[split]

    def readable(self, split: str, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(xb, yb)`` without the files that could not be decoded (label ``-1 - index``, from
        :class:`~genet_lab.training.data.images.ImageFiles`), which are counted in :attr:`unreadable`."""
        bad = yb < 0
        if not bool(bad.any()):
            return xb, yb
        samples = self.samples(split) or []
        for i in (-1 - yb[bad]).tolist():
            self.unreadable.add(samples[i][0])
        keep = ~bad
        return xb[keep], yb[keep]

    def note(self) -> list[Any]:
        """:attr:`notes` and, when files were skipped, the line saying how many and which first."""
        skipped = self.unreadable.note()
        return [*self.notes, *([skipped] if skipped else [])]

    def loader(
        self,
        split: str,
        batch_size: int,
        train: bool = False,
        generator: torch.Generator | None = None,
        crop: bool = True,
        flip: bool = True,
    ) -> torch.utils.data.DataLoader:
        """Batches of ``split``: shuffled and augmented when ``train``, in order otherwise."""
        ds = self.dataset(split, self.transform(train, crop, flip))
        n = len(ds)  # type: ignore[arg-type]
        return torch.utils.data.DataLoader(
            ds,
            batch_size=min(batch_size, max(1, n)),
            shuffle=train,
            generator=generator,
            drop_last=train and n >= batch_size,
            num_workers=self.workers,
            persistent_workers=False,
            pin_memory=pin_memory(),
        )


def folder_listing(train_dir: Path) -> Any:
    """An :class:`~genet_lab.training.data.images.ImageFiles` listing of ``train_dir`` (symlink
    loops cut, bad files skipped when read); no class folder or no image is one line."""
    from genet_lab.training.data.images import image_files

    try:
        return image_files(train_dir)
    except (FileNotFoundError, OSError) as exc:
        raise UsageError(f"no images under {train_dir}/<class>/: {' '.join(str(exc).split())[:160]}") from None


def default_workers(n: int) -> int:
    """Decode in the main process for small sets; else up to 8 worker processes."""
    return 0 if n < 2000 else max(1, min(8, (os.cpu_count() or 2) - 1))


def load_stream(
    name: str,
    data_dir,
    seed: int = 0,
    train_size: int | None = None,
    val_size: int | None = None,
    *,
    with_test: bool = True,
    image_size: int | None = None,
    workers: int | None = None,
    protocol: str = "holdout",
) -> StreamSplits:
    """An image folder as a :class:`StreamSplits` (only ``imagefolder`` streams), split by the
    :data:`PROTOCOLS` entry ``protocol``. Without ``image_size`` the input size is the most common
    shorter side among the images' headers (at most :data:`HEADER_SAMPLE` of them read, evenly
    spread), with a note when they differ."""
    from genet_lab.training.data.imagefolder import _list, folder_root
    from genet_lab.training.data.images import common_size
    from genet_lab.training.data.splits import HOLDOUT_SEED, VAL_FRACTION, stratified_split

    if str(name).strip().lower().replace("_", "-") not in ("imagefolder", "image-folder"):
        raise UsageError(f"streaming reads image folders only; got dataset {name!r} (accepted: imagefolder)")
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; accepted: {', '.join(PROTOCOLS)}")
    root, train_dir = folder_root(data_dir)
    for label, v, low in (("train_size", train_size, 1), ("val_size", val_size, 0), ("image_size", image_size, 1)):
        if v is not None and int(v) < low:
            raise UsageError(f"{label} must be an integer >= {low}, got {v}")
    report_dir = None
    if protocol == "imagenet":
        report_dir = next((d for d in (root / "val", root / "test") if d.is_dir()), None)
        if report_dir is None:
            raise UsageError(
                f"the imagenet protocol reports on {root / 'val'}/<class>/* (ILSVRC2012's 50,000 validation "
                "images, one folder per class; test/ is accepted too); neither folder exists"
            )
    folder = folder_listing(train_dir)
    classes, samples = list(folder.classes), [(p, int(t)) for p, t in folder.samples]
    notes: list[Any] = [n for n in (loop_note(folder.loops),) if n]
    if not samples:
        raise UsageError(f"no images under {train_dir}/<class>/")
    present = sorted({classes[t] for _, t in samples})
    if len(present) < 2:
        raise UsageError(
            f"{train_dir} has images of only 1 class ({present[0]}); classification needs "
            "images of at least 2 classes (one folder per class)"
        )
    bad = Unreadable()
    size = image_size
    if size is None:
        try:
            size, differ = common_size([p for p, _ in samples], bad, limit=HEADER_SAMPLE)
        except ValueError as exc:
            raise UsageError(f"{train_dir}: {exc}; {bad.note()}") from None
        notes += [differ] if differ else []
    labels = np.array([t for _, t in samples])
    test_dir = report_dir or root / "test"
    test: list[tuple[str, int]] | None = None
    if test_dir.is_dir():
        if with_test:
            test = [(p, int(t)) for p, t in _list(test_dir, classes)[1]]
    else:  # the same fixed hold-out as the in-memory path
        t_idx, rest = stratified_split(labels, int(round(VAL_FRACTION * len(labels))), HOLDOUT_SEED)
        test = [samples[i] for i in t_idx] if with_test else None
        samples, labels = [samples[i] for i in rest], labels[rest]
    n = len(samples)
    if val_size is None:
        val_size = 0 if protocol == "imagenet" else int(round(VAL_FRACTION * n))
    if not 0 <= val_size < n:
        raise UsageError(
            f"val_size must be between 0 (no validation split) and {n - 1} for {root} "
            f"({n} training images), got {val_size}"
        )
    v_idx, t_idx = stratified_split(labels, val_size, seed)
    if train_size is not None:
        if not 1 <= train_size <= len(t_idx):
            raise UsageError(f"train_size must be between 1 and {len(t_idx)} for {root}, got {train_size}")
        sub, _ = stratified_split(labels[t_idx], train_size, seed + 1)
        t_idx = t_idx[sub]
    train = [samples[i] for i in t_idx]
    out = StreamSplits(
        name="imagefolder",
        classes=classes,
        image_size=int(size),
        root=root,
        train_samples=train,
        val_samples=[samples[i] for i in v_idx],
        test_samples=test,
        workers=default_workers(n) if workers is None else workers,
        source=str(root),
        listing=folder,
        protocol=protocol,
        notes=notes,
    )
    out.unreadable = bad  # headers that could not be read: the same files fail when decoded
    return out
