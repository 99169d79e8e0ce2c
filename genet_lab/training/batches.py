"""Images on the device: normalised float tensors, and augmentation of whole batches.

The whole (sub)set lives on the device; augmentation (random crop with padding, horizontal
flip where the data set allows it) runs on whole batches with tensor ops, its random
numbers drawn from a CPU generator so a seed means the same crops on every device.
Knows torch and :class:`~genet_lab.training.data.DataSplits`; nothing of networks or loops.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from genet_lab.training.config import TrainConfig
from genet_lab.training.data import DataSplits


def to_device(
    x: torch.Tensor,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    device: torch.device,
    channels_last: bool,
) -> torch.Tensor:
    """Images (uint8 0..255 or float 0..1) as normalised float on ``device`` (the default dtype)."""
    x = x.to(device)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    c = x.shape[1]
    m = torch.tensor(mean or (0.5,) * c, device=device).view(1, c, 1, 1)
    s = torch.tensor(std or (0.5,) * c, device=device).view(1, c, 1, 1)
    x = (x - m) / s
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def augment_batch(x: torch.Tensor, pad: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding of ``pad`` pixels, and a random horizontal flip, per image.

    Random numbers come from the CPU generator ``gen`` so the same seed gives the same
    augmentation on every device.
    """
    b, _, h, w = x.shape
    if pad:
        dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen).to(x.device)
        padded = F.pad(x, (pad, pad, pad, pad))
        rows = (dy + torch.arange(h, device=x.device)).view(b, 1, h, 1)
        cols = (dx + torch.arange(w, device=x.device)).view(b, 1, 1, w)
        bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
        ci = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        x = padded[bi, ci, rows, cols]
    if flip:
        mask = (torch.rand(b, generator=gen) < 0.5).to(x.device).view(b, 1, 1, 1)
        x = torch.where(mask, x.flip(3), x)
    return x


def augmentation(cfg: TrainConfig, data: DataSplits) -> tuple[int, bool]:
    """(crop padding in pixels, flip) for this config and data set.

    'auto' leaves images under 16 pixels alone: a one-pixel shift of an 8x8 digit cost the
    paper's best genome 98% -> 51% validation accuracy in 30 epochs (docs/training.md).
    """
    pad = max(1, data.image_size // 8)
    mode = cfg.augment
    if mode == "auto":
        return (pad, data.hflip) if data.image_size >= 16 else (0, False)
    return (0 if mode == "none" else pad), mode == "crop+flip"
