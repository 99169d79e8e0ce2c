"""The trainer: configs, schedules, augmentation, determinism, failure, cancellation, probe, progress."""

from __future__ import annotations

import math

import pytest
import torch

from genet_lab.encoding.genome import paper_best, resolve
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import ConfigError, UsageError
from genet_lab.training import autotune as A
from genet_lab.training import trainer as T
from genet_lab.training.batches import augment_batch, augmentation
from genet_lab.training.config import lr_factor
from genet_lab.training.data import load_dataset
from genet_lab.training.devices import parse_device, resolve_device
from genet_lab.training.network import build_network, count_parameters


def net_for(data):
    return get_preset("paper-cifar10").with_input(data.in_channels, data.image_size, data.num_classes)


def quick(**kw):
    base = dict(epochs=2, device="cpu", threads=1, precision="fp32", channels_last="off")
    return T.default_train_config("digits", **{**base, **kw})


def test_default_configs():
    d = T.default_train_config("digits")
    # the budget of the catalog, the same for train and evolve: 6 epochs at batch 32 on digits
    assert (d.epochs, d.batch_size, d.schedule, d.device, d.recipe) == (6, 32, "onecycle", "auto", "fast")
    assert T.default_train_config("fashion-mnist").batch_size == 32  # the small-batch rule of evolve
    c = T.default_train_config("cifar10", epochs=5)
    assert c.epochs == 5 and c.batch_size == 128
    full = T.default_train_config("cifar10", schedule="paper-full")
    assert (full.epochs, full.lr) == (240, 0.01)
    with pytest.raises(UsageError, match="unknown training option"):
        T.default_train_config("digits", epoch=3)
    for bad in (dict(lr=-1.0), dict(schedule="step"), dict(device="tpu"), dict(precision="fp8"), dict(epochs=0)):
        with pytest.raises(UsageError):
            T.default_train_config("digits", **bad)
    assert T.TrainConfig.from_dict(d.to_dict()) == d


def test_paper_schedule_as_is_and_scaled():
    at = lambda e, n, s="paper-full": lr_factor(s, e, n)  # noqa: E731
    assert [at(e, 240) for e in (0, 119.9, 120, 180, 220, 239)] == pytest.approx([1, 1, 0.1, 0.01, 0.001, 0.001])
    # scaled to 24 epochs: the same 120/60/40/20 proportions
    assert [at(e, 24, "paper") for e in (11.9, 12, 18, 22)] == pytest.approx([1, 0.1, 0.01, 0.001])
    assert lr_factor("cosine", 0, 10) == pytest.approx(0.1)
    assert lr_factor("cosine", 10, 10) == pytest.approx(0.0, abs=1e-9)
    assert lr_factor("constant", 7, 10) == 1.0


def test_recipes_are_what_their_configs_say():
    fast = T.default_train_config("digits")
    assert (fast.recipe, fast.schedule, fast.nesterov, fast.label_smoothing, fast.dropout) == (
        "fast",
        "onecycle",
        True,
        0.1,
        0.0,
    )
    paper = T.default_train_config("cifar10", recipe="paper", epochs=240)
    # Section 4.1.1: D0.5 after FC32, 1e-2 for 120 epochs, then 1e-3, 1e-4, 1e-5 for 60, 40, 20
    assert (paper.recipe, paper.schedule, paper.lr, paper.dropout, paper.label_smoothing, paper.nesterov) == (
        "paper",
        "paper",
        0.01,
        0.5,
        0.0,
        False,
    )
    lrs = [paper.lr * lr_factor(paper.schedule, e, paper.epochs) for e in range(240)]
    assert lrs == pytest.approx([1e-2] * 120 + [1e-3] * 60 + [1e-4] * 40 + [1e-5] * 20)
    assert T.default_train_config("cifar10", recipe="paper").epochs == 20  # the budget, scaled schedule
    assert T.default_train_config("cifar10", recipe="paper", schedule="paper-full").epochs == 240
    with pytest.raises(UsageError, match="unknown recipe 'slow'; accepted: fast, paper, legacy"):
        T.default_train_config("digits", recipe="slow")
    legacy = T.default_train_config("digits", recipe="legacy")
    assert (legacy.schedule, legacy.lr, legacy.dropout, legacy.nesterov) == ("cosine", 0.02, 0.5, False)
    for bad in (dict(label_smoothing=1.0), dict(dropout=-0.1), dict(nesterov=True, momentum=0.0)):
        with pytest.raises(UsageError):
            T.default_train_config("digits", **bad)


