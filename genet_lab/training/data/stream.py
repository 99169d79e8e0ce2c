"""Image folders too large to decode into memory (ILSVRC2012, section 4.3), read batch by batch.

:func:`load_stream` lists ``DIR/train/<class>/*`` (and ``DIR/test/<class>/*``) with
torchvision's :class:`~torchvision.datasets.ImageFolder` and splits the file list the way
:func:`~genet_lab.training.data.load_dataset` splits tensors (stratified validation fixed by
the seed, a fixed 20% held out as test when there is no ``test/``); nothing is decoded until
a :class:`torch.utils.data.DataLoader` asks for a batch. Training images are VGG-style
augmented (shorter side resized to 8/7 of the input size, a random crop, a horizontal flip);
evaluation takes the centre crop. Knows torch and torchvision; nothing of networks or training.
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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel statistics of ILSVRC2012's training images (0..1 scale), torchvision's values:
measuring them would mean decoding the whole set once."""
RESIZE_RATIO = 256 / 224
"""Shorter side before the crop, relative to the input size (VGG's 256 for 224)."""


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
        from torchvision.datasets import ImageFolder

        samples = {"train": self.train_samples, "val": self.val_samples, "test": self.test_samples}[split]
        if samples is None:
            raise UsageError(f"{self.root} has no {split} split")
        if self.listing is None:
            self.listing = folder_listing(self.folder or self.root / "train")
        ds = copy.copy(self.listing)  # one listing, shared; only the samples and transform differ
        ds.samples = ds.imgs = list(samples)
        ds.targets = [t for _, t in samples]
        ds.transform = transform
        assert isinstance(ds, ImageFolder)
        return ds

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
            pin_memory=torch.cuda.is_available(),
        )


def folder_listing(train_dir: Path) -> Any:
    """torchvision's ImageFolder of ``train_dir``; no class folder or no image is one line."""
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(train_dir))
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
) -> StreamSplits:
    """An image folder as a :class:`StreamSplits` (only ``imagefolder`` streams)."""
    from genet_lab.training.data.imagefolder import _header_size, _list, folder_root
    from genet_lab.training.data.splits import HOLDOUT_SEED, VAL_FRACTION, stratified_split

    if str(name).strip().lower().replace("_", "-") not in ("imagefolder", "image-folder"):
        raise UsageError(f"streaming reads image folders only; got dataset {name!r} (accepted: imagefolder)")
    root, train_dir = folder_root(data_dir)
    for label, v, low in (("train_size", train_size, 1), ("val_size", val_size, 0), ("image_size", image_size, 1)):
        if v is not None and int(v) < low:
            raise UsageError(f"{label} must be an integer >= {low}, got {v}")
    folder = folder_listing(train_dir)
    classes, samples = list(folder.classes), [(p, int(t)) for p, t in folder.samples]
    if not samples:
        raise UsageError(f"no images under {train_dir}/<class>/")
    present = sorted({classes[t] for _, t in samples})
    if len(present) < 2:
        raise UsageError(
            f"{train_dir} has images of only 1 class ({present[0]}); classification needs "
            "images of at least 2 classes (one folder per class)"
        )
    size = image_size or _header_size(samples[0][0])
    labels = np.array([t for _, t in samples])
    test_dir = root / "test"
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
        val_size = int(round(VAL_FRACTION * n))
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
    return StreamSplits(
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
    )
