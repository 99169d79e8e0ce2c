"""The Caltech-256 protocol of section 4.3: a trained network's FC features and a linear SVM.

The paper takes the 4,096-dimensional output of the first fully-connected layer, applies
ReLU, square-root normalisation and l2 normalisation, and trains a linear SVM on 60 images
per class. :func:`fc_features` computes those features for any
:class:`~genet_lab.training.network.GeNet`; :func:`svm_protocol` runs the whole protocol on an
image folder (Caltech-256's ``256_ObjectCategories/<class>/*.jpg``, or ``DIR/train/<class>/*``)
with scikit-learn's :class:`~sklearn.svm.LinearSVC`. Caltech-256 has 256 object classes; its
``257.clutter`` folder is background, not a class, and is left out unless asked for (the
result's ``protocol`` says which). Unreadable image files are skipped and counted. Knows torch,
torchvision, scikit-learn and checkpoints; nothing of evolution or front ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genet_lab.errors import ConfigError, UsageError
from genet_lab.training.data.images import loop_note
from genet_lab.training.data.stream import StreamSplits
from genet_lab.training.devices import resolve_device


@torch.no_grad()
def fc_features(
    model: torch.nn.Module, loader, device: torch.device, keep: Callable | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of every image of ``loader``: the first fully-connected layer's output
    (the flattened last feature map when the head has no hidden layer), then ReLU, square root
    and l2 normalisation, as float32 numpy arrays. ``keep(xb, yb)`` drops what must not count
    (:meth:`StreamSplits.readable`: unreadable files)."""
    model.eval()
    head = list(model.classifier)  # type: ignore[arg-type]  # GeNet: Flatten, Linear, ReLU, ...
    first = head[:2] if len(head) > 2 else head[:1]
    feats, labels = [], []
    for xb, yb in loader:
        if keep is not None:
            xb, yb = keep(xb, yb)
            if not len(yb):
                continue
        h = model.features(xb.to(device))  # type: ignore[operator]
        for layer in first:
            h = layer(h)
        h = h.float().relu().sqrt()
        h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
        feats.append(h.cpu().numpy())
        labels.append(yb.numpy())
    if not feats:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.concatenate(feats), np.concatenate(labels)


def split_per_class(
    labels: np.ndarray, train_per_class: int, test_per_class: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): ``train_per_class`` random images of every class to train, the rest
    (at most ``test_per_class`` each) to test; fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) <= train_per_class:
            raise ConfigError(
                "train_per_class",
                train_per_class,
                template=f"class {int(c)} has {len(idx)} images; {{option}} {{value}} needs "
                f"at least {train_per_class + 1} in every class (one to test)",
            )
        train.append(idx[:train_per_class])
        rest = idx[train_per_class:]
        test.append(rest if test_per_class is None else rest[:test_per_class])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _folder_samples(data_dir) -> tuple[Path, Any]:
    """The class folders of ``data_dir`` (or of ``data_dir/train``), torchvision's ImageFolder listing."""
    from genet_lab.training.data.stream import folder_listing

    root = Path(data_dir)
    if not root.is_dir():
        raise ConfigError(
            "data_dir",
            str(root),
            template="{option} {value} is not a folder; give one holding <class>/*.jpg (Caltech-256's "
            "256_ObjectCategories) or train/<class>/*",
        )
    folder = root / "train" if (root / "train").is_dir() else root
    return folder, folder_listing(folder)


