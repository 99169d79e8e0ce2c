"""The distinct structures of a GeNet space: one canonical bit string per structure key.

A stage's bit strings fall into classes of equal built graphs (:mod:`genet_lab.encoding.space`);
a structure of the whole space is one class per stage (stages are compared in order), so the
structures are the product of the stages' classes and a structure's class size is the product of
its stages' class sizes. The canonical bit string of a class is its smallest bit string (as a
binary number in the paper's bit order). No torch.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

from genet_lab.encoding.genome import Genome, check_stages, stage_length
from genet_lab.encoding.graph import decode_stage
from genet_lab.encoding.space import stage_classes

__all__ = [
    "Structure",
    "canonical_genome",
    "count_structures",
    "iter_structures",
    "sample_ids",
    "stage_representatives",
]


@dataclass(frozen=True)
class Structure:
    """One distinct structure: its canonical genome, structure key and class size."""

    index: int
    genome: Genome
    key: str
    class_size: int


@cache
def stage_representatives(k: int) -> tuple[tuple[tuple[int, ...], str, int], ...]:
    """(smallest bit string, canonical form, class size) of every class of a K-node stage, in the
    order of their smallest bit strings."""
    length = stage_length(k)
    sizes = stage_classes(k)
    first: dict[str, tuple[int, ...]] = {}
    for value in range(2**length):
        bits = tuple((value >> (length - 1 - p)) & 1 for p in range(length))
        form = decode_stage(k, bits).canonical
        first.setdefault(form, bits)
    return tuple((bits, form, sizes[form]) for form, bits in first.items())


def count_structures(stages: Sequence[int]) -> int:
    n = 1
    for k in check_stages(stages):
        n *= len(stage_representatives(k))
    return n


def iter_structures(stages: Sequence[int]) -> Iterator[Structure]:
    """Every distinct structure of ``stages``, in a fixed order (index 0, 1, ...)."""
    stages = check_stages(stages)
    per_stage = [stage_representatives(k) for k in stages]
    for index, combo in enumerate(itertools.product(*per_stage)):
        genome = Genome.from_stage_bits([bits for bits, _, _ in combo])
        size = 1
        for _, _, n in combo:
            size *= n
        yield Structure(index, genome, "|".join(form for _, form, _ in combo), size)


def canonical_genome(genome: Genome) -> Genome:
    """The canonical bit string of ``genome``'s structure."""
    out = []
    for k, bits in genome.iter_stages():
        form = decode_stage(k, bits).canonical
        out.append(next(b for b, f, _ in stage_representatives(k) if f == form))
    return Genome.from_stage_bits(out)


def sample_ids(stages: Sequence[int], sample: int | None, seed: int) -> list[int]:
    """The structure ids a build trains: all of them (``sample`` None, or not smaller than the
    space), or ``sample`` of them drawn without replacement by ``seed``, in increasing order."""
    n = count_structures(stages)
    if sample is None or sample >= n:
        return list(range(n))
    return sorted(random.Random(int(seed)).sample(range(n), int(sample)))
