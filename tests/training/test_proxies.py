"""Zero-cost proxies (genet_lab.training.proxies): each score on tiny networks against a value
computed by hand or directly, the mode each proxy builds a GeNet in, and determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genet_lab.encoding.genome import chain, parse
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import ConfigError
from genet_lab.training import proxies

DIGITS_NET = get_preset("paper-cifar10").with_input(1, 8, 10)


def _linear(rows: list[list[float]], bias: bool = False) -> nn.Linear:
    w = torch.tensor(rows, dtype=torch.float32)
    layer = nn.Linear(w.shape[1], w.shape[0], bias=bias)
    with torch.no_grad():
        layer.weight.copy_(w)
    return layer


def test_synflow_of_a_two_layer_linear_net_by_hand():
    w1 = [[1.0, -2.0], [0.5, 3.0], [-1.0, 1.0]]
    w2 = [[2.0, -1.0, 0.5]]
    net = nn.Sequential(_linear(w1), _linear(w2))
    # R = 1^T |W2| |W1| 1; each bias-free layer's sum of |theta dR/dtheta| is R (R is linear in
    # each layer's |weights|), so the score is 2R
    r = float((np.abs(w2) @ np.abs(w1) @ np.ones(2))[0])
    assert r == pytest.approx(2 * 3 + 1 * 3.5 + 0.5 * 2)
    assert proxies.synflow(net, torch.randn(5, 2)) == pytest.approx(2 * r)


def test_synflow_of_a_conv_net_is_layers_times_r():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(2, 3, 3, padding=1, bias=False),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 2, bias=False),
    )
    signed = [m.weight.detach().clone() for m in (net[0], net[2], net[4])]
    score = proxies.synflow(net, torch.randn(7, 1, 4, 4))
    # synflow left the net with |weights| in float64: R measured directly on it
    assert all(torch.equal(m.weight, w.abs().double()) for m, w in zip((net[0], net[2], net[4]), signed))
    with torch.no_grad():
        r = float(net(torch.ones(1, 1, 4, 4, dtype=torch.float64)).sum())
    # positive weights on a positive image keep every ReLU open: R is linear in each layer's
    # weights, so each of the three layers contributes R
    assert score == pytest.approx(3 * r, rel=1e-9)


def test_snip_equals_the_softmax_gradient_by_hand():
    w = np.array([[0.2, -0.4, 0.1], [-0.3, 0.5, 0.7]])
    x = np.array([[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.0, 1.0], [2.0, 1.0, 0.5]])
    y = np.array([0, 1, 1, 0])
    logits = x @ w.T
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    grad = (p - np.eye(2)[y]).T @ x / len(x)  # d mean cross-entropy / dW
    net = _linear(w.tolist())
    got = proxies.snip(net, torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    assert got == pytest.approx(float(np.abs(w * grad).sum()), rel=1e-5)


def test_grad_norm_equals_the_norms_computed_directly():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    x, y = torch.randn(6, 1, 6, 6), torch.tensor([0, 1, 2, 3, 0, 1])
    weights = [net[0].weight, net[3].weight]
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    direct = sum(float(g.norm()) for g in grads)
    assert proxies.grad_norm(net, x, y) == pytest.approx(direct, rel=1e-6)


def test_jacob_cov_of_a_linear_model_whose_jacobians_are_all_equal():
    # f(x) = w.x: every image's Jacobian is w, so the correlation matrix is all ones, whose
    # eigenvalues are N (once) and 0 (N - 1 times)
    n, k = 5, proxies.JACOB_K
    net = _linear([[1.0, -2.0, 0.5, 3.0]])
    expected = -(math.log(n + k) + 1 / (n + k) + (n - 1) * (math.log(k) + 1 / k))
    assert proxies.jacob_cov(net, torch.randn(n, 4)) == pytest.approx(expected, rel=1e-6)


def test_jacob_cov_of_orthogonal_jacobians_is_the_identitys():
    # image i's output is sum(x_i * m_i), so its Jacobian is row i of m: the correlations of m's rows
    class Masked(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
            return (x * m).sum(1, keepdim=True)

    k = proxies.JACOB_K
    corr_eig = np.linalg.eigvalsh(np.corrcoef(np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])))
    expected = -float(np.sum(np.log(corr_eig + k) + 1 / (corr_eig + k)))
    assert proxies.jacob_cov(Masked(), torch.randn(2, 4)) == pytest.approx(expected, rel=1e-6)


def test_jacob_cov_is_nan_when_a_jacobian_is_constant():
    net = nn.Sequential(nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(1.0)  # every Jacobian (1, 1, 1): no variance, no correlation
    assert math.isnan(proxies.jacob_cov(net, torch.randn(4, 3)))


def test_naswot_by_hand_and_singular():
    relu = nn.Sequential(nn.ReLU())
    # codes (1, 0) and (0, 1): the two images agree on no unit, each agrees with itself on 2
    assert proxies.naswot(relu, torch.tensor([[1.0, -1.0], [-1.0, 1.0]])) == pytest.approx(math.log(4))
    # codes (1, 0), (1, 1), (0, 0): K = [[2, 1, 1], [1, 2, 0], [1, 0, 2]], det 4
    x = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    k = np.array([[2, 1, 1], [1, 2, 0], [1, 0, 2]], dtype=float)
    assert proxies.naswot(relu, x) == pytest.approx(math.log(np.linalg.det(k)))
    assert proxies.naswot(relu, torch.tensor([[1.0, 1.0], [2.0, 3.0]])) == -math.inf  # equal codes


def test_prepare_builds_each_proxys_mode():
    g = parse("1-01 1-01 1-01-001", (3, 3, 4))
    syn = proxies.prepare("synflow", g, DIGITS_NET, 0)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in syn.modules()) and not syn.training
    for name in ("snip", "grad_norm", "jacob_cov", "naswot"):
        model = proxies.prepare(name, g, DIGITS_NET, 0)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        assert bns and all(m.training for m in bns)  # batch statistics
        assert drops and not any(m.training for m in drops)
    with pytest.raises(ConfigError, match="synflow"):
        proxies.prepare("bogus", g, DIGITS_NET, 0)


@pytest.mark.parametrize("name", list(proxies.PROXIES))
def test_scores_are_deterministic_for_a_seed(name):
    g = parse("1-00 0-11 1-01-011", (3, 3, 4))
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(16, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    a = proxies.score(name, g, DIGITS_NET, x, y, seed=5)
    b = proxies.score(name, g, DIGITS_NET, x, y, seed=5)
    c = proxies.score(name, g, DIGITS_NET, x, y, seed=6)
    assert a == b and math.isfinite(a)
    assert c != a  # another seed initialises other weights


def test_score_of_a_genome_is_the_function_on_the_prepared_net():
    g = chain((3, 3, 4))
    x, y = torch.randn(8, 1, 8, 8), torch.arange(8) % 10
    direct = proxies.grad_norm(proxies.prepare("grad_norm", g, DIGITS_NET, 2), x, y)
    assert proxies.score("grad_norm", g, DIGITS_NET, x, y, 2) == direct


def test_minibatch_is_seeded_and_normalised():
    from genet_lab.training.data import load_dataset

    data = load_dataset("digits", None, seed=0, with_test=False)
    x, y = proxies.minibatch(data, 32, 1)
    x2, y2 = proxies.minibatch(data, 32, 1)
    x3, _ = proxies.minibatch(data, 32, 2)
    assert x.shape == (32, 1, 8, 8) and torch.equal(x, x2) and torch.equal(y, y2) and not torch.equal(x, x3)
    assert abs(float(x.mean())) < 0.5 and y.dtype == torch.int64


def test_fitness_names():
    assert proxies.fitness_proxy("proxy") == "naswot"
    assert proxies.fitness_proxy("proxy:synflow") == "synflow"
    assert proxies.fitness_proxy("train") is None and proxies.fitness_proxy("table:x") is None
    with pytest.raises(ConfigError) as info:
        proxies.fitness_proxy("proxy:bogus")
    text = str(info.value)
    assert "\n" not in text and all(f"proxy:{n}" in text for n in proxies.PROXIES)


def test_importing_proxies_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, genet_lab.training.proxies; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
