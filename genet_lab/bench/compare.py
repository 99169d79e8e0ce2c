"""How good the structures returned by repeated searches on a table are: the metrics of ``bench compare``.

A search's :class:`Outcome` names the structure it returned (its best by observed fitness), the
fitness it was returned with, the evaluations it used and its anytime curve. Against the table's
ground truth (each structure's mean over its recorded seeds) :func:`summarize` reports, per
strategy, over its repeats:

* ``true``: the table mean of the returned structure (not the lucky observed sample it won with);
* ``regret``: the table's best mean minus ``true``;
* ``percentile``: the percent of the table's structures with a strictly lower mean;
* ``top1``: P(the returned structure is in the top 1%), the top 1% being the ``ceil(n / 100)``
  best means (ties at the cut included: a structure whose rank, ties sharing the best rank, is at
  most that count);
* ``curse``: the winner's curse, observed fitness minus ``true``;
* ``anytime``: at evaluations x on a grid, the table mean of the best-so-far (the structure a
  search stopped after x evaluations would return; known once a generation is finished);
* ``versus``: the strategy's mean regret minus the first strategy's (independent repeats: the
  interval's half-width is 1.96 sqrt(sd1^2 / R1 + sd2^2 / R2); None for the first itself).

95% confidence intervals: normal for means (mean +- 1.96 sd / sqrt(R), sd with ddof 1), Wilson
score for the proportion ``top1``. Knows the table only: the searches themselves are the evolution
layer's (:mod:`genet_lab.evolution.repeats`); matplotlib is imported only to draw.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genet_lab.bench.table import shared_entries
from genet_lab.errors import ConfigError

__all__ = [
    "Z95",
    "Outcome",
    "Scores",
    "anytime_figure",
    "difference",
    "mean_ci",
    "summarize",
    "top_count",
    "truth_means",
    "wilson",
]

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95% interval."""


@dataclass
class Outcome:
    """What one search returned: the table entry (index into ``table.entries``; -1 for none), the
    fitness it was returned with, the trained evaluations used, its bits and its anytime curve."""

    entry: int
    observed: float
    evaluations: int
    bits: str
    curve: list[tuple[int, float]] = field(default_factory=list)
    """(trained evaluations so far, table mean of the best so far) at the end of each generation."""


def top_count(n: int) -> int:
    """How many structures the top 1% of ``n`` holds: ``ceil(n / 100)``, at least 1."""
    return max(1, math.ceil(n / 100))


class Scores:
    """Each entry's table mean, percentile, rank and top-1% membership, computed once."""

    def __init__(self, means: Sequence[float] | np.ndarray):
        self.means = np.asarray(means, dtype=np.float64)
        if self.means.size < 1:
            raise ValueError("a table with no structure has nothing to compare against")
        ordered = sorted(self.means.tolist())
        n = len(ordered)
        self.best = ordered[-1]
        self.percentile = np.array([100.0 * bisect.bisect_left(ordered, m) / n for m in self.means])
        self.rank = np.array([n - bisect.bisect_right(ordered, m) + 1 for m in self.means])
        self.top = self.rank <= top_count(n)

    def regret(self, outcomes: Sequence[Outcome]) -> np.ndarray:
        """The best mean minus the mean of each outcome's structure."""
        return self.best - self.means[[o.entry for o in outcomes]]

    @classmethod
    def of(cls, table: Any) -> Scores:
        return cls([e.mean for e in table.entries])


def mean_ci(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Mean, its normal 95% interval (None with fewer than two values), sd and count; NaNs left out."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"mean": None, "low": None, "high": None, "sd": None, "n": 0}
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "low": None, "high": None, "sd": None, "n": 1}
    sd = float(v.std(ddof=1))
    half = Z95 * sd / math.sqrt(v.size)
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd, "n": int(v.size)}


def wilson(k: int, n: int) -> dict[str, Any]:
    """The proportion ``k / n`` with its Wilson score 95% interval."""
    if n < 1:
        return {"p": None, "low": None, "high": None, "k": k, "n": n}
    p, z2 = k / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return {"p": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half), "k": k, "n": n}


def difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Mean of ``a`` minus mean of ``b`` (independent samples) with its normal 95% interval."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return {"mean": d, "low": None, "high": None}
    half = Z95 * math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    return {"mean": d, "low": d - half, "high": d + half}


def grid(budget: int, points: int = 50) -> list[int]:
    """Evaluation counts at which the anytime curves are read: ``points`` steps up to ``budget``."""
    return sorted({max(1, round(budget * k / points)) for k in range(1, points + 1)})


def _at(curve: Sequence[tuple[int, float]], xs: Sequence[int]) -> list[float]:
    """The curve's value at each x (the last point at or before x; NaN before the first)."""
    counts = [c for c, _ in curve]
    out = []
    for x in xs:
        k = bisect.bisect_right(counts, x)
        out.append(curve[k - 1][1] if k else float("nan"))
    return out


