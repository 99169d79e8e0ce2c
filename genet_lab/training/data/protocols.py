"""The transfer experiments' data protocols (section 4.2): SVHN with its extra set, LCN, resizing.

SVHN as the paper prepares it, after Netzer et al. [28]: 400 images per class from the
training set and 200 per class from the extra set make a 6,000-image validation split, and
everything else (598,388 images) trains. Local contrast normalisation (LCN, as in Goodfellow
et al. [10]) is applied to every split. Knows tensors and :class:`DataSplits`; nothing of
networks or training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from genet_lab.errors import UsageError
from genet_lab.training.data.splits import DataSplits, assemble, check_labels

SVHN_VAL_PER_CLASS = (400, 200)
"""Validation images per class taken from (train, extra): 6,000 for SVHN's ten classes."""
LCN_KERNEL = 7
LCN_SIGMA = 2.0
"""The Gaussian window of LCN: 7 x 7 pixels, sigma 2 (pylearn2's LeCunLCN, used for SVHN by [10])."""
_CHUNK = 4096


def balanced_split(
    labels: np.ndarray, per_class: list[int] | int, seed: int, what: str = "images"
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (taken, rest): exactly ``per_class`` images of every class (an int, or one count
    per class in the order of ``np.unique(labels)``), drawn at random, fixed by ``seed``."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = [per_class] * len(classes) if isinstance(per_class, int) else list(per_class)
    rng = np.random.default_rng(seed)
    parts = []
    for c, n, q in zip(classes, counts, quotas):
        if q > n:
            raise UsageError(f"class {c} has {n} {what}, fewer than the {q} the split takes from it")
        parts.append(rng.permutation(np.flatnonzero(labels == c))[:q])
    taken = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[taken] = False
    return taken, np.flatnonzero(mask)


def _quotas(total: int, classes: int, seed: int) -> list[int]:
    """``total`` spread over ``classes`` as evenly as possible (the remainder to random classes)."""
    quota = [total // classes] * classes
    for c in np.random.default_rng(seed).permutation(classes)[: total % classes]:
        quota[int(c)] += 1
    return quota


def svhn_extra_splits(
    classes: list[str],
    train: tuple[torch.Tensor, torch.Tensor],
    extra: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None,
    seed: int,
    train_size: int | None,
    val_size: int | None,
    source: str,
) -> DataSplits:
    """SVHN's training and extra sets as one training set with the paper's validation split.

    ``val_size`` None: 400 images per class from ``train`` and 200 from ``extra`` (6,000);
    N: N images, two thirds from ``train`` and one third from ``extra``, as even over the
    classes as N allows; 0: none, all 604,388 images train.
    """
    (tx, ty), (ex, ey) = train, extra
    check_labels("svhn", classes, train, test, source)
    check_labels("svhn", classes, extra, None, source + " (extra set)")
    k = len(classes)
    if val_size is None:
        q_train, q_extra = [SVHN_VAL_PER_CLASS[0]] * k, [SVHN_VAL_PER_CLASS[1]] * k
    else:
        n_train = int(round(val_size * 2 / 3))
        q_train, q_extra = _quotas(n_train, k, seed), _quotas(val_size - n_train, k, seed + 1)
    present = (len(np.unique(ty.numpy())), len(np.unique(ey.numpy())))
    if present != (k, k):
        raise UsageError(
            f"SVHN's training and extra sets must hold all {k} classes, found {present[0]} and {present[1]}"
        )
    v_train, r_train = balanced_split(ty.numpy(), q_train, seed, "training images")
    v_extra, r_extra = balanced_split(ey.numpy(), q_extra, seed + 1, "extra images")
    x = torch.cat([tx[r_train], ex[r_extra], tx[v_train], ex[v_extra]])
    y = torch.cat([ty[r_train], ey[r_extra], ty[v_train], ey[v_extra]])
    n_rest = len(r_train) + len(r_extra)
    if n_rest < 1:
        raise UsageError(f"val_size {val_size} leaves no SVHN image to train on")
    t_idx, v_idx = np.arange(n_rest), np.arange(n_rest, len(y))
    splits = assemble("svhn", classes, (x, y), t_idx, v_idx, test, seed, train_size, source + " (+ extra)")
    return splits


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N x C x H x W images resampled to ``size`` x ``size`` (bilinear, antialiased)."""
    out = torch.empty((len(x), x.shape[1], size, size), dtype=x.dtype)
    for i in range(0, len(x), _CHUNK):
        chunk = F.interpolate(
            x[i : i + _CHUNK].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out[i : i + _CHUNK] = chunk.round().clamp(0, 255).to(x.dtype) if x.dtype == torch.uint8 else chunk
    return out


def _gaussian(kernel: int, sigma: float, channels: int) -> torch.Tensor:
    r = torch.arange(kernel, dtype=torch.float32) - (kernel - 1) / 2
    g = torch.exp(-r.square() / (2 * sigma**2))
    w = torch.outer(g, g)
    return (w / w.sum()).expand(channels, 1, kernel, kernel).contiguous()


def local_contrast_normalize(x: torch.Tensor, kernel: int = LCN_KERNEL, sigma: float = LCN_SIGMA) -> torch.Tensor:
    """Subtractive then divisive local contrast normalisation of each channel (Jarrett et al. 2009).

    ``v = x - G * x`` removes the Gaussian-weighted local mean; ``v / max(c, sigma_local)``,
    with ``sigma_local = sqrt(G * v^2)`` and ``c`` its mean over the image, divides by the
    local contrast without amplifying flat regions. Borders are replicated. Returns float16
    (half the memory of float32 for SVHN's 600,000 images; the trainer converts to float32).
    """
    c = x.shape[1]
    w = _gaussian(kernel, sigma, c)
    pad = kernel // 2
    out = torch.empty(x.shape, dtype=torch.float16)
    for i in range(0, len(x), _CHUNK):
        xb = x[i : i + _CHUNK].float()
        if x.dtype == torch.uint8:
            xb = xb / 255.0
        mean = F.conv2d(F.pad(xb, (pad,) * 4, mode="replicate"), w, groups=c)
        v = xb - mean
        local = F.conv2d(F.pad(v.square(), (pad,) * 4, mode="replicate"), w, groups=c).clamp_min(0).sqrt()
        floor = local.mean(dim=(2, 3), keepdim=True)
        out[i : i + _CHUNK] = (v / torch.maximum(local, floor).clamp_min(1e-4)).to(torch.float16)
    return out


def apply_lcn(splits: DataSplits) -> DataSplits:
    """LCN on every split of ``splits``, in place; the channel statistics are recomputed on the
    normalised training images."""
    from genet_lab.training.data.splits import channel_stats

    splits.train_x = local_contrast_normalize(splits.train_x)
    splits.val_x = local_contrast_normalize(splits.val_x)
    if splits.test_x is not None:
        splits.test_x = local_contrast_normalize(splits.test_x)
    splits.mean, splits.std = channel_stats(splits.train_x)
    splits.preprocessing = "lcn"
    return splits
