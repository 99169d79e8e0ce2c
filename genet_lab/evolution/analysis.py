"""What the reports compute from a run's records: summaries, statistics, Figure 4's points,
parent against child, Pareto fronts, GA against random search.

Pure functions over :class:`~genet_lab.evolution.records.Individual` records (or plain
numbers), so the report, the TUI and the notebook widgets draw the same data and a test
can check it without a figure:

* :func:`summarize`: what ``report --json`` prints for one run;
* :func:`single_stats`: per-generation statistics of single evaluations (each training on
  its own, not the fitness averaged over a genome's occurrences);
* :func:`averaged_table`: Table 1 recomputed from stored evaluations, of validation or test
  accuracy, averaged over occurrences as selection's fitness is (the rule of
  :class:`~genet_lab.evolution.stats.Occurrences`; test accuracy is never seen by
  selection: this is where it is turned into Table 1);
* :func:`figure4_points`: the paper's Figure 4 (first parent, second parent, child);
* :func:`parent_child`: each changed child's own evaluation against its parents' fitness, with
  correlations (not a figure of the paper: how much of a parent's fitness a child keeps);
* :func:`pareto_front` and :func:`pareto`: accuracy against parameters and multiply-adds,
  the non-dominated structures marked;
* :func:`best_so_far` and :func:`compare`: GA against random search.

Table 1's columns are :func:`~genet_lab.evolution.stats.table1_stats`, as the engine's.
Knows the records only: no torch, no matplotlib, no SQL.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from genet_lab.evolution.config import UNITS, parse_objective
from genet_lab.evolution.records import GenerationStats, Individual, RunStatus
from genet_lab.evolution.stats import SOURCES, STAT_KEYS, Occurrences, finished, table1_stats, value_of

__all__ = [
    "COSTS",
    "SOURCES",
    "ParentChild",
    "ParentFitness",
    "StructurePoint",
    "averaged_table",
    "best_so_far",
    "compare",
    "figure4_points",
    "fitness_label",
    "front_of",
    "parent_child",
    "pareto",
    "pareto_front",
    "single_stats",
    "stats",
    "structure_points",
    "summarize",
    "trained",
]

COSTS = ("params", "macs")


def stats(gen: int, values: Sequence[float], genomes: Sequence[str]) -> dict[str, Any]:
    """Table 1's columns of ``values`` (:func:`~genet_lab.evolution.stats.table1_stats`) with
    the generation and ``n``, as the report lists them."""
    row = table1_stats(values, genomes)
    del row["best_index"]
    return {"gen": gen, "n": len(values), **row}


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
        picked = [
            (v, i.genome) for i in rows if finished(i) and not i.reused and (v := value_of(i, source)) is not None
        ]
        if picked:
            out.append(stats(gen, [v for v, _ in picked], [g for _, g in picked]))
    return out


def averaged_table(inds: Iterable[Individual], source: str = "validation", by: str = "bits") -> list[dict[str, Any]]:
    """Table 1 of ``source`` accuracy: in generation t each individual counts the mean of every
    trained evaluation of the same ``by`` key (bits, or structure_key with ``reuse_structures``)
    in generations 0..t, as selection's fitness does; generations not yet finished are left out."""
    seen = Occurrences(by, source)
    out = []
    for gen, rows in _by_gen(inds).items():
        if not all(finished(i) for i in rows):
            break
        seen.add(rows)
        values = [(v, i.genome) for i in rows if (v := seen.mean(i)) is not None]
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
    acc = {(i.gen, i.index): value_of(i, source) for i in rows if finished(i)}
    out = []
    for i in rows:
        if i.op not in ("mutation", "crossover") or not i.changed or not finished(i):
            continue
        child = value_of(i, source)
        parents = [v for p in i.parents if (v := acc.get((i.gen - 1, p))) is not None]
        if child is None or not parents or len(parents) != len(i.parents):
            continue
        second = parents[1] if i.op == "crossover" and len(parents) > 1 else 0.0
        out.append(ParentChild(i.gen, i.index, i.op, parents[0], second, child))
    return out


@dataclass(frozen=True)
class ParentFitness:
    """One changed child against its parents (not a figure of the paper)."""

    op: str
    """mutation or crossover."""
    parent: float
    """x: the parent's fitness (the mean of both parents' for a crossover)."""
    child: float
    """y: the child's own evaluation."""


def parent_child(inds: Iterable[Individual]) -> tuple[list[ParentFitness], dict[str, dict[str, Any]]]:
    """Every changed child of a mutation or crossover with an evaluation, against its parents'
    selection fitness; and per operator the count ``n`` and the correlation ``r`` (None for
    fewer than 3 points or a constant side)."""
    import numpy as np

    rows = list(inds)
    fit = {(i.gen, i.index): i.fitness for i in rows}
    points = []
    for i in rows:
        if i.op in ("mutation", "crossover") and i.changed and i.accuracy is not None and i.state != "pending":
            parents = [f for f in (fit.get((i.gen - 1, p)) for p in i.parents) if f is not None]
            if len(parents) == len(i.parents):
                points.append(ParentFitness(i.op, statistics.fmean(parents), i.accuracy))
    corr: dict[str, dict[str, Any]] = {}
    for op in ("mutation", "crossover"):
        xy = [(p.parent, p.child) for p in points if p.op == op]
        r = None
        if len(xy) >= 3:
            a = np.array(xy)
            r = float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]) if a[:, 0].std() > 0 and a[:, 1].std() > 0 else None
        corr[op] = {"n": len(xy), "r": r}
    return points, corr


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
        if finished(i) and i.accuracy is not None:
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


