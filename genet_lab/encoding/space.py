"""Counting the search space: bit strings against distinct structures.

A stage of K nodes has 2^(K(K-1)/2) bit strings, many of which build the same
network (dropped nodes, isomorphic wirings). Distinct structures per stage are
counted exactly by enumerating every string and its canonical form; the whole
space's count is the product over stages, because stages are compared in
order. Exhaustive enumeration is offered up to K = 7 (2^21 strings).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from genet_lab.encoding.genome import check_stages, stage_length
from genet_lab.encoding.graph import decode_stage

MAX_ENUMERABLE_K = 7


def _bits_of(value: int, length: int) -> tuple[int, ...]:
    return tuple((value >> (length - 1 - p)) & 1 for p in range(length))


Progress = Callable[[int, int, int], None]
"""progress(K, bit strings done, bit strings in all), about a hundred times per stage enumerated."""


class _StageClasses:
    """``stage_classes(k, progress=None)``: canonical form -> number of bit strings of a K-node stage
    that build it. Enumerates the 2^(K(K-1)/2) strings once per K (about a minute for K = 7) and
    keeps the answer; ``progress`` hears about the enumeration, if one is needed.
    ``cached(k)`` says whether it is; ``cache_clear()`` forgets every K (as functools.cache)."""

    def __init__(self) -> None:
        self._memo: dict[int, Counter] = {}

    def __call__(self, k: int, progress: Progress | None = None) -> Counter:
        hit = self._memo.get(k)
        if hit is None:
            hit = self._memo[k] = _enumerate(k, progress)
        return hit

    def cached(self, k: int) -> bool:
        return k in self._memo

    def cache_clear(self) -> None:
        self._memo.clear()


def _enumerate(k: int, progress: Progress | None) -> Counter:
    if k > MAX_ENUMERABLE_K:
        raise ValueError(
            f"counting enumerates every bit string; K={k} has 2^{stage_length(k)} of them, "
            f"at most K={MAX_ENUMERABLE_K} is supported"
        )
    length = stage_length(k)
    total = 2**length
    if progress is None:
        return Counter(decode_stage(k, _bits_of(v, length)).canonical for v in range(total))
    step = max(1, total // 100)
    counts: Counter = Counter()
    for start in range(0, total, step):
        progress(k, start, total)
        counts.update(decode_stage(k, _bits_of(v, length)).canonical for v in range(start, min(total, start + step)))
    progress(k, total, total)
    return counts


stage_classes = _StageClasses()


def count_space(stages: Sequence[int], progress: Progress | None = None) -> dict:
    """Strings and distinct structures per stage and in total (the ``space`` JSON); ``progress``
    follows each stage size that has to be enumerated (see :data:`stage_classes`)."""
    stages = check_stages(stages)
    rows = []
    total_strings, total_distinct = 1, 1
    for k in stages:
        strings = 2 ** stage_length(k)
        distinct = len(stage_classes(k, progress))
        rows.append({"K": k, "bits": stage_length(k), "strings": strings, "distinct": distinct})
        total_strings *= strings
        total_distinct *= distinct
    return {"stages": rows, "strings": total_strings, "distinct": total_distinct}


def strings_sharing(k: int, bits: Sequence[int]) -> int:
    """How many bit strings of a K-node stage build the same structure as ``bits``."""
    return stage_classes(k)[decode_stage(k, bits).canonical]
