"""Torch networks: the built module agrees with the graphs and the analytic complexity."""

import pytest
import torch
from torch import nn

from genet_lab.encoding import genome as gm
from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.graph import decode
from genet_lab.encoding.presets import NetworkConfig, get_preset, list_presets
from genet_lab.training.network import (
    Stage,
    build_network,
    count_parameters,
    make_stage,
)

GENOMES = [
    gm.zeros(),
    gm.chain(),
    gm.residual(),
    gm.dense(),
    gm.paper_best(),
    gm.parse("1-00 0-00-000 0-10-100-0001"),
    gm.parse("1 0-00-000"),
]


@pytest.mark.parametrize("preset", ["paper-cifar10", "wide"])
@pytest.mark.parametrize("genome", GENOMES, ids=str)
def test_parameter_count_matches_analytic(preset, genome):
    config = get_preset(preset)
    model = build_network(genome, config)
    assert count_parameters(model) == complexity(genome, config).params
    out = model.eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_imagenet_genet_has_156m_parameters():
    # Table 3: both GeNets have 156M parameters
    config = get_preset("imagenet")
    cx = complexity(gm.paper_best(), config)
    assert round(cx.params / 1e6) == 156
    model = build_network(gm.paper_best(), config)
    assert count_parameters(model) == cx.params
    assert cx.feature_size == 7  # a 7x7x512 data cube before the fully-connected layers


def test_paper_best_is_a_17_layer_network():
    cx = complexity(gm.paper_best(), get_preset("paper-cifar10"))
    assert cx.depth == 15 and cx.layers == 17  # "the 17-layer GeNet #1 and #2"
    assert cx.convs == (5, 6, 7)


@pytest.mark.parametrize("size, channels, classes", [(8, 1, 10), (28, 1, 10), (32, 3, 100), (9, 2, 3)])
def test_any_input_shape(size, channels, classes):
    config = get_preset("paper-cifar10").with_input(channels, size, classes)
    for genome in (gm.paper_best(), gm.zeros()):
        model = build_network(genome, config).eval()
        assert model(torch.randn(3, channels, size, size)).shape == (3, classes)
        assert count_parameters(model) == complexity(genome, config).params


def test_all_zero_stage_is_one_convolution():
    model = build_network(gm.parse("0-00 1-01-001 1"), get_preset("paper-cifar10"))
    stage = model.features[0]
    assert isinstance(stage, Stage)
    assert list(stage.nodes.keys()) == ["0"]
    x = torch.randn(2, 3, 32, 32)
    stage.eval()
    torch.testing.assert_close(stage(x), stage.nodes["0"](x))


def test_stage_forward_follows_the_graph():
    g = gm.paper_best()
    model = build_network(g, get_preset("paper-cifar10")).eval()
    stage = model.features[4]  # stage 3 (after two stages and two pools)
    graph = decode(g)[2]
    assert sorted(int(n) for n in stage.nodes.keys()) == graph.nodes
    x = torch.randn(2, 8, 8, 8)
    f = {n: stage.nodes[str(n)] for n in graph.nodes}
    with torch.no_grad():
        o0 = f[0](x)
        o1, o2 = f[1](o0), f[2](o0)
        o3 = f[3](o1 + o2)
        o4 = f[4](o1 + o3)
        o5 = f[5](o4)
        expected = f[6](o5)
        torch.testing.assert_close(stage(x), expected)


def test_dropped_nodes_have_no_weights():
    model = build_network(gm.parse("1-00"), get_preset("paper-cifar10").with_input(3, 32, 10))
    assert sorted(model.features[0].nodes.keys()) == ["0", "1", "2", "4"]


def test_too_small_input_is_a_clear_error():
    config = get_preset("imagenet").with_input(3, 16, 10)
    with pytest.raises(ValueError, match="too small"):
        complexity(gm.paper_best(), config)


def test_presets_registry():
    assert list_presets() == ["paper-cifar10", "wide", "imagenet"]
    for name in list_presets():
        c = get_preset(name)
        assert NetworkConfig.from_dict(c.to_dict()) == c
    assert get_preset("wide").widths == (64, 128, 256) and get_preset("wide").fc == (1024,)
    assert get_preset("paper-cifar10").widths == (8, 8, 16) and get_preset("paper-cifar10").fc == (32,)
    with pytest.raises(ValueError, match="unknown network config keys: colour"):
        NetworkConfig.from_dict({"name": "x", "colour": 1})
    with pytest.raises(ValueError, match="known presets"):
        get_preset("resnet50")


def test_widths_follow_the_number_of_stages():
    c = get_preset("paper-cifar10")
    assert c.stage_widths(2) == (8, 8)
    assert c.stage_widths(5) == (8, 8, 16, 16, 16)


def test_norm_layer_is_injected_everywhere():
    config = NetworkConfig(
        name="t", in_channels=3, image_size=16, num_classes=5, stem=((4, 1),), widths=(4, 6, 8), fc=(12,), dropout=0.0
    )
    genome = gm.paper_best()

    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.modules())

    torch.manual_seed(0)
    default = build_network(genome, config)
    convs = count(default, nn.Conv2d)
    assert convs == sum(complexity(genome, config).convs) + 1 and count(default, nn.BatchNorm2d) == convs
    torch.manual_seed(0)
    explicit = build_network(genome, config, norm_layer=nn.BatchNorm2d)
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), explicit.state_dict().values()))
    grouped = build_network(genome, config, norm_layer=lambda c: nn.GroupNorm(2, c))
    assert count(grouped, nn.BatchNorm2d) == 0 and count(grouped, nn.GroupNorm) == convs  # stem and stages
    assert count_parameters(grouped) == count_parameters(default)  # the same affine weight and bias
    assert grouped.eval()(torch.randn(2, 3, 16, 16)).shape == (2, 5)
    stage = make_stage(decode(genome)[0], 3, 4, config, norm_layer=nn.InstanceNorm2d)
    assert count(stage, nn.InstanceNorm2d) == len(stage.nodes) and count(stage, nn.BatchNorm2d) == 0
