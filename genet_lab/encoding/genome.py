"""Genomes: the paper's fixed-length binary encoding of a multi-stage network.

Section 3.1 of *Genetic CNN*: a network has S stages; stage s has K_s ordered
nodes and K_s(K_s-1)/2 bits, one per pair (i, j) with i < j, in the order
(1,2), (1,3), (2,3), (1,4), (2,4), (3,4), ...  A bit set to 1 means node j sums
the output of node i into its input.

This module knows nothing of graphs libraries or torch: a genome is a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

PAPER_STAGES: tuple[int, ...] = (3, 4, 5)
"""Stage sizes (K_1, K_2, K_3) of the paper's CIFAR-10 experiments (section 4.1.1)."""

MAX_NODES = 64
"""Largest K_s accepted: far beyond anything trainable, small enough to stay sane."""


def stage_length(k: int) -> int:
    """Number of bits that encode a stage of ``k`` ordinary nodes: k(k-1)/2."""
    return k * (k - 1) // 2


def pair_index(i: int, j: int) -> int:
    """Position of the bit for edge (i, j), 1 <= i < j, inside its stage's bits."""
    return stage_length(j - 1) + (i - 1)


def check_stages(stages: Iterable[int]) -> tuple[int, ...]:
    """Validate stage sizes and return them as a tuple; ValueError otherwise."""
    try:
        out = tuple(int(k) for k in stages)
    except (TypeError, ValueError):
        raise ValueError(f"stage sizes must be integers, got {stages!r}") from None
    if not out:
        raise ValueError("a genome needs at least one stage (e.g. 3,4,5)")
    for k in out:
        if k < 2 or k > MAX_NODES:
            raise ValueError(f"each stage needs between 2 and {MAX_NODES} nodes, got {k} in {','.join(map(str, out))}")
    return out


def parse_stages(text: str) -> tuple[int, ...]:
    """Parse stage sizes written as ``3,4,5`` (commas or spaces)."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"stage sizes must be integers >= 2 separated by commas, like 3,4,5; got {text!r}")
    return check_stages(int(p) for p in parts)


class StrayCharacters(ValueError):
    """Text that is not a genome's notation: it holds characters other than 0, 1, '-' and spaces
    (``stray``, sorted); a front end may word it differently (a mistyped name, say)."""

    def __init__(self, stray: str) -> None:
        self.stray = stray
        super().__init__(f"genome may contain only 0, 1, '-' and spaces, found {stray!r}; {_NOTATION_HELP}")


@dataclass(frozen=True)
class Genome:
    """An individual: stage sizes and the flat bit string, immutable and hashable.

    ``stages`` holds (K_1, ..., K_S); ``bits`` holds L = sum K_s(K_s-1)/2 zeros
    and ones in the paper's order. ``str(genome)`` is the paper's notation and
    ``repr(genome)`` wraps it, ``Genome('1-01 0-01-100 0-11-101-0001')``: the
    notation fixes the stage sizes, so :func:`parse` reads the string back.
    """

    stages: tuple[int, ...]
    bits: tuple[int, ...]

    def __post_init__(self) -> None:
        stages = check_stages(self.stages)
        bits = tuple(self.bits)
        if any(b not in (0, 1) for b in bits):
            raise ValueError("genome bits must be 0 or 1")
        expected = sum(stage_length(k) for k in stages)
        if len(bits) != expected:
            raise ValueError(f"stages {','.join(map(str, stages))} need {expected} bits, got {len(bits)}")
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "bits", tuple(int(b) for b in bits))

    # -- construction -----------------------------------------------------
    @classmethod
    def from_bits(cls, bits: Iterable[int] | str, stages: Sequence[int]) -> Genome:
        """Build from a flat bit sequence (or a '0'/'1' string) and stage sizes."""
        if isinstance(bits, str):
            return parse(bits, stages)
        return cls(tuple(stages), tuple(int(b) for b in bits))

    @classmethod
    def from_stage_bits(cls, per_stage: Sequence[Sequence[int]]) -> Genome:
        """Build from one bit sequence per stage; each length fixes that stage's K."""
        stages = []
        for s, bits in enumerate(per_stage, 1):
            k = _k_for_length(len(bits))
            if k is None:
                raise ValueError(
                    f"stage {s} has {len(bits)} bits; a stage of K nodes has K(K-1)/2 bits (1, 3, 6, 10, ...)"
                )
            stages.append(k)
        return cls(tuple(stages), tuple(b for bits in per_stage for b in bits))

    # -- views --------------------------------------------------------------
    @property
    def length(self) -> int:
        """L, the total number of bits."""
        return len(self.bits)

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def stage_offsets(self) -> list[int]:
        """Index of each stage's first bit in the flat string."""
        offsets, pos = [], 0
        for k in self.stages:
            offsets.append(pos)
            pos += stage_length(k)
        return offsets

    def stage_bits(self, s: int) -> tuple[int, ...]:
        """Bits of stage ``s`` (0-based)."""
        start = self.stage_offsets()[s]
        return self.bits[start : start + stage_length(self.stages[s])]

    def iter_stages(self) -> Iterator[tuple[int, tuple[int, ...]]]:
        """Yield (K_s, bits of stage s) for every stage."""
        for s, k in enumerate(self.stages):
            yield k, self.stage_bits(s)

    def edges(self, s: int) -> list[tuple[int, int]]:
        """Encoded edges (i, j) between ordinary nodes of stage ``s`` (1-based nodes)."""
        return stage_edges(self.stages[s], self.stage_bits(s))

    def bitstring(self) -> str:
        """The flat bit string without separators."""
        return "".join(map(str, self.bits))

    def notation(self) -> str:
        """The paper's notation, e.g. ``1-01 0-01-100 0-11-101-0001``."""
        return " ".join(stage_notation(k, b) for k, b in self.iter_stages())

    def __str__(self) -> str:
        return self.notation()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.notation()!r})"

    # -- edits (return new genomes) ------------------------------------------
    def flip(self, index: int) -> Genome:
        """A copy with the bit at flat position ``index`` flipped."""
        if not 0 <= index < self.length:
            raise ValueError(f"bit index must be in 0..{self.length - 1}, got {index}")
        bits = list(self.bits)
        bits[index] ^= 1
        return Genome(self.stages, tuple(bits))

    def with_stage(self, s: int, bits: Sequence[int]) -> Genome:
        """A copy with stage ``s`` replaced by ``bits`` (same K)."""
        if len(bits) != stage_length(self.stages[s]):
            raise ValueError(
                f"stage {s + 1} has K={self.stages[s]} and needs {stage_length(self.stages[s])} bits, got {len(bits)}"
            )
        start = self.stage_offsets()[s]
        new = self.bits[:start] + tuple(int(b) for b in bits) + self.bits[start + len(bits) :]
        return Genome(self.stages, new)


