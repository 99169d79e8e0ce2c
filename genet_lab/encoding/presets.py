"""Network configurations: the fixed, non-encoded parts of a GeNet, as named presets.

The genome encodes only the wiring inside each stage. Everything else (input
shape, stage widths, pooling, the fully-connected head) is a
:class:`NetworkConfig`; the paper's three settings are registered presets.
No torch here, so front ends can show figures without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from genet_lab.errors import reject_unknown_keys


@dataclass(frozen=True)
class NetworkConfig:
    """Everything about a network except its stage wiring."""

    name: str
    in_channels: int = 3
    """Channels of the input image."""
    image_size: int = 32
    """Height and width of the (square) input image, in pixels."""
    num_classes: int = 10
    stem: tuple[tuple[int, int], ...] = ()
    """Plain VGG blocks run before the GeNet stages: (width, convolutions) each, then a pool."""
    widths: tuple[int, ...] = (8, 8, 16)
    """Filters of every convolution of stage s (all nodes of a stage share it)."""
    kernel_size: int = 3
    """Square kernel of every convolution (padding keeps the resolution)."""
    pool_kernel: int = 3
    pool_stride: int = 2
    pool_padding: int = 1
    """Max pooling after each stage (and stem block)."""
    fc: tuple[int, ...] = (32,)
    """Hidden fully-connected layers of the head, each followed by ReLU and dropout."""
    dropout: float = 0.5
    """Drop ratio after each hidden fully-connected layer."""
    description: str = field(default="", compare=False)

    def with_input(
        self, in_channels: int | None = None, image_size: int | None = None, num_classes: int | None = None
    ) -> NetworkConfig:
        """The same network for another input shape or class count."""
        return replace(
            self,
            in_channels=self.in_channels if in_channels is None else int(in_channels),
            image_size=self.image_size if image_size is None else int(image_size),
            num_classes=self.num_classes if num_classes is None else int(num_classes),
        ).validated()

    def stage_widths(self, num_stages: int) -> tuple[int, ...]:
        """Widths for a genome of ``num_stages`` stages: the preset's widths,
        cut short, or extended by repeating the last width."""
        w = self.widths
        if num_stages <= len(w):
            return w[:num_stages]
        return w + (w[-1],) * (num_stages - len(w))

    def pooled(self, size: int) -> int:
        """Spatial size after one pooling layer."""
        return (size + 2 * self.pool_padding - self.pool_kernel) // self.pool_stride + 1

    def validated(self) -> NetworkConfig:
        for f in ("in_channels", "image_size", "num_classes", "kernel_size", "pool_kernel", "pool_stride"):
            if getattr(self, f) < 1:
                raise ValueError(f"network config {f} must be >= 1, got {getattr(self, f)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the resolution, got {self.kernel_size}")
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"stage widths must be positive, got {self.widths}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        return self

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "description"}

    @classmethod
    def from_dict(cls, data: dict) -> NetworkConfig:
        reject_unknown_keys(data, cls, "network config keys")
        kw = dict(data)
        for key in ("widths", "fc"):
            if key in kw:
                kw[key] = tuple(int(x) for x in kw[key])
        if "stem" in kw:
            kw["stem"] = tuple((int(w), int(n)) for w, n in kw["stem"])
        return cls(**kw).validated()


PRESETS: dict[str, NetworkConfig] = {
    "paper-cifar10": NetworkConfig(
        name="paper-cifar10",
        widths=(8, 8, 16),
        fc=(32,),
        description="Section 4.1.1: C3(P1)@8-MP3(S2)-C3(P1)@8-MP3(S2)-C3(P1)@16-MP3(S2)-FC32-D0.5-FC10, "
        "each C3 replaced by a GeNet stage.",
    ),
    "wide": NetworkConfig(
        name="wide",
        widths=(64, 128, 256),
        fc=(1024,),
        description="Section 4.2: the same network with 64, 128, 256 filters and FC1024.",
    ),
    "imagenet": NetworkConfig(
        name="imagenet",
        in_channels=3,
        image_size=224,
        num_classes=1000,
        stem=((64, 2), (128, 2)),
        widths=(256, 512, 512),
        pool_kernel=2,
        pool_stride=2,
        pool_padding=0,
        fc=(4096, 4096),
        dropout=0.5,
        description="Section 4.3: VGG-16's first two stages to 56x56x128, GeNet stages at 256, 512, 512, "
        "2x2 max pooling, VGG-16's FC4096-FC4096-FC1000 with dropout 0.5.",
    ),
}


def list_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> NetworkConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
