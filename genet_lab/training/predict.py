"""Classifying image files with a trained checkpoint, preprocessed the way it was trained.

:class:`Preprocessing` is read from the checkpoint itself: the network's input size and channels,
the training split's per-channel mean and standard deviation, and local contrast normalisation
where the data was normalised with it (``dataset["preprocessing"] == "lcn"``). An image of
another size is resized as the image-folder loader does (shorter side to the size, then
centre-cropped) and one of another mode converted (RGB to one luma channel, grey to RGB,
16-bit scaled to 8-bit); :func:`predict` counts the images it converted and names the first
once. A named file that cannot be read is an error naming it; in a folder such a file is
skipped and counted.

Knows torch, PIL and a :class:`~genet_lab.training.checkpoint.Checkpoint`; nothing of evolution
or front ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genet_lab.errors import UsageError, show
from genet_lab.training.checkpoint import Checkpoint
from genet_lab.training.data.images import Unreadable, open_rgb

CHUNK = 256
"""Images decoded and classified at a time (bounds the memory a large folder takes)."""
PREPROCESSINGS = ("", "lcn")


@dataclass(frozen=True)
class Preprocessing:
    """What turns a file into the network's input (see the module docstring)."""

    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    lcn: bool = False

    @classmethod
    def of(cls, ckpt: Checkpoint) -> Preprocessing:
        net, info = ckpt.net_config, ckpt.dataset
        c = net.in_channels
        kind = info.get("preprocessing") or ""
        if kind not in PREPROCESSINGS:
            raise UsageError(
                f"the checkpoint was trained on images preprocessed with {str(kind)[:40]!r}, which this "
                f"genet-lab cannot repeat (it knows: none, lcn)"
            )
        mean = tuple(float(v) for v in info.get("mean") or (0.5,) * c)
        std = tuple(float(v) for v in info.get("std") or (0.5,) * c)
        return cls(c, net.image_size, mean, std, kind == "lcn")

    @property
    def mode(self) -> str:
        """The PIL mode of the network's input: L (one channel) or RGB."""
        return "L" if self.in_channels == 1 else "RGB"

    def to_dict(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "lcn": self.lcn,
        }


@dataclass
class Predictions:
    """The top classes of every image read, and what happened on the way."""

    rows: list[dict] = field(default_factory=list)
    """One per image, in order: ``{"image": path, "top": [{"class", "index", "probability"}, ...]}``."""
    converted: int = 0
    first_converted: str = ""
    """The first converted image and what it was (``a.png: RGB 32 x 32``)."""
    skipped: Unreadable = field(default_factory=Unreadable)

    def notes(self, pre: Preprocessing) -> list[str]:
        """Lines for the user, once each: images converted, files skipped."""
        out = []
        if self.converted:
            n = self.converted
            out.append(
                f"{n} image{'s' if n > 1 else ''} converted to the network's input ({pre.in_channels} channel"
                f"{'s' if pre.in_channels > 1 else ''}, {pre.image_size} x {pre.image_size} pixels; a size that "
                f"differs is resized by its shorter side and centre-cropped); first: {self.first_converted}"
            )
        skipped = self.skipped.note("in the folders given")
        if skipped:
            out.append(skipped)
        return out


def image_files(items: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """(path, named) for every image to classify: files as given (``named``: an unreadable one
    is an error), and the image files under each folder, sorted (``named`` False: skipped and
    counted). A missing path, or a folder with no image file, raises :class:`UsageError`."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    out: list[tuple[Path, bool]] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())
            if not found:
                raise UsageError(
                    f"folder {show(item)} holds no image file (accepted: {', '.join(sorted(IMG_EXTENSIONS))})"
                )
            out += [(p, False) for p in found]
        elif item.is_file():
            out.append((item, True))
        else:
            raise UsageError(f"image {show(item)} does not exist; give image files or folders of them")
    return out


def decode(path: Path, pre: Preprocessing) -> tuple[torch.Tensor, str]:
    """One image as uint8 ``channels x size x size``, and what it was when it had to be converted
    ('' when it was already the network's size and mode). Raises what decoding raises."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as head:
        mode, (w, h) = head.mode, head.size
    im = open_rgb(path)
    if im.size != (pre.image_size, pre.image_size):
        scale = pre.image_size / min(w, h)
        size = (max(pre.image_size, round(w * scale)), max(pre.image_size, round(h * scale)))
        im = im.resize(size, Image.Resampling.BILINEAR)
        left, top = (im.size[0] - pre.image_size) // 2, (im.size[1] - pre.image_size) // 2
        im = im.crop((left, top, left + pre.image_size, top + pre.image_size))
    im = im.convert(pre.mode)
    arr = np.asarray(im, dtype=np.uint8)
    x = torch.from_numpy(arr.copy())
    x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
    same = mode == pre.mode and (w, h) == (pre.image_size, pre.image_size)
    return x.contiguous(), "" if same else f"{show(path)}: {mode} {w} x {h}"


def prepare(x: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """uint8 images as the network's float input: LCN where trained with it, then the training
    split's normalisation (exactly what training and ``evaluate`` do)."""
    from genet_lab.training.batches import to_device

    if pre.lcn:
        from genet_lab.training.data.protocols import local_contrast_normalize

        x = local_contrast_normalize(x)
    return to_device(x, pre.mean, pre.std, torch.device("cpu"), False)


def predict(
    ckpt: Checkpoint, items: Iterable[str | Path], top_k: int = 5, model: torch.nn.Module | None = None
) -> Predictions:
    """The ``top_k`` most probable classes (softmax of the logits) of every image in ``items``
    (files and folders, see :func:`image_files`), on the CPU."""
    pre = Preprocessing.of(ckpt)
    classes = list(ckpt.dataset.get("classes") or [str(i) for i in range(ckpt.net_config.num_classes)])
    k = max(1, min(int(top_k), len(classes)))
    files = image_files(items)
    net = model if model is not None else ckpt.build("cpu")
    out = Predictions()
    for start in range(0, len(files), CHUNK):
        batch, names = [], []
        for path, named in files[start : start + CHUNK]:
            try:
                x, was = decode(path, pre)
            except Exception as exc:  # PIL raises many kinds; a named file is an error, a listed one skipped
                why = " ".join(str(exc).split())[:120] or type(exc).__name__
                if named:
                    raise UsageError(f"cannot read image {show(path)}: {why}") from None
                out.skipped.add(str(path), why)
                continue
            if was:
                out.converted += 1
                out.first_converted = out.first_converted or was
            batch.append(x)
            names.append(str(path))
        if not batch:
            continue
        with torch.no_grad():
            probs = torch.softmax(net(prepare(torch.stack(batch), pre)).float(), dim=1)
        values, indices = probs.topk(k, dim=1)
        for name, vs, ix in zip(names, values.tolist(), indices.tolist()):
            top = [{"class": classes[i], "index": i, "probability": v} for v, i in zip(vs, ix)]
            out.rows.append({"image": name, "top": top})
    if not out.rows:
        raise UsageError(f"no readable image among the {len(files)} files given ({out.skipped.note() or ''})")
    return out