def stage_edges(k: int, bits: Sequence[int]) -> list[tuple[int, int]]:
    """Edges (i, j) among ordinary nodes 1..k encoded by one stage's bits."""
    out = []
    for j in range(2, k + 1):
        base = stage_length(j - 1)
        for i in range(1, j):
            if bits[base + i - 1]:
                out.append((i, j))
    return out


def stage_notation(k: int, bits: Sequence[int]) -> str:
    """One stage in the paper's notation: groups for nodes 2..k joined by '-'."""
    groups = []
    for j in range(2, k + 1):
        base = stage_length(j - 1)
        groups.append("".join(str(b) for b in bits[base : base + j - 1]))
    return "-".join(groups)


def _k_for_length(n: int) -> int | None:
    k = 2
    while stage_length(k) < n:
        k += 1
    return k if stage_length(k) == n and n > 0 else None


_NOTATION_HELP = (
    "write each stage as groups of 1, 2, 3, ... bits joined by '-', stages separated by spaces, "
    "e.g. '1-01 0-01-100 0-11-101-0001'"
)


def _parse_notation(text: str) -> Genome:
    per_stage: list[list[int]] = []
    for s, token in enumerate(text.split(), 1):
        groups = token.split("-")
        for g, group in enumerate(groups, 1):
            if len(group) != g:
                raise ValueError(
                    f"stage {s} ({token!r}): group {g} must hold {g} bit{'s' if g > 1 else ''} "
                    f"(edges into node {g + 1}), got {len(group)}; {_NOTATION_HELP}"
                )
        per_stage.append([int(c) for c in "".join(groups)])
    return Genome.from_stage_bits(per_stage)


def parse(text: str, stages: Sequence[int] | str | None = None) -> Genome:
    """Parse the paper's notation, or a plain bit string with explicit stage sizes.

    ``parse("1-01 0-01-100 0-11-101-0001")`` reads the notation; the notation
    fixes the stage sizes (if ``stages`` is given too, they must agree).
    ``parse("1010...", stages=(3, 4, 5))`` reads L plain bits. Raises
    ValueError saying what was expected for anything else.
    """
    if not isinstance(text, str):
        raise ValueError(f"a genome is text, got {type(text).__name__}")
    sizes: tuple[int, ...] | None
    if isinstance(stages, str):
        sizes = parse_stages(stages)
    else:
        sizes = None if stages is None else check_stages(stages)
    raw = text.strip()
    if not raw:
        raise ValueError(f"empty genome; {_NOTATION_HELP}")
    bad = sorted(set(re.sub(r"[01\-\s]", "", raw)))
    if bad:
        raise StrayCharacters("".join(bad))
    if sizes is not None and "-" not in raw:
        digits = re.sub(r"\s", "", raw)
        expected = sum(stage_length(k) for k in sizes)
        if len(digits) != expected:
            raise ValueError(f"stages {','.join(map(str, sizes))} need {expected} bits, got {len(digits)}")
        return Genome(sizes, tuple(int(c) for c in digits))
    if "-" not in raw and " " not in raw.replace("\t", " ") and len(raw) > 1:
        raise ValueError(
            f"a plain bit string of length {len(raw)} needs stage sizes (e.g. --stages 3,4,5); or {_NOTATION_HELP}"
        )
    genome = _parse_notation(raw)
    if sizes is not None and genome.stages != sizes:
        raise ValueError(
            f"notation has stage sizes {','.join(map(str, genome.stages))} "
            f"but {','.join(map(str, sizes))} were asked for"
        )
    return genome