def truth_means(table: Any, truth: Any) -> np.ndarray:
    """The mean in table ``truth`` of each entry of ``table``, by structure key: the truth of a
    search on ``table`` judged by another fidelity of its space. A :class:`ConfigError` where the
    spaces differ or ``truth`` lacks a structure (a partial table)."""
    idx, means = shared_entries(table, truth, "truth")
    if len(idx) < len(table.entries):
        missing = len(table.entries) - len(idx)
        raise ConfigError(
            "truth",
            truth.name,
            template=f"{{option}} table {{value}} lacks {missing} of table {table.name}'s {len(table.entries)} "
            "structures; a truth needs every structure's mean",
        )
    return np.asarray(means, dtype=np.float64)


def strategy_summary(
    scores: Scores, outcomes: Sequence[Outcome], xs: Sequence[int], own: np.ndarray | None = None
) -> dict[str, Any]:
    """The metrics of one strategy's repeats (see the module docstring); ``own``: each entry's mean
    in the table searched, where ``scores`` are another table's (the winner's curse compares an
    observed fitness with its own fidelity's mean)."""
    if not outcomes:
        raise ValueError("no outcome to summarise")
    entries = np.array([o.entry for o in outcomes])
    if np.any(entries < 0):
        raise ValueError("a search returned no structure of the table")
    true = scores.means[entries]
    observed = np.array([o.observed for o in outcomes], dtype=np.float64)
    curves = np.array([_at(o.curve, xs) for o in outcomes], dtype=np.float64)
    anytime = [mean_ci(curves[:, j]) for j in range(len(xs))]
    return {
        "repeats": len(outcomes),
        "true": mean_ci(true),
        "regret": mean_ci(scores.best - true),
        "percentile": mean_ci(scores.percentile[entries]),
        "top1": wilson(int(scores.top[entries].sum()), len(outcomes)),
        "curse": mean_ci(observed - (true if own is None else own[entries])),
        "observed": mean_ci(observed),
        "evaluations": mean_ci([o.evaluations for o in outcomes]),
        "anytime": {
            "evaluations": list(xs),
            "true": [a["mean"] for a in anytime],
            "low": [a["low"] for a in anytime],
            "high": [a["high"] for a in anytime],
            "n": [a["n"] for a in anytime],
        },
    }


def summarize(
    table: Any, results: Mapping[str, Sequence[Outcome]], budget: int, points: int = 50, truth: Any = None
) -> dict[str, Any]:
    """Every strategy's metrics on ``table`` (a loaded table), with the table's facts and the
    method; judged by table ``truth``'s means where given (another fidelity of the space)."""
    own = np.asarray([e.mean for e in table.entries], dtype=np.float64)
    scores = Scores(truth_means(table, truth)) if truth is not None else Scores(own)
    judge = truth if truth is not None else table
    xs = grid(budget, points)
    strategies = {name: strategy_summary(scores, outs, xs, own) for name, outs in results.items()}
    first = next(iter(results), None)
    for name, outs in results.items():
        regret = scores.regret(outs)
        base = scores.regret(results[first]) if first else regret
        strategies[name]["versus"] = {"strategy": first, "regret": None if name == first else difference(regret, base)}
    return {
        "table": table.name,
        "truth": judge.name,
        "structures": len(table.entries),
        "best_mean": scores.best,
        "best": judge.best().genome.notation(),
        "top1_count": top_count(len(table.entries)),
        "budget": budget,
        "ci": "95%: normal (mean +- 1.96 sd/sqrt(R)) for means, Wilson score for P(top 1%)",
        "strategies": strategies,
    }


def anytime_figure(summary: Mapping[str, Any], path: str | Path) -> Path:
    """The anytime curves (table mean of the best-so-far against evaluations, 95% bands) as a PNG."""
    from matplotlib.figure import Figure  # not pyplot: no backend switch, a notebook keeps its inline plots

    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    for name, s in summary["strategies"].items():
        a = s["anytime"]
        x = np.array(a["evaluations"], dtype=float)
        y, lo, hi = (np.array([np.nan if v is None else v for v in a[k]], dtype=float) for k in ("true", "low", "high"))
        ax.plot(x, y, lw=1.5, label=f"{name} (regret {s['regret']['mean']:.2f})")
        ax.fill_between(x, lo, hi, alpha=0.2)
    ax.axhline(summary["best_mean"], color="k", lw=0.8, ls=":", label="table's best mean")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("table mean of the best so far (%)")
    r = next(iter(summary["strategies"].values()))["repeats"]
    judged = "" if summary.get("truth", summary["table"]) == summary["table"] else f", judged by {summary['truth']}"
    ax.set_title(f"{summary['table']}{judged}: {r} repeats per strategy, 95% CI")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