def test_onecycle_warms_up_over_a_quarter_then_decays_to_zero():
    f = [lr_factor("onecycle", e, 8) for e in (0, 1, 2, 4, 8)]
    assert f == pytest.approx([0.1, 0.55, 1.0, 2 / 3, 0.0])


@pytest.mark.parametrize("recipe, p", [("fast", 0.0), ("paper", 0.5)])
def test_the_trained_network_has_the_recipes_dropout(digits, recipe, p):
    cfg = T.default_train_config(
        "digits", recipe=recipe, epochs=1, device="cpu", threads=1, precision="fp32", channels_last="off"
    )
    _, model = T.train_model(paper_best(), net_for(digits), digits, cfg)
    drops = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops == [p]  # the one hidden layer of the paper-cifar10 head


def test_label_smoothing_changes_the_loss(digits):
    losses = [
        T.train_genome(paper_best(), net_for(digits), digits, quick(epochs=1, label_smoothing=ls)).final_loss
        for ls in (0.0, 0.3)
    ]
    assert losses[0] != losses[1]


def test_augment_batch_crops_and_flips():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    out = augment_batch(x, 2, False, g)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        windows = [padded[b, :, i : i + 6, j : j + 6] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) for w in windows)
    flipped = augment_batch(x, 0, True, torch.Generator().manual_seed(1))
    for b in range(2):
        assert torch.equal(flipped[b], x[b]) or torch.equal(flipped[b], x[b].flip(-1))


def test_auto_augmentation_rules(digits):
    cfg = quick()
    assert augmentation(cfg, digits) == (0, False)  # 8x8 digits: none
    assert augmentation(quick(augment="crop"), digits) == (1, False)
    big = load_dataset("digits", train_size=20)
    big.image_size, big.hflip = 32, True
    assert augmentation(cfg, big) == (4, True)


def test_train_reports_everything(digits):
    seen = []
    r = T.train_genome(paper_best(), net_for(digits), digits, quick(eval_test=True), progress=seen.append)
    assert not r.failed and r.error is None and r.epochs_run == 2
    assert 0.0 <= r.val_accuracy <= 1.0 and 0.0 <= r.test_accuracy <= 1.0
    assert r.params == count_parameters(build_network(paper_best(), net_for(digits)))
    assert [c["epoch"] for c in r.curve] == [1, 2] and r.curve[-1]["val_accuracy"] == r.val_accuracy
    assert r.images_per_second > 0 and r.seconds > 0 and math.isfinite(r.final_loss)
    steps = [p.step for p in seen]
    assert steps == sorted(steps) and seen[-1].step == seen[-1].steps and seen[-1].val_accuracy == r.val_accuracy
    # 1-based epochs (TrainProgress): the epoch in progress, then the epoch just validated
    assert seen[0].epoch == 1 and seen[0].val_accuracy is None
    assert [p.epoch for p in seen if p.val_accuracy is not None] == [1, 2]
    assert {p.epoch for p in seen} == {1, 2}
    d = r.to_dict()
    assert "model" not in d and d["device"] == "cpu" and d["precision"] == "fp32"


def test_learns_digits(digits):
    r = T.train_genome(paper_best(), net_for(digits), digits, quick(epochs=15, batch_size=16, lr=0.05))
    chance = 0.1
    assert r.val_accuracy > 3 * chance, r.curve  # 200 images, 15 short epochs (0.42 here): well above chance
    assert r.curve[-1]["loss"] < r.curve[0]["loss"]


