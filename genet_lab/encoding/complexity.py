"""Complexity of a GeNet without building it: parameters, multiply-adds, depth.

Counted the way :mod:`genet_lab.training.network` builds the model: every convolution is
bias-free and followed by BatchNorm (2 learnable parameters per channel);
fully-connected layers have biases. Multiply-adds count convolutions and
fully-connected layers for one input image (BatchNorm, ReLU, pooling and
additions are left out, as is usual). No torch here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import decode
from genet_lab.encoding.presets import NetworkConfig


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int
    convs: tuple[int, ...]
    """Convolutions run by each GeNet stage."""
    stage_depths: tuple[int, ...]
    depth: int
    """Convolutions on the longest path through the whole network (stem included)."""
    layers: int
    """depth plus the fully-connected layers (the paper's "17-layer GeNet")."""
    feature_size: int
    """Spatial size of the last stage's output after pooling."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["convs"] = list(self.convs)
        d["stage_depths"] = list(self.stage_depths)
        return d


def _conv(cin: int, cout: int, k: int, size: int) -> tuple[int, int]:
    weights = k * k * cin * cout
    return weights + 2 * cout, weights * size * size


def complexity(genome: Genome, config: NetworkConfig) -> Complexity:
    """Parameters, multiply-adds and depth of ``genome`` built with ``config``."""
    k = config.kernel_size
    size, cin = config.image_size, config.in_channels
    params = macs = depth = 0
    for width, n in config.stem:
        for _ in range(n):
            p, m = _conv(cin, width, k, size)
            params, macs, cin = params + p, macs + m, width
        depth += n
        size = _pool(config, size)
    convs, depths = [], []
    for stage, width in zip(decode(genome), config.stage_widths(genome.num_stages)):
        p, m = _conv(cin, width, k, size)
        rest_p, rest_m = _conv(width, width, k, size)
        n = stage.num_convs
        params += p + (n - 1) * rest_p
        macs += m + (n - 1) * rest_m
        convs.append(n)
        depths.append(stage.depth)
        depth += stage.depth
        cin = width
        size = _pool(config, size)
    features = cin * size * size
    for hidden in config.fc:
        params += features * hidden + hidden
        macs += features * hidden
        features = hidden
    params += features * config.num_classes + config.num_classes
    macs += features * config.num_classes
    return Complexity(params, macs, tuple(convs), tuple(depths), depth, depth + len(config.fc) + 1, size)


def _pool(config: NetworkConfig, size: int) -> int:
    out = config.pooled(size)
    if out < 1:
        raise ValueError(
            f"input of {config.image_size}x{config.image_size} pixels is too small for preset "
            f"{config.name!r}: pooling leaves nothing after a stage; use a larger image or fewer stages"
        )
    return out
