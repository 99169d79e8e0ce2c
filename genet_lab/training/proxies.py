"""Zero-cost proxies: scores of an untrained network, computed at initialisation on one minibatch.

Each proxy is a function of a built module and a batch (so the tests check it on tiny networks
by hand), and :func:`score` builds a genome's GeNet the way its method's paper scores it. Higher
is better for every proxy. Dropout is off in all of them (the reference networks have none; it
would only add noise); the weights are torch's default initialisation under ``seed``.

* ``synflow`` - Tanaka, Kunin, Yamins, Ganguli, NeurIPS 2020, as a proxy in Abdelfattah et al.,
  "Zero-Cost Proxies for Lightweight NAS", ICLR 2021: BatchNorm removed (the reference code's
  ``bn=False``), float64, every parameter replaced by its absolute value, one all-ones image;
  R = the sum of the outputs; the score is the sum over convolution and linear weights of
  |theta * dR/dtheta|. Data-free: only the images' shape is used.
* ``snip`` - Lee, Ajanthan, Torr, ICLR 2019: the sum over convolution and linear weights of
  |theta * dL/dtheta|, L the mean cross-entropy of the minibatch; BatchNorm in training mode
  (batch statistics), as the zero-cost reference code.
* ``grad_norm`` - Abdelfattah et al. 2021: the sum over convolution and linear layers of the L2
  norm of dL/dW (each layer's norm, then summed, as their code); BatchNorm in training mode.
* ``jacob_cov`` - Mellor, Turner, Storkey, Crowley, arXiv 2006.04647v1 (NASWOT's first version):
  J_i = d(sum_c f_c(x_i))/dx_i per image, S = corrcoef(J), score = -sum_j [log(l_j + k) +
  1/(l_j + k)] over the eigenvalues l_j of S, k = 1e-5; BatchNorm in training mode. NaN where S
  is undefined (an image whose Jacobian is constant).
* ``naswot`` - Mellor et al., ICML 2021: log|K_H|, K_H = c c^T + (1 - c)(1 - c)^T summed over the
  binary codes c of every ReLU; BatchNorm in training mode, as their code; -inf when singular.

Importing this module imports no torch (a search config checks a ``proxy:NAME`` against
:data:`PROXIES`); the scores import it when called. Knows networks and data splits; nothing of
tables, evolution or front ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from genet_lab.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from genet_lab.encoding.genome import Genome
    from genet_lab.encoding.presets import NetworkConfig

__all__ = [
    "FITNESSES",
    "FITNESS_PREFIX",
    "PROXIES",
    "UNITS",
    "fitness_proxy",
    "grad_norm",
    "jacob_cov",
    "minibatch",
    "naswot",
    "prepare",
    "score",
    "snip",
    "synflow",
]

PROXIES: dict[str, str] = {
    "synflow": "synaptic flow of |weights| on an all-ones image, BatchNorm removed (Tanaka et al. 2020)",
    "snip": "sum |w * dL/dw| on one minibatch (Lee et al. 2019)",
    "grad_norm": "sum of the layers' gradient norms on one minibatch (Abdelfattah et al. 2021)",
    "jacob_cov": "spread of the input Jacobians' correlations (Mellor et al. 2020, v1)",
    "naswot": "log-det of the ReLU activation-pattern kernel (Mellor et al. 2021)",
}
"""Name -> what it measures, in the order they are listed."""
FITNESS_PREFIX = "proxy:"
FITNESSES = tuple(FITNESS_PREFIX + name for name in PROXIES)
"""The ``proxy:NAME`` fitness of every proxy."""
UNITS = {"proxy": "NASWOT score (no training)", **{f"{FITNESS_PREFIX}{n}": f"{n} score (no training)" for n in PROXIES}}
"""What a proxy fitness's value means, for labels (``proxy`` alone is NASWOT, the first proxy fitness)."""
JACOB_K = 1e-5


def fitness_proxy(fitness: str) -> str | None:
    """The proxy a fitness names (``proxy`` -> naswot, ``proxy:NAME`` -> NAME), None for another
    fitness; an unknown ``proxy:NAME`` is a :class:`ConfigError` listing the proxies."""
    if fitness == "proxy":
        return "naswot"
    if not isinstance(fitness, str) or not fitness.startswith(FITNESS_PREFIX):
        return None
    name = fitness[len(FITNESS_PREFIX) :]
    if name not in PROXIES:
        raise ConfigError("fitness", fitness, accepted=FITNESSES, what="proxy fitness")
    return name