def test_deterministic_on_cpu(digits):
    cfg = quick(augment="crop")
    a, a_model = T.train_model(paper_best(), net_for(digits), digits, cfg)
    b, b_model = T.train_model(paper_best(), net_for(digits), digits, cfg)
    assert a.curve == [dict(c, seconds=a.curve[i]["seconds"]) for i, c in enumerate(b.curve)]
    sa, sb = a_model.state_dict(), b_model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    c = T.train_genome(paper_best(), net_for(digits), digits, quick(augment="crop", seed=1))
    assert c.final_loss != a.final_loss


def test_diverging_run_fails_without_raising(digits):
    r = T.train_genome(resolve("chain"), net_for(digits), digits, quick(lr=1e12, epochs=3, schedule="constant"))
    assert r.failed and r.val_accuracy == 0.0 and r.test_accuracy is None
    assert r.error.startswith("diverged")
    assert not math.isfinite(r.final_loss)  # the loss that diverged is kept ...
    assert r.to_dict()["final_loss"] is None  # ... and written to JSON as null, never as NaN


def test_should_stop_cancels(digits):
    calls = []
    r = T.train_genome(
        paper_best(), net_for(digits), digits, quick(epochs=5), should_stop=lambda: calls.append(1) or len(calls) >= 3
    )
    assert r.failed and r.error == "cancelled" and r.val_accuracy == 0.0 and len(calls) == 3


def test_shape_mismatch_and_bad_device(digits):
    with pytest.raises(UsageError, match="with_input"):
        T.train_genome(paper_best(), get_preset("paper-cifar10"), digits, quick())
    with pytest.raises(ConfigError, match=r"^unknown device 'gpu'; accepted: auto, cpu, cuda, cuda:N, mps$"):
        parse_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device; use device cpu or auto") as info:
            resolve_device("cuda:0")
        assert info.value.format(lambda o: "--" + o) == (
            "device cuda:0 asked for, but torch sees no CUDA device; use --device cpu or auto"
        )
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")


def test_probe_measures_once_then_caches(digits, monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as train_genome(threads=1) would
    try:
        _probe_checks(digits, monkeypatch)
    finally:
        torch.set_num_threads(threads)


def _probe_checks(digits, monkeypatch):
    net = net_for(digits)
    model = build_network(paper_best(), net)
    cfg = quick(precision="auto", channels_last="auto", batch_size=16)
    prec, cl, times = A.choose_execution(model, digits.train_x[:1].float(), cfg, torch.device("cpu"), net)
    assert prec in ("fp32", "bf16") and isinstance(cl, bool)
    assert set(times) >= {"fp32/0", "fp32/1"} and all(v > 0 for v in times.values())
    monkeypatch.setattr(A, "_measure_execution", lambda *a: pytest.fail("measured twice"))
    assert A.choose_execution(model, digits.train_x[:1].float(), cfg, torch.device("cpu"), net)[:2] == (prec, cl)
    A._PROBES.clear()  # a new process reads the probe from the disk cache
    assert A.choose_execution(model, digits.train_x[:1].float(), cfg, torch.device("cpu"), net)[:2] == (prec, cl)
    # explicit settings never measure
    assert A.choose_execution(
        model, digits.train_x[:1].float(), quick(precision="bf16", channels_last="on"), torch.device("cpu"), net
    )[:2] == ("bf16", True)


def test_bf16_training_runs(digits):
    r = T.train_genome(paper_best(), net_for(digits), digits, quick(precision="bf16", epochs=1))
    assert not r.failed and r.precision == "bf16" and 0 <= r.val_accuracy <= 1


def test_thread_probe_measures_once(digits, monkeypatch):
    net = net_for(digits)
    cfg = quick(threads=0, batch_size=8)
    before = torch.get_num_threads()
    n = A.choose_threads(paper_best(), net, digits, cfg)
    assert n in (1, before) and torch.get_num_threads() == before
    monkeypatch.setattr(A, "_measure_threads", lambda *a: pytest.fail("measured twice"))
    A._PROBES.clear()  # read back from the disk cache
    assert A.choose_threads(paper_best(), net, digits, cfg) == n
    r = T.train_genome(paper_best(), net, digits, quick(threads=0, batch_size=8, epochs=1))
    assert not r.failed and torch.get_num_threads() == before
