"""What the reports compute from a run's individuals: statistics, Figure 4's points, Pareto fronts.

Pure functions over :class:`~genet_lab.evolution.records.Individual` records (or plain
numbers), so the report, the TUI and the notebook widgets draw the same data and a test
can check it without a figure:

* :func:`single_stats`: per-generation statistics of single evaluations (each training on
  its own, not the fitness averaged over a genome's occurrences);
* :func:`averaged_table`: Table 1 recomputed from stored evaluations, of validation or test
  accuracy, averaged over occurrences as selection's fitness is (test accuracy is never
  seen by selection: this is where it is turned into Table 1);
* :func:`figure4_points`: the paper's Figure 4 (first parent, second parent, child);
* :func:`pareto_front` and :func:`pareto`: accuracy against parameters and multiply-adds,
  the non-dominated structures marked.

Knows the records only: no torch, no matplotlib, no SQL.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from genet_lab.evolution.records import Individual

SOURCES = ("validation", "test")
"""Which accuracy of an evaluation: its validation accuracy (the fitness) or its test accuracy."""
COSTS = ("params", "macs")


def _value(ind: Individual, source: str) -> float | None:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return ind.accuracy if source == "validation" else ind.test_accuracy


def _finished(ind: Individual) -> bool:
    return ind.state in ("done", "failed")


def stats(gen: int, values: Sequence[float], genomes: Sequence[str]) -> dict[str, Any]:
    """Table 1's columns of ``values`` (std over the population, ddof=0) plus ``n``."""
    best = max(range(len(values)), key=lambda k: values[k])
    return {
        "gen": gen,
        "n": len(values),
        "max": max(values),
        "min": min(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "std": statistics.pstdev(values),
        "best": genomes[best],
    }


def _by_gen(inds: Iterable[Individual]) -> dict[int, list[Individual]]:
    out: dict[int, list[Individual]] = {}
    for i in inds:
        out.setdefault(i.gen, []).append(i)
    return dict(sorted(out.items()))


def single_stats(inds: Iterable[Individual], source: str = "validation") -> list[dict[str, Any]]:
    """Per generation, statistics over single trainings: every finished evaluation that was
    trained (not copied with ``reuse_structures``) and has a ``source`` accuracy."""
    out = []
    for gen, rows in _by_gen(inds).items():
        picked = [(v, i.genome) for i in rows if _finished(i) and not i.reused and (v := _value(i, source)) is not None]
        if picked:
            out.append(stats(gen, [v for v, _ in picked], [g for _, g in picked]))
    return out


def averaged_table(inds: Iterable[Individual], source: str = "validation", by: str = "bits") -> list[dict[str, Any]]:
    """Table 1 of ``source`` accuracy: in generation t each individual counts the mean of every
    trained evaluation of the same ``by`` key (bits, or structure_key with ``reuse_structures``)
    in generations 0..t, as selection's fitness does; generations not yet finished are left out."""
    if by not in ("bits", "structure_key"):
        raise ValueError("group by bits or structure_key")
    seen: dict[str, list[float]] = {}
    out = []
    for gen, rows in _by_gen(inds).items():
        if not all(_finished(i) for i in rows):
            break
        for i in rows:
            v = _value(i, source)
            if not i.reused and v is not None:
                seen.setdefault(getattr(i, by), []).append(v)
        values = [(statistics.fmean(seen[k]), i.genome) for i in rows if (k := getattr(i, by)) in seen]
        if values:
            out.append(stats(gen, [v for v, _ in values], [g for _, g in values]))
    return out


# -- Figure 4 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParentChild:
    """One point of Figure 4 in the paper's layout."""

    gen: int
    index: int
    op: str
    """mutation or crossover."""
    first: float
    """x: the first parent's accuracy (its own evaluation in the previous generation)."""
    second: float
    """y: the second parent's accuracy; 0 for a mutation (the paper's dots on the horizontal axis)."""
    child: float
    """Dot size and colour: the child's own accuracy."""


def figure4_points(inds: Iterable[Individual], source: str = "validation") -> list[ParentChild]:
    """Figure 4's points: every finished child of a mutation or crossover that changed its first
    parent, with both parents evaluated (``source`` accuracy throughout)."""
    rows = list(inds)
    acc = {(i.gen, i.index): _value(i, source) for i in rows if _finished(i)}
    out = []
    for i in rows:
        if i.op not in ("mutation", "crossover") or not i.changed or not _finished(i):
            continue
        child = _value(i, source)
        parents = [v for p in i.parents if (v := acc.get((i.gen - 1, p))) is not None]
        if child is None or not parents or len(parents) != len(i.parents):
            continue
        second = parents[1] if i.op == "crossover" and len(parents) > 1 else 0.0
        out.append(ParentChild(i.gen, i.index, i.op, parents[0], second, child))
    return out


# -- Pareto ---------------------------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices (ascending) of the non-dominated ``(accuracy, cost)`` points: accuracy is maximised,
    cost minimised. Point j dominates i when it is at least as good in both and better in one;
    equal points do not dominate each other, so both stay on the front. O(n log n)."""
    order = sorted(range(len(points)), key=lambda k: (points[k][1], -points[k][0]))
    front: list[int] = []
    best = float("-inf")  # the highest accuracy at a strictly lower cost
    k = 0
    while k < len(order):
        cost = points[order[k]][1]
        group = []
        while k < len(order) and points[order[k]][1] == cost:
            group.append(order[k])
            k += 1
        top = points[group[0]][0]
        if top > best:
            front += [g for g in group if points[g][0] == top]
            best = top
    return sorted(front)


@dataclass(frozen=True)
class StructurePoint:
    """One evaluated structure (bit string) of a run, for the Pareto view."""

    genome: str
    accuracy: float
    """The mean of its trained evaluations (the copies' values when every one was reused)."""
    params: int | None
    macs: int | None
    evaluations: int
    test_accuracy: float | None = None
    """The mean of its test accuracies, when the run measured them."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def structure_points(inds: Iterable[Individual]) -> list[StructurePoint]:
    """Every evaluated bit string of a run once, in order of first appearance."""
    groups: dict[str, list[Individual]] = {}
    for i in inds:
        if _finished(i) and i.accuracy is not None:
            groups.setdefault(i.bits, []).append(i)
    out = []
    for rows in groups.values():
        trained = [i for i in rows if not i.reused] or rows
        tests = [i.test_accuracy for i in trained if i.test_accuracy is not None]
        out.append(
            StructurePoint(
                rows[0].genome,
                statistics.fmean(i.accuracy or 0.0 for i in trained),
                rows[0].params,
                rows[0].macs,
                len(trained),
                statistics.fmean(tests) if tests else None,
            )
        )
    return out


def front_of(points: Sequence[StructurePoint], cost: str) -> list[StructurePoint]:
    """The members of ``points`` on the accuracy / ``cost`` (params or macs) front, by cost."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
    known = [p for p in points if getattr(p, cost) is not None]
    members = [known[k] for k in pareto_front([(p.accuracy, float(getattr(p, cost))) for p in known])]
    return sorted(members, key=lambda p: (getattr(p, cost), -p.accuracy))


def pareto(points: Sequence[StructurePoint]) -> list[dict[str, Any]]:
    """``report --json``'s ``pareto`` list: one entry per structure on either front (genome,
    accuracy, params, macs, and ``fronts``: which of params / macs it is non-dominated on),
    ordered by parameters."""
    fronts = {cost: {p.genome for p in front_of(points, cost)} for cost in COSTS}
    out = []
    for p in points:
        on = [cost for cost in COSTS if p.genome in fronts[cost]]
        if on:
            out.append(
                {
                    "genome": p.genome,
                    "accuracy": p.accuracy,
                    "params": p.params,
                    "macs": p.macs,
                    "test_accuracy": p.test_accuracy,
                    "fronts": on,
                }
            )
    return sorted(out, key=lambda e: (e["params"] is None, e["params"] or 0, -e["accuracy"]))
