"""What selection maximises (:attr:`genet_lab.evolution.config.SearchConfig.objective`): accuracy,
or accuracy minus a multiple of log10 of the parameters or multiply-adds. A small fixed grammar,
never evaluated as an expression. Plain Python: no numpy, no torch.
"""

from __future__ import annotations

import math

from genet_lab.errors import ConfigError

MAX_LAMBDA = 1000.0
"""The largest LAMBDA accepted: at 1000 one decade of parameters outweighs ten times the whole
accuracy scale (0-100), far beyond any useful trade-off, and the fitness stays a finite number
(a LAMBDA of 1e308 made it -inf, which no statistic survives)."""

OBJECTIVE_HELP = (
    "accuracy (default), params:LAMBDA or macs:LAMBDA (accuracy - LAMBDA x log10(parameters or "
    f"multiply-adds), LAMBDA a number from 0 to {MAX_LAMBDA:g})"
)


def parse_objective(text: str) -> tuple[str, float]:
    """``accuracy`` -> ("accuracy", 0.0); ``params:0.5`` -> ("params", 0.5); ``macs:LAMBDA`` likewise.

    A small fixed grammar (never evaluated as an expression); anything else is a
    :class:`~genet_lab.errors.ConfigError` on ``objective`` saying what is accepted.
    """
    text = str(text).strip()
    if text == "accuracy":
        return "accuracy", 0.0
    kind, sep, value = text.partition(":")
    lam = None
    if sep and kind in ("params", "macs"):
        try:
            lam = float(value)
        except ValueError:
            lam = None
    if lam is None or not math.isfinite(lam) or not 0 <= lam <= MAX_LAMBDA:
        raise ConfigError(
            "objective", text, what="objective", template="unknown {what} {value!r}; use " + OBJECTIVE_HELP
        )
    return kind, lam


def normal_objective(text: str) -> str:
    """The objective as stored: ``accuracy`` or ``KIND:LAMBDA`` without spaces (``params:1``)."""
    kind, lam = parse_objective(text)
    number = repr(lam)
    return kind if kind == "accuracy" else f"{kind}:{number[:-2] if number.endswith('.0') else number}"


def apply_objective(objective: str, accuracy: float, params: int | None, macs: int | None) -> float:
    """The selection fitness of an (averaged) accuracy under ``objective`` (see :func:`parse_objective`)."""
    kind, lam = parse_objective(objective)
    if kind == "accuracy" or lam == 0.0:
        return float(accuracy)
    cost = params if kind == "params" else macs
    if cost is None or cost < 1:
        raise ValueError(f"objective {objective!r} needs the {kind} of every individual, got {cost!r}")
    fitness = float(accuracy) - lam * math.log10(cost)
    if not math.isfinite(fitness):
        raise ValueError(
            f"objective {objective!r} gives a fitness of {fitness} for accuracy {accuracy!r}: not a number"
        )
    return fitness
