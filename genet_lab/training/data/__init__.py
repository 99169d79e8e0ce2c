"""Data sets as tensors, split the paper's way: train / validation / test.

Fitness (section 3.2.4) is accuracy on a validation split carved from the
training set (CIFAR-10: 10,000 of 50,000, section 4.1); the test set is only
for a final report. Splits are stratified and fixed by the seed; ``val_size=0`` means no
validation split (a final run on the whole training set, judged on the test set). Images are
kept as uint8 NCHW tensors on the CPU (float after local contrast normalisation); the trainer
moves and normalises them. SVHN can be split the paper's way (section 4.2: the extra set
joins the training set, 400 + 200 images per class for validation).
This module knows nothing about networks or training.
"""

from __future__ import annotations

from genet_lab.errors import ConfigError
from genet_lab.training.catalog import DATASETS, DEFAULT_DATASET, list_datasets
from genet_lab.training.data.splits import (
    HOLDOUT_SEED,
    VAL_FRACTION,
    DataSplits,
    assemble,
    channel_stats,
    make_splits,
    stratified_split,
)


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir=None,
    seed: int = 0,
    train_size: int | None = None,
    val_size: int | None = None,
    *,
    with_test: bool = True,
    image_size: int | None = None,
    extra: bool = False,
    lcn: bool = False,
) -> DataSplits:
    """Load data set ``name`` and split it.

    ``data_dir``: a local copy (torchvision's layout, an idx folder for (fashion-)mnist, or
    ``train/<class>/*`` for imagefolder). ``seed`` fixes the validation split and the
    ``train_size`` subset. ``with_test=False`` skips loading the test split (``test_x`` is None).
    ``image_size`` resizes imagefolder images (default: their most common shorter side, with a
    note in ``notes`` when they differ) and resamples the other sets' images (bilinear,
    antialiased) when it differs from theirs; a size whose images would not fit
    $GENET_LAB_MEMORY_GB is refused before anything is resampled, naming the largest that fits.
    ``val_size=0`` makes no validation split. ``extra`` (svhn only) adds SVHN's extra set with
    the paper's validation split (:func:`genet_lab.training.data.protocols.svhn_extra_splits`);
    ``lcn`` applies local contrast normalisation to every split
    (:func:`genet_lab.training.data.protocols.local_contrast_normalize`).
    Raises :class:`UsageError` with one line naming the path tried when the data is missing.
    """
    from genet_lab.training.data import sources

    key = str(name).strip().lower().replace("_", "-")
    key = {
        "fashion": "fashion-mnist",
        "fashionmnist": "fashion-mnist",
        "cifar-10": "cifar10",
        "cifar-100": "cifar100",
        "image-folder": "imagefolder",
    }.get(key, key)
    if key not in DATASETS:
        raise ConfigError("dataset", name, accepted=list_datasets(), what="dataset")
    for option, value, ok, accepted in (
        ("train_size", train_size, train_size is None or int(train_size) >= 1, "a positive integer"),
        ("val_size", val_size, val_size is None or int(val_size) >= 0, "an integer >= 0 (0: no validation split)"),
        ("image_size", image_size, image_size is None or int(image_size) >= 1, "a positive integer"),
    ):
        if not ok:
            raise ConfigError(
                option, value, accepted=accepted, what=option, template="{what} must be {accepted}, got {value}"
            )
    if extra and key != "svhn":
        raise ConfigError(
            "extra", True, template=f"extra is SVHN's extra training set; {key} has none (accepted with: svhn)"
        )
    notes: list = []
    if key == "digits":
        classes, train = sources.load_digits()
        if image_size is not None and image_size != train[0].shape[-1]:
            from genet_lab.training.data.protocols import resize

            _check_resample(key, [train], image_size)
            train = (resize(train[0], image_size), train[1])
        splits = make_splits(key, classes, train, None, seed, train_size, val_size, "sklearn", holdout_test=True)
    elif key == "imagefolder":
        from genet_lab.training.data.imagefolder import load_imagefolder

        classes, train, test, has_test, root, notes = load_imagefolder(
            data_dir, with_test=with_test, image_size=image_size
        )
        # Without a test/ folder a fixed share is held out whether or not it is wanted,
        # so the validation split is the same either way.
        splits = make_splits(
            key, classes, train, test, seed, train_size, val_size, str(root), holdout_test=not has_test
        )
    else:
        from genet_lab.training.data import protocols

        classes, train, test, root = sources.load_torchvision(key, data_dir, with_test=with_test)
        if image_size is not None and image_size != train[0].shape[-1]:
            _check_resample(key, [train, test, sources.svhn_extra_size(root) if extra else None], image_size)
            train = (protocols.resize(train[0], image_size), train[1])
            test = None if test is None else (protocols.resize(test[0], image_size), test[1])
        if extra:
            ex = sources.load_svhn_extra(root)
            if image_size is not None and image_size != ex[0].shape[-1]:
                ex = (protocols.resize(ex[0], image_size), ex[1])
            splits = protocols.svhn_extra_splits(classes, train, ex, test, seed, train_size, val_size, str(root))
        else:
            splits = make_splits(key, classes, train, test, seed, train_size, val_size, str(root))
    if not with_test:
        splits.test_x = splits.test_y = None
    splits.notes = list(notes)
    if lcn:
        from genet_lab.training.data.protocols import apply_lcn

        apply_lcn(splits)
    return splits


def _check_resample(name: str, parts: list, size: int) -> None:
    """Refuse (one line, naming the size asked for and the largest that fits) resampling ``parts``
    (``(x, y)`` pairs, or an image count) to ``size`` when the result would pass the in-memory
    limit, before anything is allocated."""
    from genet_lab.training.data.imagefolder import check_fits

    images, channels = 0, 3
    for part in parts:
        if part is None:
            continue
        if isinstance(part, int):
            images += part
        else:
            images += len(part[0])
            channels = int(part[0].shape[1])
    check_fits(images, channels, size, f"resampling {name}", stream=False)


__all__ = [
    "DataSplits",
    "list_datasets",
    "load_dataset",
    "stratified_split",
    "DATASETS",
    "HOLDOUT_SEED",
    "VAL_FRACTION",
    "assemble",
    "channel_stats",
    "make_splits",
]