# -- a run's summary, GA against random search ----------------------------------------------------


def trained(inds: Iterable[Individual]) -> list[Individual]:
    """Finished evaluations that were trained (not copied from an identical structure)."""
    return [i for i in inds if finished(i) and not i.reused]


def _accuracy(ind: Individual) -> float:
    if ind.accuracy is None:
        raise ValueError(f"individual {ind.gen}:{ind.index} is {ind.state} but has no accuracy")
    return ind.accuracy


def fitness_label(cfg: Mapping[str, Any]) -> str:
    """What the stored (selection) fitness is: the unit, with the objective's penalty when there is one."""
    unit = UNITS.get(cfg["fitness"], cfg["fitness"])
    kind, lam = parse_objective(cfg.get("objective", "accuracy"))
    penalty = "" if kind == "accuracy" else f" - {lam:g} x log10({'parameters' if kind == 'params' else 'mult-adds'})"
    return f"{unit}{penalty}, averaged over occurrences"


def summarize(
    cfg: Mapping[str, Any], gens: Sequence[GenerationStats], inds: Sequence[Individual], status: RunStatus
) -> dict[str, Any]:
    """What ``report --json`` prints for one run (a JSON object: plain dicts and lists).

    ``generations`` is Table 1 of the fitness selection used, as stored; ``table1`` recomputes it
    per source (``validation``; ``test`` when the run measured test accuracy, else None);
    ``single_evaluations`` has the same columns over single trainings; ``pareto`` lists the
    structures on the accuracy / parameters and accuracy / multiply-adds fronts.
    """
    done = trained(inds)
    by = "structure_key" if cfg.get("reuse_structures") else "bits"
    has_test = any(i.test_accuracy is not None for i in done)
    return {
        "kind": cfg["kind"],
        "seed": cfg["seed"],
        "fitness": cfg["fitness"],
        "unit": UNITS.get(cfg["fitness"]),
        "objective": cfg.get("objective", "accuracy"),
        "fitness_label": fitness_label(cfg),
        "config": dict(cfg),
        "state": status.state,
        "generations": [{k: getattr(g, k) for k in STAT_KEYS} for g in gens],
        "table1": {
            "validation": averaged_table(inds, "validation", by),
            "test": averaged_table(inds, "test", by) if has_test else None,
        },
        "single_evaluations": {
            "validation": single_stats(inds, "validation"),
            "test": single_stats(inds, "test") if has_test else None,
        },
        "evaluations": len(done),
        "reused": sum(i.reused for i in inds),
        "failed": sum(i.state == "failed" for i in inds),
        "seconds": sum(i.seconds or 0.0 for i in done),
        "best": status.best,
        "best_fitness": status.best_fitness,
        "best_single": max((_accuracy(i) for i in done), default=None),
        "best_single_test": max((i.test_accuracy for i in done if i.test_accuracy is not None), default=None),
        "pareto": pareto(structure_points(inds)),
    }


def best_so_far(inds: Iterable[Individual]) -> list[tuple[int, float]]:
    """(trained evaluations so far, best single evaluation so far), in evaluation order."""
    out, best = [], float("-inf")
    for n, i in enumerate(trained(inds), 1):
        best = max(best, _accuracy(i))
        out.append((n, best))
    return out


def compare(items: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any] | None:
    """GA against random search over (run, :func:`summarize`) pairs, when both kinds are present:
    per-run bests, and on how many seeds GA's best single evaluation beats random search's
    (each random search paired with the randomly initialised GA run of the same seed)."""
    if {s["kind"] for _, s in items} != {"ga", "random"}:
        return None
    table = [
        {
            "run": run,
            "kind": s["kind"],
            "seed": s["seed"],
            "init": s["config"].get("init"),
            "evaluations": s["evaluations"],
            "best_single": s["best_single"],
            "best_fitness": s["best_fitness"],
            "best": s["best"],
            "final_mean": s["generations"][-1]["mean"] if s["generations"] else None,
        }
        for run, s in items
    ]
    ga = {t["seed"]: t for t in table if t["kind"] == "ga" and t["init"] == "random"}
    rnd = {t["seed"]: t for t in table if t["kind"] == "random"}
    # a run with nothing evaluated yet has no best: it is not paired
    pairs = [
        (ga[s], rnd[s])
        for s in sorted(set(ga) & set(rnd))
        if ga[s]["best_single"] is not None and rnd[s]["best_single"] is not None
    ]
    wins = sum(g["best_single"] > r["best_single"] for g, r in pairs)
    return {"runs": table, "paired_seeds": len(pairs), "ga_wins": wins}
