"""A batched group of G individuals computes and learns exactly what G GeNets do."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genet_lab.encoding.genome import Genome, parse, resolve
from genet_lab.encoding.graph import decode
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.training.batched import BatchedGeNet, group_loss
from genet_lab.training.network import build_network


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on 2 shared, busy cores a second OpenMP thread made steps 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
                torch.testing.assert_close(
                    mine[name], value, rtol=rtol, atol=atol, msg=lambda m, name=name: f"{name}: {m}"
                )


@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float64, 1e-9, 1e-10), (torch.float32, 1e-3, 1e-3)])
def test_training_matches_single_networks(dtype, rtol, atol):
    gen = torch.Generator().manual_seed(1)
    nets, model = _group(MIX, TINY, dtype)
    batches = [
        (torch.randn(16, 1, 8, 8, generator=gen, dtype=dtype), torch.randint(0, 10, (16,), generator=gen))
        for _ in range(6)
    ]
    _train_both(nets, model, batches)
    _assert_same(nets, model, torch.randn(32, 1, 8, 8, generator=gen, dtype=dtype), rtol, atol)


def test_each_individual_may_see_its_own_batches():
    gen = torch.Generator().manual_seed(2)
    genomes = _random_genomes(4)
    nets, model = _group(genomes, TINY)
    G = len(genomes)
    batches = [
        (torch.randn(G, 8, 1, 8, 8, generator=gen, dtype=torch.float64), torch.randint(0, 10, (G, 8), generator=gen))
        for _ in range(4)
    ]
    _train_both(nets, model, batches, per_individual=True)
    _assert_same(nets, model, torch.randn(16, 1, 8, 8, generator=gen, dtype=torch.float64), 1e-9, 1e-10)


def test_random_group_of_the_paper_space_with_stem_and_two_hidden_layers():
    config = NetworkConfig(
        name="t", in_channels=3, image_size=16, num_classes=5, stem=((4, 1),), widths=(4, 6, 8), fc=(12, 7), dropout=0.0
    )
    genomes = _random_genomes(5, seed=3)
    nets, model = _group(genomes, config)
    gen = torch.Generator().manual_seed(3)
    batches = [
        (torch.randn(8, 3, 16, 16, generator=gen, dtype=torch.float64), torch.randint(0, 5, (8,), generator=gen))
        for _ in range(3)
    ]
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
    # With per-individual streams: equal states give equal masks, and the caller's stream is untouched.
    from genet_lab.training.batched import RngStreams

    torch.manual_seed(5)
    state = torch.get_rng_state()
    model.rng_streams = RngStreams([state, state, torch.manual_seed(6).get_state()])
    outer = torch.get_rng_state()
    model(torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(torch.get_rng_state(), outer)
    kept = seen["out"] != 0
    assert torch.equal(kept[0], kept[1]) and not torch.equal(kept[0], kept[2])


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
        for name, p in nets[g].named_parameters():
            mine = model.get_parameter(name).grad
            torch.testing.assert_close(model._slice(mine, p, g), p.grad, rtol=1e-9, atol=1e-12, msg=name)


def test_group_rejects_mixed_stage_sizes_and_empty_groups():
    with pytest.raises(ValueError, match="share stage sizes"):
        BatchedGeNet([resolve("chain"), resolve("chain", stages=(3, 4))], TINY)
    with pytest.raises(ValueError, match="at least one"):
        BatchedGeNet([], TINY)


# -- train_population: the evaluator -------------------------------------------------------------------

import genet_lab.training.autotune as autotune  # noqa: E402
import genet_lab.training.population as bt  # noqa: E402
from genet_lab.training.trainer import default_train_config, train_genome, train_model  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path))
    autotune._PROBES.clear()


def _setup(data, **kw):
    net = replace(get_preset("paper-cifar10"), dropout=0.0).with_input(
        data.in_channels, data.image_size, data.num_classes
    )
    cfg = default_train_config(
        "digits", **{**dict(epochs=2, batch_size=32, precision="fp32", channels_last="off", device="cpu"), **kw}
    )
    return net, cfg


@pytest.fixture
def f64():
    """Float64 end to end (the trainer's normalisation follows the default dtype): then the
    batched and the single trainer agree to the last bits, and any gap would be a real bug."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _compare(batched, loop, genomes, rtol=1e-9, atol=1e-10):
    """Two lists of Trained (result, network) pairs: the same results and the same weights."""
    for g, ((b, b_model), (s, s_model)) in enumerate(zip(batched, loop)):
        assert b.failed == s.failed and b.error == s.error, (g, b.error, s.error)
        assert b.epochs_run == s.epochs_run
        assert [c["val_accuracy"] for c in b.curve] == [c["val_accuracy"] for c in s.curve], genomes[g]
        assert b.val_accuracy == s.val_accuracy
        if not s.failed:
            torch.testing.assert_close(
                torch.tensor([c["loss"] for c in b.curve]),
                torch.tensor([c["loss"] for c in s.curve]),
                rtol=rtol,
                atol=atol,
            )
            ref = s_model.state_dict()
            for name, value in b_model.state_dict().items():
                torch.testing.assert_close(value, ref[name], rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("seeds", ["own", "shared"])
def test_population_equals_train_genome_with_augmentation(digits, seeds, f64):
    net, cfg = _setup(digits, augment="crop", epochs=3, lr=0.05)  # crop on 8x8: each individual's generator
    genomes = MIX[:5]
    cfgs = [replace(cfg, seed=10 + i if seeds == "own" else 7) for i in range(len(genomes))]
    batched = bt.train_models(genomes, net, digits, cfgs, mode="batched")
    loop = [train_model(g, net, digits, c) for g, c in zip(genomes, cfgs)]
    assert batched[0].model.classifier[-1].weight.dtype == torch.float64
    _compare(batched, loop, genomes)
    assert max(t.result.val_accuracy for t in batched) > 0.2  # twice chance (0.1) after 21 steps


def test_population_matches_train_genome_in_float32_up_to_rounding(digits):
    # One epoch: float32 rounding differences grow with every step of SGD (a deep chain with
    # BN over 8 channels amplifies them to a few % of a weight within 3 epochs; float64 above
    # shows they are rounding, not a difference in what is computed).
    net, cfg = _setup(digits, epochs=1, lr=0.05)
    cfgs = [replace(cfg, seed=i) for i in range(len(MIX))]
    batched = bt.train_population(MIX, net, digits, cfgs, mode="batched")
    loop = [train_genome(g, net, digits, c) for g, c in zip(MIX, cfgs)]
    for b, s in zip(batched, loop):
        assert abs(b.val_accuracy - s.val_accuracy) <= 1.5 / 120
        assert b.final_loss == pytest.approx(s.final_loss, rel=1e-4)


def test_population_with_dropout_draws_the_masks_a_lone_run_draws(digits, f64):
    net = get_preset("paper-cifar10").with_input(digits.in_channels, digits.image_size, digits.num_classes)
    assert net.dropout == 0.5
    _, cfg = _setup(digits, epochs=2, lr=0.05, dropout=0.5)  # the fast recipe would switch it off
    genomes = MIX[:4]
    cfgs = [replace(cfg, seed=20 + i) for i in range(len(genomes))]
    batched = bt.train_models(genomes, net, digits, cfgs, mode="batched")
    loop = [train_model(g, net, digits, c) for g, c in zip(genomes, cfgs)]
    assert [m.p for m in loop[0].model.modules() if isinstance(m, torch.nn.Dropout)] == [0.5]
    _compare(batched, loop, genomes)


def test_population_with_a_weight_average_equals_train_genome(digits, f64):
    net, cfg = _setup(digits, epochs=2, lr=0.05, ema=0.9)
    genomes = MIX[:3]
    cfgs = [replace(cfg, seed=30 + i) for i in range(len(genomes))]
    batched = bt.train_models(genomes, net, digits, cfgs, mode="batched")
    loop = [train_model(g, net, digits, c) for g, c in zip(genomes, cfgs)]
    _compare(batched, loop, genomes)
    # the average is what was validated and handed back: not the last step's weights
    plain = train_model(genomes[0], net, digits, replace(cfgs[0], ema=0.0))
    assert not torch.equal(plain.model.classifier[-1].weight, loop[0].model.classifier[-1].weight)


def test_a_diverging_individual_fails_alone_as_it_would_alone(digits, monkeypatch, f64):
    net, cfg = _setup(digits)
    genomes = MIX[:3]
    real = build_network

    def poisoned(genome, config):  # genome 1 starts with a NaN head: its loss is NaN at once
        model = real(genome, config)
        if genome == genomes[1]:
            with torch.no_grad():
                model.classifier[-1].bias.fill_(float("nan"))
        return model

    monkeypatch.setattr(bt, "build_network", poisoned)
    monkeypatch.setattr("genet_lab.training.trainer.build_network", poisoned)
    cfgs = [replace(cfg, seed=i) for i in range(3)]
    batched = bt.train_models(genomes, net, digits, cfgs, mode="batched")
    loop = [train_model(g, net, digits, c) for g, c in zip(genomes, cfgs)]
    assert [t.result.failed for t in batched] == [False, True, False]
    assert batched[1].result.val_accuracy == 0.0 and batched[1].result.error.startswith("diverged")
    _compare(batched, loop, genomes)


def test_cancel_progress_and_mixed_stage_sizes(digits):
    net, cfg = _setup(digits, epochs=1)
    genomes = [resolve("chain"), resolve("dense", stages=(3, 4)), resolve("paper-best")]
    seen = []
    res = bt.train_population(
        genomes, net, digits, cfg, progress=lambda g, p: seen.append((g, p.epoch)), mode="batched"
    )
    assert not any(r.failed for r in res) and [r.params for r in res] == [
        count for count in (sum(p.numel() for p in build_network(g, net).parameters()) for g in genomes)
    ]
    assert {g for g, e in seen if e == 1} == {0, 1, 2}
    calls = []
    cancelled = bt.train_population(
        genomes[::2], net, digits, cfg, mode="batched", should_stop=lambda: calls.append(1) or len(calls) > 2
    )
    assert [(r.failed, r.error) for r in cancelled] == [(True, "cancelled")] * 2


def test_every_trainer_numbers_progress_alike(digits):
    """One TrainProgress numbering for train_genome and train_population, batched or a loop."""
    net, cfg = _setup(digits, epochs=2)  # 240 images in batches of 32: 7 steps an epoch
    genomes = MIX[:2]
    cfgs = [replace(cfg, seed=i) for i in range(len(genomes))]

    def key(p):
        return p.epoch, p.epochs, p.step, p.steps, p.val_accuracy is None

    lone = []
    for g, c in zip(genomes, cfgs):
        seen = []
        train_genome(g, net, digits, c, progress=lambda p, seen=seen: seen.append(key(p)))
        lone.append(seen)
    # 1-based: six reports during each epoch, one after its validation
    assert [e for e, *_ in lone[0]] == [1] * 7 + [2] * 7
    assert [s for _, _, s, *_ in lone[0]] == list(range(1, 15)) and lone[0][-1][3] == 14
    assert [v for *_, v in lone[0]] == ([True] * 6 + [False]) * 2
    for mode in ("batched", "loop"):
        got: dict[int, list] = {g: [] for g in range(len(genomes))}
        bt.train_population(genomes, net, digits, cfgs, progress=lambda g, p, got=got: got[g].append(key(p)), mode=mode)
        assert [got[g] for g in range(len(genomes))] == lone, mode


@pytest.mark.parametrize(
    "oom",
    [
        lambda: torch.OutOfMemoryError("pretend"),
        lambda: RuntimeError(
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 91268055040 bytes. Error code 12"
        ),
    ],
    ids=["cuda", "cpu"],
)
def test_oom_halves_the_group_and_memory_budget_cuts_it(digits, monkeypatch, f64, oom):
    net, cfg = _setup(digits, epochs=1)
    genomes = _random_genomes(5, seed=5)
    cfgs = [replace(cfg, seed=i) for i in range(5)]
    real, sizes = bt.train_group, []

    def small_memory(genomes, *a, **k):
        sizes.append(len(genomes))
        if len(genomes) > 2:
            raise oom()
        return real(genomes, *a, **k)

    monkeypatch.setattr(bt, "train_group", small_memory)
    split = bt.train_models(genomes, net, digits, cfgs, mode="batched")
    assert sizes == [5, 2, 3, 1, 2] or sizes[:2] == [5, 2]
    _compare(split, [train_model(g, net, digits, c) for g, c in zip(genomes, cfgs)], genomes)
    per = bt.estimate_bytes(genomes[0], net, cfg.batch_size)
    monkeypatch.setattr(bt, "memory_budget", lambda device: 2 * per)
    plan = bt.plan_population(genomes, net, cfg, torch.device("cpu"), mode="batched")
    assert plan.group_size == 2


def test_auto_plan_is_measured_once_then_cached(digits):
    net, cfg = _setup(digits)
    genomes = _random_genomes(4, seed=6)
    first = bt.plan_population(genomes, net, cfg, torch.device("cpu"))
    assert first.measured and first.mode in ("batched", "loop")
    assert first.loop_step_s > 0 and first.batched_step_s > 0
    assert (first.mode == "batched") == (first.loop_step_s >= bt.BATCH_MARGIN * first.batched_step_s)
    again = bt.plan_population(genomes, net, cfg, torch.device("cpu"))
    assert not again.measured and again.mode == first.mode
    autotune._PROBES.clear()  # from the disk cache in a fresh process
    assert bt.plan_population(genomes, net, cfg, torch.device("cpu")).mode == first.mode


def test_population_rejects_configs_that_differ_beyond_the_seed(digits):
    net, cfg = _setup(digits)
    with pytest.raises(ValueError, match="only in their seed"):
        bt.train_population(MIX[:2], net, digits, [cfg, replace(cfg, lr=0.5)])
    with pytest.raises(ValueError, match="one per genome"):
        bt.train_population(MIX[:2], net, digits, [cfg])
    with pytest.raises(ValueError, match="population mode"):
        bt.train_population(MIX[:2], net, digits, cfg, mode="fast")
