"""Population-batched GeNets: G individuals of one genome space trained as one model.

Every individual of a group shares the stage sizes and the
:class:`~genet_lab.encoding.presets.NetworkConfig`; only the wiring differs. So the
group is one network whose layers hold G stacked copies of the weights:

* convolutions are grouped (``groups=G``) over channels laid out individual
  by individual, ``(B, G*C, H, W)``; the first layer reads the shared input
  image with a plain convolution of ``G*C`` filters (or, when every
  individual has its own batch, a grouped one over ``(B, G*C_in, H, W)``);
* BatchNorm over ``G*C`` channels keeps per-individual statistics, max
  pooling and ReLU act per channel anyway, the head is a batched matmul;
* each stage runs the full DAG of the stage (default input node 0, ordinary
  nodes 1..K, default output node K+1) and weights every edge by a
  per-individual 0/1 mask taken from :func:`genet_lab.encoding.graph.decode`: a
  dropped node receives and sends nothing, an all-zero stage outputs node 0.

Individuals never mix: the gradient of the summed loss with respect to one
individual's weights is the gradient of that individual's own loss, so one
step of SGD on the group is one step of SGD on each network (tested against
:class:`genet_lab.training.network.GeNet` in tests/training/test_batched.py). Inputs are summed
in the single network's order (ascending predecessor), and adding an exact
zero for a missing edge changes no bit.

Grouped convolutions, not ``torch.func.vmap``: on the 2-core CPU where this
was written vmap of conv2d (forward and backward, G=20, 8 channels) took 1.4x
the time of the grouped call at 8x8 and 1.1x at 32x32 (docs/scaling.md), and
vmap cannot vary the wiring per individual anyway.

Knows torch and the network layout of :mod:`genet_lab.training.network`; nothing of
training, data or evolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import StageGraph, decode
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.training.devices import rng_state, set_rng_state
from genet_lab.training.network import GeNet


class GroupConvBNReLU(nn.Module):
    """G bias-free convolutions side by side, then per-channel BN and ReLU.

    The weight is ``(G*cout, cin, k, k)``: rows ``g*cout:(g+1)*cout`` are
    individual g's convolution. With ``shared_input`` the input has ``cin``
    channels seen by every individual; otherwise ``G*cin`` (one slice each).
    """

    def __init__(self, groups: int, cin: int, cout: int, kernel_size: int = 3):
        super().__init__()
        self.groups, self.cin = groups, cin
        # Named "0" and "1" like GeNet's conv_bn_relu Sequential, so state-dict names match.
        self.add_module("0", nn.Conv2d(cin, groups * cout, kernel_size, padding=kernel_size // 2, bias=False))
        self.add_module("1", nn.BatchNorm2d(groups * cout))

    @property
    def conv(self) -> nn.Conv2d:
        return cast(nn.Conv2d, self._modules["0"])

    @property
    def bn(self) -> nn.BatchNorm2d:
        return cast(nn.BatchNorm2d, self._modules["1"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = 1 if x.shape[1] == self.cin else self.groups
        y = F.conv2d(x, self.conv.weight, None, 1, self.conv.padding, 1, groups)
        return F.relu(self.bn(y), inplace=True)


class BatchedLinear(nn.Module):
    """G fully-connected layers: ``(G, B, fin) -> (G, B, fout)``; weight ``(G, fout, fin)``."""

    def __init__(self, groups: int, fin: int, fout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, fout, fin))
        self.bias = nn.Parameter(torch.empty(groups, fout))
        for g in range(groups):  # nn.Linear's own initialisation, per individual
            ref = nn.Linear(fin, fout)
            with torch.no_grad():
                self.weight[g].copy_(ref.weight)
                self.bias[g].copy_(ref.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class RngStreams:
    """One random stream per individual, as the global generator a lone GeNet would draw from.

    ``train_genome`` seeds the global generator, builds the network and then draws
    only dropout masks from it; holding each individual's generator state here
    (taken right after its network was built) and switching to it around its
    slice of each dropout layer gives every individual the masks it would get alone.
    """

    def __init__(self, states: Sequence[torch.Tensor], device: torch.device | str = "cpu"):
        self.states = list(states)
        self.device = torch.device(device)

    def _get(self) -> torch.Tensor:
        return rng_state(self.device)

    def _set(self, state: torch.Tensor) -> None:
        set_rng_state(state, self.device)

    def dropout(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """``F.dropout`` of each ``x[g]`` drawn from stream g; the caller's stream is left as it was."""
        outer = self._get()
        try:
            outs = []
            for g, state in enumerate(self.states):
                self._set(state)
                outs.append(F.dropout(x[g], p, True))
                self.states[g] = self._get()
        finally:
            self._set(outer)
        return torch.stack(outs)


