"""Table 1's statistics and the averaging rule, once: used by the engine and by the reports.

* :func:`table1_stats`: the columns of the paper's Table 1 (max, min, mean, median, std, best)
  over one generation's values;
* :class:`Occurrences`: the averaging rule of section 3.2.4 ("the average accuracy over all
  its occurrences"): in generation t an individual counts the mean of every trained (not
  reused), finished evaluation of the same key (its bits, or its structure with
  ``reuse_structures``) in generations 0..t. The engine's fitness and the reports' Table 1 of
  validation or test accuracy are both this mean.

Knows the records only: no torch, no store, no matplotlib.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from genet_lab.evolution.records import Individual

__all__ = ["KEYS", "SOURCES", "STAT_KEYS", "Occurrences", "finished", "table1_stats", "value_of"]

STAT_KEYS = ("gen", "max", "min", "mean", "median", "std", "best")
"""Table 1's columns, as ``report --json`` and ``table1.csv`` name them."""

SOURCES = ("validation", "test")
"""Which accuracy of an evaluation: its validation accuracy (the fitness) or its test accuracy."""
KEYS = ("bits", "structure_key")
"""What evaluations are averaged over: the bit string, or the structure with ``reuse_structures``."""


def table1_stats(values: Sequence[float], genomes: Sequence[str]) -> dict[str, Any]:
    """Table 1's columns of ``values`` (std over the population, ddof=0); ``best`` is the genome
    of the first largest value, ``best_index`` its position."""
    best = max(range(len(values)), key=lambda k: values[k])
    return {
        "max": max(values),
        "min": min(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "std": statistics.pstdev(values),
        "best": genomes[best],
        "best_index": best,
    }


def value_of(ind: Individual, source: str = "validation") -> float | None:
    """An evaluation's ``source`` accuracy (None when it has none)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return ind.accuracy if source == "validation" else ind.test_accuracy


def finished(ind: Individual) -> bool:
    """Whether an individual's evaluation ended (done or failed)."""
    return ind.state in ("done", "failed")


class Occurrences:
    """The trained evaluations seen so far, grouped by key, and their means (the averaging rule).

    Add generations in order (:meth:`add`); :meth:`mean` is then what an individual of the last
    added generation counts."""

    def __init__(self, by: str = "bits", source: str = "validation"):
        if by not in KEYS:
            raise ValueError(f"group by {' or '.join(KEYS)}, got {by!r}")
        self.by, self.source = by, source
        self.groups: dict[str, list[float]] = {}

    def key(self, ind: Individual) -> str:
        return str(getattr(ind, self.by))

    def add(self, inds: Iterable[Individual]) -> Occurrences:
        """Count every finished, trained evaluation of ``inds`` that has a ``source`` accuracy."""
        for ind in inds:
            value = value_of(ind, self.source)
            if finished(ind) and not ind.reused and value is not None:
                self.add_value(self.key(ind), value)
        return self

    def add_value(self, key: str, value: float) -> None:
        self.groups.setdefault(key, []).append(value)

    def __contains__(self, key: object) -> bool:
        return key in self.groups

    def mean_of(self, key: str) -> float:
        return statistics.fmean(self.groups[key])

    def mean(self, ind: Individual) -> float | None:
        """The averaged value ``ind`` counts (None when its key has no trained evaluation yet)."""
        key = self.key(ind)
        return self.mean_of(key) if key in self.groups else None

    def copy(self) -> Occurrences:
        other = Occurrences(self.by, self.source)
        other.groups = {k: list(v) for k, v in self.groups.items()}
        return other
