"""A batched group of G individuals computes and learns exactly what G GeNets do."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genet_lab.batched import BatchedGeNet, group_loss
from genet_lab.config import NetworkConfig, get_preset
from genet_lab.genome import Genome, parse, resolve
from genet_lab.graph import decode
from genet_lab.network import build_network

TINY = replace(get_preset("paper-cifar10").with_input(1, 8, 10), dropout=0.0)

# A mix that covers every case: all-zero stages, dropped nodes, chain, dense, residual.
MIX = [
    resolve("zeros"),
    resolve("chain"),
    resolve("dense"),
    resolve("residual"),
    resolve("paper-best"),
    parse("1-00 0-01-100 0-11-101-0001"),  # node 3 of stage 1 dropped
    parse("0-00 1-00-000 0-00-000-0001"),  # one all-zero stage, dropped nodes elsewhere
]


def _group(genomes, config, dtype=torch.float64, seed0=0):
    nets = []
    for i, g in enumerate(genomes):
        torch.manual_seed(seed0 + i)
        nets.append(build_network(g, config).to(dtype))
    return nets, BatchedGeNet.from_networks(nets).to(dtype)


def _random_genomes(n, stages=(3, 4, 5), seed=0):
    rng = np.random.default_rng(seed)
    length = sum(k * (k - 1) // 2 for k in stages)
    return [Genome(stages, tuple(int(b) for b in rng.integers(0, 2, length))) for _ in range(n)]


def test_mix_covers_the_special_cases():
    stages = [st for g in MIX for st in decode(g)]
    assert any(st.is_single_conv for st in stages)
    assert any(st.dropped and not st.is_single_conv for st in stages)


@pytest.mark.parametrize("train", [True, False])
def test_forward_matches_single_networks_bit_for_bit(train):
    nets, model = _group(MIX, TINY)
    model.train(train)
    for n in nets:
        n.train(train)
    x = torch.randn(12, 1, 8, 8, dtype=torch.float64)
    out = model(x)
    assert out.shape == (len(MIX), 12, 10)
    for g, net in enumerate(nets):
        torch.testing.assert_close(out[g], net(x), rtol=0, atol=1e-12)


def _train_both(nets, model, batches, per_individual=False):
    opts = [torch.optim.SGD(n.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4) for n in nets]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for xs, ys in batches:
        for g, (net, o) in enumerate(zip(nets, opts)):
            x, y = (xs[g], ys[g]) if per_individual else (xs, ys)
            o.zero_grad()
            F.cross_entropy(net(x), y).backward()
            o.step()
        x, y = (torch.cat(list(xs), dim=1), ys) if per_individual else (xs, ys)
        opt.zero_grad()
        _, total = group_loss(model(x), y)
        total.backward()
        opt.step()


def _assert_same(nets, model, x, rtol, atol):
    model.eval()
    out = model(x)
    for g, net in enumerate(nets):
        net.eval()
        torch.testing.assert_close(out[g], net(x), rtol=rtol, atol=atol)
        assert torch.equal(out[g].argmax(1), net(x).argmax(1))
        mine = model.individual_state(g, net)
        for name, value in net.state_dict().items():
            if name in mine:
                torch.testing.assert_close(mine[name], value, rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float64, 1e-9, 1e-10), (torch.float32, 1e-3, 1e-4)])
def test_training_matches_single_networks(dtype, rtol, atol):
    gen = torch.Generator().manual_seed(1)
    nets, model = _group(MIX, TINY, dtype)
    batches = [(torch.randn(16, 1, 8, 8, generator=gen, dtype=dtype), torch.randint(0, 10, (16,), generator=gen))
               for _ in range(6)]
    _train_both(nets, model, batches)
    _assert_same(nets, model, torch.randn(32, 1, 8, 8, generator=gen, dtype=dtype), rtol, atol)


def test_each_individual_may_see_its_own_batches():
    gen = torch.Generator().manual_seed(2)
    genomes = _random_genomes(4)
    nets, model = _group(genomes, TINY)
    G = len(genomes)
    batches = [(torch.randn(G, 8, 1, 8, 8, generator=gen, dtype=torch.float64),
                torch.randint(0, 10, (G, 8), generator=gen)) for _ in range(4)]
    _train_both(nets, model, batches, per_individual=True)
    _assert_same(nets, model, torch.randn(16, 1, 8, 8, generator=gen, dtype=torch.float64), 1e-9, 1e-10)


def test_random_group_of_the_paper_space_with_stem_and_two_hidden_layers():
    config = NetworkConfig(name="t", in_channels=3, image_size=16, num_classes=5, stem=((4, 1),),
                           widths=(4, 6, 8), fc=(12, 7), dropout=0.0)
    genomes = _random_genomes(5, seed=3)
    nets, model = _group(genomes, config)
    gen = torch.Generator().manual_seed(3)
    batches = [(torch.randn(8, 3, 16, 16, generator=gen, dtype=torch.float64),
                torch.randint(0, 5, (8,), generator=gen)) for _ in range(3)]
    _train_both(nets, model, batches)
    _assert_same(nets, model, torch.randn(8, 3, 16, 16, generator=gen, dtype=torch.float64), 1e-9, 1e-10)


def test_export_individual_gives_the_same_network():
    nets, model = _group(MIX[:3], TINY)
    model.eval()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    for g in range(3):
        net = model.export_individual(g).to(torch.float64).eval()
        torch.testing.assert_close(net(x), model(x)[g], rtol=0, atol=1e-12)


def test_dropout_is_independent_per_individual():
    config = replace(TINY, dropout=0.5, fc=(256,))
    genome = resolve("chain")
    torch.manual_seed(0)
    net = build_network(genome, config)
    model = BatchedGeNet.from_networks([net, net, net])  # three identical individuals
    seen = {}
    model.classifier[3].register_forward_hook(lambda m, i, o: seen.update(inp=i[0], out=o))
    model.train()
    model(torch.randn(64, 1, 8, 8))
    live = seen["inp"] != 0  # (G, B, hidden): units ReLU left alive, identical for all three
    assert torch.equal(live[0], live[1]) and torch.equal(live[1], live[2])
    kept = (seen["out"] != 0) & live
    for g in range(3):
        frac = kept[g].sum().item() / live[g].sum().item()
        assert 0.4 < frac < 0.6, frac
    assert not torch.equal(kept[0], kept[1]) and not torch.equal(kept[1], kept[2])


def test_a_diverged_individual_does_not_reach_the_others():
    nets, model = _group(MIX[:3], TINY)
    with torch.no_grad():
        model.classifier[-1].weight[0].fill_(float("nan"))
    x = torch.randn(8, 1, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 10, (8,))
    per, _ = group_loss(model(x), y)
    alive = torch.isfinite(per)
    assert alive.tolist() == [False, True, True]
    _, total = group_loss(model(x), y, alive)
    total.backward()
    for g in (1, 2):
        nets[g].zero_grad()
        F.cross_entropy(nets[g](x), y).backward()
        for (name, p) in nets[g].named_parameters():
            mine = model.get_parameter(name).grad
            torch.testing.assert_close(model._slice(mine, p, g), p.grad, rtol=1e-9, atol=1e-12, msg=name)


def test_group_rejects_mixed_stage_sizes_and_empty_groups():
    with pytest.raises(ValueError, match="share stage sizes"):
        BatchedGeNet([resolve("chain"), resolve("chain", stages=(3, 4))], TINY)
    with pytest.raises(ValueError, match="at least one"):
        BatchedGeNet([], TINY)
