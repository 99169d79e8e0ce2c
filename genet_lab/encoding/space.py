"""Counting the search space: bit strings against distinct structures.

A stage of K nodes has 2^(K(K-1)/2) bit strings, many of which build the same
network (dropped nodes, isomorphic wirings). Distinct structures per stage are
counted exactly by enumerating every string and its canonical form; the whole
space's count is the product over stages, because stages are compared in
order. Exhaustive enumeration is offered up to K = 7 (2^21 strings).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache

from genet_lab.encoding.genome import check_stages, stage_length
from genet_lab.encoding.graph import decode_stage

MAX_ENUMERABLE_K = 7


def _bits_of(value: int, length: int) -> tuple[int, ...]:
    return tuple((value >> (length - 1 - p)) & 1 for p in range(length))


@cache
def stage_classes(k: int) -> Counter:
    """Canonical form -> number of bit strings of a K-node stage that build it."""
    if k > MAX_ENUMERABLE_K:
        raise ValueError(
            f"counting enumerates every bit string; K={k} has 2^{stage_length(k)} of them, "
            f"at most K={MAX_ENUMERABLE_K} is supported"
        )
    length = stage_length(k)
    return Counter(decode_stage(k, _bits_of(v, length)).canonical for v in range(2**length))


def count_space(stages: Sequence[int]) -> dict:
    """Strings and distinct structures per stage and in total (the ``space`` JSON)."""
    stages = check_stages(stages)
    rows = []
    total_strings, total_distinct = 1, 1
    for k in stages:
        strings = 2 ** stage_length(k)
        distinct = len(stage_classes(k))
        rows.append({"K": k, "bits": stage_length(k), "strings": strings, "distinct": distinct})
        total_strings *= strings
        total_distinct *= distinct
    return {"stages": rows, "strings": total_strings, "distinct": total_distinct}


def strings_sharing(k: int, bits: Sequence[int]) -> int:
    """How many bit strings of a K-node stage build the same structure as ``bits``."""
    return stage_classes(k)[decode_stage(k, bits).canonical]
