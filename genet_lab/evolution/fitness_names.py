"""The names of a search's fitness: the kinds, ``table:NAME``, ``proxy:NAME`` and what a value of
each means (its unit). Split from :mod:`.config` (which re-exports them); no torch.
"""

from __future__ import annotations

from typing import Any

from genet_lab.training import proxies

__all__ = ["FITNESS_ACCEPTED", "FITNESS_KINDS", "TABLE_PREFIX", "UNITS", "table_ref"]

FITNESS_KINDS = ("train", "proxy", "toy")
TABLE_PREFIX = "table:"  # table:NAME, a fitness read from a benchmark table (a shipped name or a file)
FITNESS_ACCEPTED = (*FITNESS_KINDS, "table:NAME", *proxies.FITNESSES)


class _Units(dict[str, str]):
    """What a fitness value means, by fitness; ``table:NAME`` looks up the table's accuracies."""

    def __missing__(self, key: str) -> str:
        if isinstance(key, str) and key.startswith(TABLE_PREFIX):
            return f"val. accuracy % (table {key[len(TABLE_PREFIX) :]})"
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self or table_ref(key) is not None else default


UNITS = _Units({"train": "val. accuracy %", "toy": "toy score (test aid)", **proxies.UNITS})


def table_ref(fitness: str) -> str | None:
    """NAME of a ``table:NAME`` fitness (None for another fitness)."""
    return fitness[len(TABLE_PREFIX) :] if isinstance(fitness, str) and fitness.startswith(TABLE_PREFIX) else None