def svm_protocol(
    checkpoint,
    data_dir,
    train_per_class: int = 60,
    test_per_class: int | None = None,
    seed: int = 0,
    C: float = 1.0,
    device: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    clutter: bool = False,
) -> dict[str, Any]:
    """Train a linear SVM on the FC features of ``checkpoint``'s network over an image folder.

    Images are resized (shorter side to 8/7 of the network's input size) and centre-cropped to
    the input size, normalised with the statistics the network was trained with.
    ``clutter``: keep a ``*.clutter`` class folder (Caltech-256's ``257.clutter``) as a class;
    by default it is left out. Returns a dict: accuracy (all test images), mean_class_accuracy
    (Caltech-256's usual figure), the counts, the feature size, the settings, ``protocol`` (in
    words), ``left_out`` (class folders not used), ``unreadable`` (files skipped) and ``notes``.
    """
    from sklearn.svm import LinearSVC

    from genet_lab.training.checkpoint import load_checkpoint
    from genet_lab.training.data.stream import default_workers

    if train_per_class < 1 or (test_per_class is not None and test_per_class < 1):
        raise UsageError(f"train_per_class and test_per_class must be >= 1, got {train_per_class}, {test_per_class}")
    if not C > 0:
        raise UsageError(f"C must be a positive number, got {C}")
    t0 = time.perf_counter()
    ckpt = load_checkpoint(checkpoint)
    net = ckpt.net_config
    if net.in_channels != 3:
        raise UsageError(
            f"the checkpoint's network takes {net.in_channels}-channel images; image folders are RGB "
            "(train it on a 3-channel data set)"
        )
    folder, listing = _folder_samples(data_dir)
    classes, samples = list(listing.classes), [(p, int(t)) for p, t in listing.samples]
    left_out = [] if clutter else [c for c in classes if c.rsplit(".", 1)[-1].lower() == "clutter"]
    if left_out:
        dropped = {listing.class_to_idx[c] for c in left_out}
        samples = [(p, t) for p, t in samples if t not in dropped]
        classes = [c for c in classes if c not in left_out]
    if len(classes) < 2:
        raise UsageError(f"{folder} has {len(classes)} class folder(s) to classify; the protocol needs at least 2")
    protocol = (
        f"{len(classes)} classes, {', '.join(left_out)} left out as background"
        if left_out
        else f"{len(classes)} classes, every class folder"
    )
    labels = np.array([t for _, t in samples])
    tr, te = split_per_class(labels, train_per_class, test_per_class, seed)
    info = ckpt.dataset
    mean = tuple(info.get("mean") or (0.5,) * 3)
    std = tuple(info.get("std") or (0.5,) * 3)
    data = StreamSplits(
        name="imagefolder",
        classes=classes,
        image_size=net.image_size,
        root=folder.parent,
        train_samples=[samples[i] for i in tr],
        val_samples=[samples[i] for i in te],
        test_samples=None,
        mean=mean,
        std=std,
        workers=default_workers(len(samples)) if workers is None else workers,
        source=str(folder),
        folder=folder,
        listing=listing,
    )
    dev = resolve_device(device)
    model = ckpt.build(dev)
    x_train, y_train = fc_features(
        model, data.loader("train", batch_size), dev, keep=lambda x, y: data.readable("train", x, y)
    )
    x_test, y_test = fc_features(
        model, data.loader("val", batch_size), dev, keep=lambda x, y: data.readable("val", x, y)
    )
    if len(np.unique(y_train)) < 2 or not len(y_test):
        raise UsageError(
            f"too few readable images in {folder} to train and test the SVM "
            f"({data.unreadable.note() or 'none skipped'})"
        )
    svm = LinearSVC(C=C, dual="auto", max_iter=10_000, random_state=seed).fit(x_train, y_train)
    pred = svm.predict(x_test)
    per_class = [float((pred[y_test == c] == c).mean()) for c in np.unique(y_test)]
    return {
        "checkpoint": str(checkpoint),
        "genome": ckpt.genome.notation(),
        "data_dir": str(folder),
        "classes": len(classes),
        "train_per_class": train_per_class,
        "test_per_class": test_per_class,
        "train_images": int(len(y_train)),
        "test_images": int(len(y_test)),
        "features": int(x_train.shape[1]),
        "image_size": net.image_size,
        "C": C,
        "seed": seed,
        "accuracy": float((pred == y_test).mean()),
        "mean_class_accuracy": float(np.mean(per_class)),
        "seconds": round(time.perf_counter() - t0, 3),
        "protocol": protocol,
        "left_out": left_out,
        "unreadable": len(data.unreadable),
        "notes": [str(n) for n in [loop_note(getattr(listing, "loops", [])), data.unreadable.note()] if n],
    }
