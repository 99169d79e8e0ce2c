"""Torch networks built from a genome and a :class:`~genet_lab.encoding.presets.NetworkConfig`.

Each node of a stage sums its inputs element-wise, then runs conv -> BN -> ReLU
(section 3.1); all convolutions of a stage keep the stage's width and
resolution; a max pool follows every stage; a fully-connected head classifies.
The normalisation is injected as a ``norm_layer`` callable (``channels -> module``, as
torchvision's resnet.py), BatchNorm2d unless the caller passes another.
Knows torch and the decoded stage graphs; nothing of data, training or evolution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import StageGraph, decode
from genet_lab.encoding.presets import NetworkConfig

NormLayer = Callable[[int], nn.Module]
"""Builds the normalisation of a node from its number of channels (``nn.BatchNorm2d`` by default)."""


def conv_bn_relu(cin: int, cout: int, kernel_size: int = 3, norm_layer: NormLayer = nn.BatchNorm2d) -> nn.Sequential:
    """One node: bias-free convolution, normalisation, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False),
        norm_layer(cout),
        nn.ReLU(inplace=True),
    )


class Stage(nn.Module):
    """One GeNet stage: the decoded DAG, a conv-BN-ReLU per node."""

    def __init__(
        self, graph: StageGraph, cin: int, width: int, kernel_size: int = 3, norm_layer: NormLayer = nn.BatchNorm2d
    ):
        super().__init__()
        self.order = graph.topological_order()
        self.inputs = {n: graph.predecessors(n) for n in self.order}
        self.nodes = nn.ModuleDict(
            {str(n): conv_bn_relu(cin if n == 0 else width, width, kernel_size, norm_layer) for n in self.order}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: dict[int, torch.Tensor] = {}
        for n in self.order:
            preds = self.inputs[n]
            if not preds:
                h = x
            else:
                h = out[preds[0]]
                for p in preds[1:]:
                    h = h + out[p]
            out[n] = self.nodes[str(n)](h)
        return out[self.order[-1]]


def make_stage(
    graph: StageGraph, cin: int, width: int, config: NetworkConfig, norm_layer: NormLayer = nn.BatchNorm2d
) -> Stage:
    """The stage of ``graph`` from ``cin`` input channels at ``width`` channels."""
    return Stage(graph, cin, width, config.kernel_size, norm_layer)


class GeNet(nn.Module):
    """A network of GeNet stages between an optional VGG stem and a classifier head.

    ``norm_layer`` normalises every node, stem and stages alike. Population training
    (:class:`~genet_lab.training.batched.BatchedGeNet`) stacks BatchNorm2d networks only.
    """

    def __init__(self, genome: Genome, config: NetworkConfig, norm_layer: NormLayer = nn.BatchNorm2d):
        super().__init__()
        from genet_lab.encoding.complexity import complexity

        config = config.validated()
        self.genome, self.config = genome, config
        stats = complexity(genome, config)  # also checks the input is large enough
        pool = lambda: nn.MaxPool2d(config.pool_kernel, config.pool_stride, config.pool_padding)  # noqa: E731
        layers: list[nn.Module] = []
        cin = config.in_channels
        for width, n in config.stem:
            for _ in range(n):
                layers.append(conv_bn_relu(cin, width, config.kernel_size, norm_layer))
                cin = width
            layers.append(pool())
        for graph, width in zip(decode(genome), config.stage_widths(genome.num_stages)):
            layers += [make_stage(graph, cin, width, config, norm_layer), pool()]
            cin = width
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        feats = cin * stats.feature_size**2
        for hidden in config.fc:
            head += [nn.Linear(feats, hidden), nn.ReLU(inplace=True), nn.Dropout(config.dropout)]
            feats = hidden
        head.append(nn.Linear(feats, config.num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_network(genome: Genome, config: NetworkConfig, norm_layer: NormLayer = nn.BatchNorm2d) -> GeNet:
    """The :class:`GeNet` of ``genome`` under ``config``, normalised by ``norm_layer``."""
    return GeNet(genome, config, norm_layer)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
