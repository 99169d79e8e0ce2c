"""Splitting a data set the paper's way: :class:`DataSplits`, stratified and per-class splits,
channel statistics. Plain tensors and numpy; no reader, network or training. What differs per
data set (validation size, whether a mirrored image keeps its label) is read from
:mod:`genet_lab.training.catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from genet_lab.errors import UsageError
from genet_lab.training import catalog

VAL_FRACTION = 0.2
"""Share of the training images carved for validation where the catalog gives no ``val_size``."""
HOLDOUT_SEED = 20170301
"""Seed of the test split carved from sets that ship none (digits, imagefolder without test/):
independent of the run's seed so the test set never moves."""


def _entry(name: str) -> catalog.Dataset:
    """The catalog's entry of ``name`` (its validation size, whether it may be mirrored); a set the
    catalog does not name (a test's toy set) is treated as an image folder."""
    return catalog.DATASETS.get(name, catalog.DATASETS["imagefolder"])


@dataclass
class DataSplits:
    """One data set, split. Tensors live on the CPU unless the trainer moved them."""

    name: str
    classes: list[str]
    in_channels: int
    image_size: int
    num_classes: int
    train_x: torch.Tensor
    """uint8 (or float) images, N x C x H x W."""
    train_y: torch.Tensor
    """int64 class indices."""
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None
    mean: tuple[float, ...] = ()
    """Per-channel mean of the training split, on the 0..1 scale."""
    std: tuple[float, ...] = ()
    """Per-channel standard deviation of the training split, on the 0..1 scale."""
    hflip: bool = True
    """Whether a horizontal flip is a label-preserving augmentation for this set."""
    source: str = field(default="", compare=False)
    """Where the images came from (a path, or 'sklearn')."""
    preprocessing: str = field(default="", compare=False)
    """What was done to the images beyond scaling ('lcn': local contrast normalisation); '' for nothing."""
    notes: list = field(default_factory=list, compare=False)
    """Lines for the user about the loading (files skipped, image sizes that differ); front ends
    show them once."""

    def summary(self) -> dict:
        out = {
            "dataset": self.name,
            "classes": list(self.classes),
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            "train": len(self.train_y),
            "val": len(self.val_y),
            "test": None if self.test_y is None else len(self.test_y),
            "source": self.source,
        }
        if self.preprocessing:
            out["preprocessing"] = self.preprocessing
        return out