class GroupDropout(nn.Dropout):
    """Dropout over ``(G, B, features)``: per-individual streams when the model has them
    (see :class:`RngStreams`), otherwise one draw for the whole group (still independent per
    individual, but not the masks a lone network would draw)."""

    def __init__(self, p: float, owner: BatchedGeNet):
        super().__init__(p)
        self._owner = [owner]  # a list: not registered as a submodule (it is the parent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        streams = self._owner[0].rng_streams
        if not self.training or self.p == 0 or streams is None:
            return super().forward(x)
        return streams.dropout(x, self.p)


def stage_masks(graphs: Sequence[StageGraph], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-individual masks of one stage over its full DAG of K+2 nodes.

    Returns ``edges`` of shape ``(K+2, K+2, G*width)``, 1.0 where individual g's
    built graph has the edge p -> n (repeated over g's channels), and
    ``single`` of shape ``(G*width,)``, True for the channels of individuals
    whose stage is all zeros (a single convolution: the output is node 0).
    """
    k = graphs[0].k
    groups = len(graphs)
    edges = torch.zeros(k + 2, k + 2, groups)
    single = torch.zeros(groups, dtype=torch.bool)
    for g, graph in enumerate(graphs):
        if graph.is_single_conv:
            single[g] = True
            continue
        for p, n in graph.graph.edges:
            edges[p, n, g] = 1.0
    return edges.repeat_interleave(width, dim=2), single.repeat_interleave(width)


class BatchedStage(nn.Module):
    """One stage for G individuals: the union of their nodes, edges masked per individual."""

    single: torch.Tensor
    """Buffer, registered in ``__init__``: True for the channels of all-zero stages, shape (1, G*width, 1, 1)."""

    def __init__(self, graphs: Sequence[StageGraph], cin: int, width: int, kernel_size: int = 3):
        super().__init__()
        groups, k = len(graphs), graphs[0].k
        edges, single = stage_masks(graphs, width)
        any_edge = edges.amax(dim=2) > 0
        self.out_node = k + 1
        # A node is computed when some individual has it; node 0 always is.
        self.order = [0] + [n for n in range(1, k + 2) if bool(any_edge[:, n].any())]
        self.inputs: dict[int, list[tuple[int, str | None]]] = {}
        for n in self.order[1:]:
            terms = []
            for p in range(n):
                if not any_edge[p, n]:
                    continue
                name = None
                if not bool((edges[p, n] == 1).all()):  # an edge all individuals have needs no mask
                    name = f"mask_{p}_{n}"
                    self.register_buffer(name, edges[p, n].view(1, -1, 1, 1), persistent=False)
                terms.append((p, name))
            self.inputs[n] = terms
        self.all_single = bool(single.all())
        self.any_single = bool(single.any())
        self.register_buffer("single", single.view(1, -1, 1, 1), persistent=False)
        self.nodes = nn.ModuleDict(
            {str(n): GroupConvBNReLU(groups, cin if n == 0 else width, width, kernel_size) for n in self.order}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = {0: self.nodes["0"](x)}
        if self.all_single:
            return out[0]
        for n in self.order[1:]:
            h = None
            for p, name in self.inputs[n]:
                term = out[p] if name is None else out[p] * getattr(self, name)
                h = term if h is None else h + term
            out[n] = self.nodes[str(n)](h)
        last = out[self.out_node]
        return torch.where(self.single, out[0], last) if self.any_single else last


class BatchedGeNet(nn.Module):
    """G GeNets of one genome space as one module; ``forward`` returns ``(G, B, classes)`` logits.

    ``x`` is either ``(B, C, H, W)``, the same images for every individual, or
    ``(B, G*C, H, W)``, individual g's images in channels ``g*C:(g+1)*C``.
    Layer indices mirror :class:`GeNet` (``features.i``, ``classifier.j``), so
    :meth:`load_individual` and :meth:`individual_state` map weights by name.
    """

    def __init__(self, genomes: Sequence[Genome], config: NetworkConfig):
        super().__init__()
        from genet_lab.encoding.complexity import complexity

        genomes = list(genomes)
        if not genomes:
            raise ValueError("a batched group needs at least one genome")
        stages = {g.stages for g in genomes}
        if len(stages) != 1:
            raise ValueError(
                "all genomes of a batched group must share stage sizes, got "
                + ", ".join(",".join(map(str, s)) for s in sorted(stages))
            )
        config = config.validated()
        self.genomes, self.config, self.groups = genomes, config, len(genomes)
        self.rng_streams: RngStreams | None = None
        """Per-individual dropout streams (set by the trainer); None: one draw for the group."""
        stats = complexity(genomes[0], config)
        G = self.groups
        pool = lambda: nn.MaxPool2d(config.pool_kernel, config.pool_stride, config.pool_padding)  # noqa: E731
        layers: list[nn.Module] = []
        cin = config.in_channels
        for width, n in config.stem:
            for _ in range(n):
                layers.append(GroupConvBNReLU(G, cin, width, config.kernel_size))
                cin = width
            layers.append(pool())
        decoded = [decode(g) for g in genomes]
        for s, width in enumerate(config.stage_widths(genomes[0].num_stages)):
            layers += [BatchedStage([d[s] for d in decoded], cin, width, config.kernel_size), pool()]
            cin = width
        self.features = nn.Sequential(*layers)
        self.feature_dim = cin * stats.feature_size**2
        head: list[nn.Module] = [nn.Identity()]  # stands where GeNet flattens
        feats = self.feature_dim
        for hidden in config.fc:
            head += [BatchedLinear(G, feats, hidden), nn.ReLU(inplace=True), GroupDropout(config.dropout, self)]
            feats = hidden
        head.append(BatchedLinear(G, feats, config.num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        # (B, G*C, h, w) -> (G, B, C*h*w): each individual's features in GeNet's flatten order.
        h = h.reshape(h.shape[0], self.groups, self.feature_dim).transpose(0, 1)
        return self.classifier(h)

    # -- weights of one individual ------------------------------------------
    def _pairs(self, net_state: dict[str, torch.Tensor]):
        own = self.state_dict(keep_vars=True)
        for name, single in net_state.items():
            if name not in own:
                raise ValueError(f"batched model has no tensor {name} (not the same network config?)")
            yield name, single, own[name]

    def _slice(self, batched: torch.Tensor, single: torch.Tensor, g: int) -> torch.Tensor:
        if batched.dim() == 0:  # BN's num_batches_tracked: one counter for the whole group
            return batched
        if batched.dim() == single.dim() + 1:  # BatchedLinear: (G, ...)
            return batched[g]
        rows = single.shape[0]
        return batched[g * rows : (g + 1) * rows]

    @torch.no_grad()
    def load_individual(self, g: int, net: GeNet | dict[str, torch.Tensor]) -> None:
        """Copy the weights and BN statistics of a single network into individual ``g``."""
        state = net.state_dict() if isinstance(net, nn.Module) else net
        for _, single, batched in self._pairs(state):
            self._slice(batched, single, g).copy_(single)

    @torch.no_grad()
    def individual_state(self, g: int, net: GeNet) -> dict[str, torch.Tensor]:
        """Individual ``g``'s tensors under ``net``'s state-dict names (``net`` gives names and shapes)."""
        out = {}
        for name, single, batched in self._pairs(net.state_dict()):
            out[name] = self._slice(batched, single, g).detach().clone()
        return out

    def export_individual(self, g: int) -> GeNet:
        """A :class:`GeNet` carrying individual ``g``'s current weights."""
        net = GeNet(self.genomes[g], self.config).to(next(self.parameters()).device)
        state = self.individual_state(g, net)
        net.load_state_dict(state, strict=False)
        return net

    @classmethod
    def from_networks(cls, nets: Sequence[GeNet]) -> BatchedGeNet:
        """Stack already-built networks (e.g. each initialised under its own seed)."""
        nets = list(nets)
        if not nets:
            raise ValueError("a batched group needs at least one network")
        model = cls([n.genome for n in nets], nets[0].config)
        for g, net in enumerate(nets):
            if net.config != nets[0].config:
                raise ValueError("all networks of a batched group must share one network config")
            model.load_individual(g, net)
        return model


def group_loss(
    logits: torch.Tensor, targets: torch.Tensor, alive: torch.Tensor | None = None, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-individual mean cross-entropy ``(G,)`` and their sum over live individuals.

    ``targets`` is ``(B,)`` for shared images or ``(G, B)``. A dead individual
    (``alive[g]`` False, e.g. one whose loss went non-finite) adds nothing, so
    its NaNs cannot reach the total.
    """
    G, B, C = logits.shape
    if targets.dim() == 1:
        targets = targets.unsqueeze(0).expand(G, B)
    per = (
        F.cross_entropy(
            logits.reshape(G * B, C), targets.reshape(G * B), reduction="none", label_smoothing=label_smoothing
        )
        .view(G, B)
        .mean(1)
    )
    if alive is None:
        return per, per.sum()
    return per, per[alive].sum()