# -- named genomes -------------------------------------------------------------


def zeros(stages: Sequence[int] = PAPER_STAGES) -> Genome:
    """All-zero genome: every stage is a single convolution."""
    stages = check_stages(stages)
    return Genome(stages, (0,) * sum(stage_length(k) for k in stages))


def _from_edges(stages: Sequence[int], rule: Callable[[int, int], bool]) -> Genome:
    stages = check_stages(stages)
    per_stage = []
    for k in stages:
        bits = [0] * stage_length(k)
        for j in range(2, k + 1):
            for i in range(1, j):
                if rule(i, j):
                    bits[pair_index(i, j)] = 1
        per_stage.append(bits)
    return Genome(stages, tuple(b for bits in per_stage for b in bits))


def chain(stages: Sequence[int] = PAPER_STAGES) -> Genome:
    """VGG-like chain (Fig. 2): edges (i, i+1) only."""
    return _from_edges(stages, lambda i, j: j == i + 1)


def residual(stages: Sequence[int] = PAPER_STAGES) -> Genome:
    """ResNet-like (Fig. 2): the chain plus skips (i, i+3) for i = 1, 4, 7, ...

    Nodes sum their inputs before their convolution, so a skip (i, i+3) adds
    node i's output to the two convolutions i+1, i+2 and feeds the sum to node
    i+3, whose output starts the next unit: a residual unit of two
    convolutions. K=4 gives ``1-01-101`` (Fig. 2's ResNet block); K=3 has no
    room for a unit and is a plain chain.
    """
    return _from_edges(stages, lambda i, j: j == i + 1 or (j == i + 3 and (i - 1) % 3 == 0))


def dense(stages: Sequence[int] = PAPER_STAGES) -> Genome:
    """DenseNet variant (Fig. 2): every bit set, each node sums all lower nodes."""
    stages = check_stages(stages)
    return Genome(stages, (1,) * sum(stage_length(k) for k in stages))


RESIDUAL40_STAGES: tuple[int, ...] = (11, 11, 11)
"""Stage sizes of :func:`residual_40`: each stage runs its default input node, 11 ordinary
nodes and its default output node, 13 convolutions on the longest path, so 3 x 13 = 39
convolutions plus the classifier = 40 layers, the depth of WRN-40 (section 4.2)."""


def residual_40(stages: Sequence[int] = RESIDUAL40_STAGES) -> Genome:
    """:func:`residual` at (11, 11, 11): a 40-layer network, WRN-40's depth but not its structure.

    Nodes sum before they convolve, so each skip (i, i+3) feeds node i+3's convolution rather
    than an identity path: per stage, node 1, node 4, node 7 and nodes 10-11 (and the default
    nodes) sit outside any residual unit, and the three units of two convolutions never add up
    into one residual stream. WRN-40 has six units per stage on an identity stream. This
    genome used to be called ``wrn`` (:data:`RENAMED`).
    """
    return residual(stages)


TABLE1_BEST = "1-01 0-01-100 0-11-101-0001"
"""Best individual of Table 1 (generation 50, 77.19% on CIFAR-10)."""


def paper_best() -> Genome:
    """The paper's Table 1 best individual."""
    return parse(TABLE1_BEST)


NAMED = {
    "zeros": zeros,
    "chain": chain,
    "residual": residual,
    "dense": dense,
    "residual-40": residual_40,
    "paper-best": lambda stages=None: paper_best(),
}
"""Named genomes; each takes optional stage sizes (ignored by ``paper-best``)."""

RENAMED = {"wrn": "residual-40"}
"""Old names of named genomes and what they are called now. A new genome, file or command
that uses an old name gets :func:`renamed_error`; a stored run keeps working
(:meth:`genet_lab.evolution.config.SearchConfig.from_stored` reads the new name)."""


def renamed_error(name: str) -> ValueError:
    """The one-line error for an old genome name (see :data:`RENAMED`)."""
    new = RENAMED[name]
    return ValueError(
        f"the genome {name!r} is now called {new!r}: it has WRN-40's 40 layers but not its "
        f"residual structure (docs/encoding.md); use {new}"
    )


def named(name: str, stages: Sequence[int] | None = None) -> Genome:
    """A named genome; ``stages`` defaults to (3,4,5), or (11,11,11) for ``residual-40``."""
    if name in RENAMED:
        raise renamed_error(name)
    try:
        factory = NAMED[name]
    except KeyError:
        raise ValueError(f"unknown genome name {name!r}; known names: {', '.join(NAMED)}") from None
    return factory() if stages is None else factory(stages)


def resolve(text: str, stages: Sequence[int] | str | None = None) -> Genome:
    """A genome from a name (``chain``, ``paper-best``, ...) or from bits/notation."""
    key = text.strip().lower()
    if key in RENAMED:
        raise renamed_error(key)
    if key in NAMED:
        if isinstance(stages, str):
            stages = parse_stages(stages)
        return named(key, stages)
    return parse(text, stages)