def stratified_split(labels: np.ndarray, take: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (taken, rest): ``take`` items drawn per class in proportion, fixed by ``seed``.

    Every class gets its share rounded by largest remainder, so a 10,000-of-50,000 split of
    CIFAR-10 takes exactly 1,000 images of each class.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 <= take <= n:
        raise UsageError(f"cannot take {take} of {n} images")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * take / n
    quota = np.floor(exact).astype(int)
    short = take - quota.sum()
    if short:
        order = np.lexsort((rng.random(len(classes)), -(exact - quota)))
        quota[order[:short]] += 1
    parts: list[np.ndarray] = []
    for c, q in zip(classes, quota):
        idx = np.flatnonzero(labels == c)
        parts.append(rng.permutation(idx)[:q])
    taken: np.ndarray = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=int)
    mask = np.ones(n, dtype=bool)
    mask[taken] = False
    return taken, np.flatnonzero(mask)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (0..255) or float (0..1) images, on the 0..1 scale.

    Summed in chunks of images, so SVHN with its extra set (600,000 images) needs no
    float64 copy of a whole channel."""
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for i in range(0, len(x), 8192):
        chunk = x[i : i + 8192].to(torch.float64) / scale
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = max(1, x.shape[0] * x.shape[2] * x.shape[3])
    mean = total / count
    var = (squares - count * mean.square()).clamp_min(0) / max(1, count - 1)
    return tuple(mean.tolist()), tuple(max(s, 1e-6) for s in var.sqrt().tolist())


def check_labels(
    name: str,
    classes: list[str],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None,
    source: str,
) -> None:
    """One-line :class:`UsageError` unless the set has images, at least 2 classes (listed and
    present among the training images) and every label of ``train`` and ``test`` is a class index
    in ``0..len(classes)-1`` (the validation split is carved from ``train``, so it is checked too)."""
    where = f"{name} in {source}" if source and source != "sklearn" else name
    if len(classes) < 2:
        raise UsageError(
            f"{where} has {len(classes)} class{'' if len(classes) == 1 else 'es'} "
            f"({', '.join(map(str, classes)) or 'none'}); classification needs at least 2"
        )
    k = len(classes)
    for part, split in (("training", train), ("test", test)):
        if split is None:
            continue
        x, y = split
        if len(y) == 0:
            raise UsageError(f"{where} holds no {part} images; a data set needs images of at least 2 classes")
        if len(x) != len(y):
            raise UsageError(f"{where}: {len(x)} {part} images but {len(y)} labels")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= k:
            bad = low if low < 0 else high
            count = int(((y < 0) | (y >= k)).sum())
            raise UsageError(
                f"{where}: {count} {part} label{'s' if count > 1 else ''} out of range "
                f"(e.g. {bad}); labels must be class indices 0..{k - 1} for its {k} classes"
            )
    present = int(torch.unique(train[1]).numel())
    if present < 2:
        raise UsageError(
            f"{where}: the training images hold only {present} of its {k} classes; "
            "classification needs images of at least 2 classes"
        )


def make_splits(
    name: str,
    classes: list[str],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    source: str,
    holdout_test: bool = False,
) -> DataSplits:
    """Carve the validation split (and a test split when the set ships none) and subset.

    ``val_size=0``: no validation split (empty ``val_x``/``val_y``), every training image trains.
    """
    check_labels(name, classes, train, test, source)
    x, y = train
    if holdout_test:
        n_test = int(round(VAL_FRACTION * len(y)))
        t_idx, rest = stratified_split(y.numpy(), n_test, HOLDOUT_SEED)
        test = (x[t_idx], y[t_idx])
        x, y = x[rest], y[rest]
    n = len(y)
    if val_size is None:
        default = _entry(name).val_size
        val_size = min(int(round(VAL_FRACTION * n)) if default is None else default, n // 2)
    if not 0 <= val_size < n:
        raise UsageError(
            f"val_size must be between 0 (no validation split) and {n - 1} for {name} "
            f"({n} training images), got {val_size}"
        )
    v_idx, t_idx = stratified_split(y.numpy(), val_size, seed)
    return assemble(name, classes, (x, y), t_idx, v_idx, test, seed, train_size, source)


def assemble(
    name: str,
    classes: list[str],
    train: tuple[torch.Tensor, torch.Tensor],
    t_idx: np.ndarray,
    v_idx: np.ndarray,
    test: tuple[torch.Tensor, torch.Tensor] | None,
    seed: int,
    train_size: int | None,
    source: str,
) -> DataSplits:
    """The :class:`DataSplits` of training indices ``t_idx`` (subset to ``train_size``) and
    validation indices ``v_idx`` of ``train``, with the training split's channel statistics."""
    x, y = train
    if train_size is not None:
        if not 1 <= train_size <= len(t_idx):
            raise UsageError(
                f"train_size must be between 1 and {len(t_idx)} for {name} "
                f"({len(t_idx)} training images left after the validation split), got {train_size}"
            )
        sub, _ = stratified_split(y[t_idx].numpy(), train_size, seed + 1)
        t_idx = t_idx[sub]
    train_x, train_y = x[t_idx].contiguous(), y[t_idx].contiguous()
    mean, std = channel_stats(train_x)
    return DataSplits(
        name=name,
        classes=list(classes),
        in_channels=int(x.shape[1]),
        image_size=int(x.shape[-1]),
        num_classes=len(classes),
        train_x=train_x,
        train_y=train_y,
        val_x=x[v_idx].contiguous(),
        val_y=y[v_idx].contiguous(),
        test_x=None if test is None else test[0].contiguous(),
        test_y=None if test is None else test[1].to(torch.int64).contiguous(),
        mean=mean,
        std=std,
        hflip=_entry(name).hflip,
        source=source,
    )


def relabel(data, trained: list[str], name: str) -> list[str]:
    """Renumber the labels of ``data`` (a :class:`DataSplits`, in place) to the classes a network
    was trained on, ``trained``, matched by name; a class the network never saw is refused in
    one line naming it. Returns the notes (a data set with fewer classes than the network's)."""
    index = {c: i for i, c in enumerate(trained)}
    unknown = [c for c in data.classes if c not in index]
    if unknown:
        missing = [c for c in trained if c not in set(data.classes)]
        raise UsageError(
            f"{name} has classes the checkpoint was not trained on: {', '.join(map(str, unknown[:5]))}"
            + (f" (and lacks {', '.join(map(str, missing[:5]))})" if missing else "")
            + f"; it was trained on {len(trained)} classes: {', '.join(map(str, trained[:8]))}"
            + (", ..." if len(trained) > 8 else "")
        )
    if list(data.classes) == list(trained):
        return []
    table = torch.tensor([index[c] for c in data.classes], dtype=torch.int64)
    for split in ("train_y", "val_y", "test_y"):
        y = getattr(data, split)
        if y is not None:
            setattr(data, split, table[y])
    data.classes, data.num_classes = list(trained), len(trained)
    if len(table) < len(trained):
        return [f"{name} has {len(table)} of the {len(trained)} classes the checkpoint was trained on; scored on those"]
    return []