# -- the scores, on any module ---------------------------------------------------------------------


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    from torch import nn

    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow(model: nn.Module, x: torch.Tensor) -> float:
    """Sum over convolution and linear weights of |theta * dR/dtheta|, R the summed output of the
    network with |parameters| on one all-ones image of ``x``'s shape, in float64. The caller removes
    BatchNorm (:func:`prepare` does); ``model``'s parameters are replaced by their absolute values."""
    import torch

    model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    model(ones).sum().backward()
    return _saliency(model)


def _saliency(model: nn.Module) -> float:
    """Sum over convolution and linear weights of |w * grad w|."""
    total = 0.0
    for m in _weighted_layers(model):
        w: torch.Tensor = m.weight  # type: ignore[assignment]
        assert w.grad is not None
        total += float((w * w.grad).detach().abs().sum())
    return total


def _loss_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    import torch.nn.functional as F

    model.zero_grad()
    F.cross_entropy(model(x), y).backward()


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over convolution and linear weights of |w * dL/dw|, L the mean cross-entropy of (x, y)."""
    _loss_backward(model, x, y)
    return _saliency(model)


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over convolution and linear layers of ||dL/dW||_2, L the mean cross-entropy of (x, y)."""
    _loss_backward(model, x, y)
    total = 0.0
    for m in _weighted_layers(model):
        w: torch.Tensor = m.weight  # type: ignore[assignment]
        assert w.grad is not None
        total += float(w.grad.norm())
    return total


def jacob_cov(model: nn.Module, x: torch.Tensor) -> float:
    """-sum [log(l + k) + 1/(l + k)] over the eigenvalues l of the correlation matrix of the
    per-image input Jacobians of the summed output (k = 1e-5); NaN where it is undefined."""
    import numpy as np
    import torch

    x = x.detach().clone().requires_grad_(True)
    model.zero_grad()
    out = model(x)
    out.backward(torch.ones_like(out))
    jac = x.grad.detach().flatten(1).double().cpu().numpy()  # type: ignore[union-attr]
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.corrcoef(jac)
    if not np.all(np.isfinite(corr)):
        return math.nan
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + JACOB_K) + 1.0 / (v + JACOB_K)))


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    """log|K_H| over the ReLU codes of batch ``x``; -inf when K_H is singular.

    K_H[i, j] counts the ReLU units on which images i and j agree (both active or both
    inactive), summed over every ``nn.ReLU`` of ``model``."""
    import torch
    from torch import nn

    n = x.shape[0]
    k = torch.zeros(n, n, dtype=torch.float64)

    def hook(_module: Any, _inp: Any, out: Any) -> None:
        c = (out.detach() > 0).flatten(1).to(torch.float64).cpu()
        k.add_(c @ c.T + (1.0 - c) @ (1.0 - c).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if sign > 0 else -math.inf


# -- a genome's score ---------------------------------------------------------------------------------

_SCORES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "synflow": lambda model, x, _y: synflow(model, x),  # data-free: x's shape only
    "snip": snip,
    "grad_norm": grad_norm,
    "jacob_cov": lambda model, x, _y: jacob_cov(model, x),
    "naswot": lambda model, x, _y: naswot(model, x),
}


def prepare(name: str, genome: Genome, net_config: NetworkConfig, seed: int) -> nn.Module:
    """The freshly initialised GeNet of ``genome`` (weights from ``seed``) in the mode proxy
    ``name`` scores it in: without BatchNorm and in eval mode for synflow, else BatchNorm on
    batch statistics (training mode); dropout off in every case."""
    import torch
    from torch import nn

    from genet_lab.training.network import build_network

    if name not in PROXIES:
        raise ConfigError("proxy", name, accepted=PROXIES, what="proxy")
    torch.manual_seed(int(seed))
    if name == "synflow":
        return build_network(genome, net_config, norm_layer=lambda _c: nn.Identity()).eval()
    model = build_network(genome, net_config).train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    return model


def score(name: str, genome: Genome, net_config: NetworkConfig, x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    """Proxy ``name`` of ``genome``'s GeNet under ``net_config``, initialised with ``seed``, on the
    minibatch (``x`` normalised images, ``y`` labels); see the module docstring for each mode."""
    return _SCORES[name](prepare(name, genome, net_config, seed), x, y)


def minibatch(data: Any, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images (normalised as the trainer normalises them) and their labels, drawn
    from ``data`` (a :class:`~genet_lab.training.data.DataSplits`) by a ``seed``-ed permutation."""
    import torch

    from genet_lab.training.batches import to_device

    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(len(data.train_x), generator=g)[: max(1, int(n))]
    x = to_device(data.train_x[idx], data.mean, data.std, torch.device("cpu"), channels_last=False)
    return x, data.train_y[idx].long()
