"""The population's genes over time: per generation, the share of individuals with each bit set,
and the structure diversity (distinct structures / individuals).

What a course on genetic algorithms draws first: convergence, bit by bit. The bits are in the
paper's order (section 3.1: stage by stage, and inside a stage the pairs (1,2), (1,3), (2,3),
(1,4), ...), labelled ``i-j`` ("node i feeds node j") and grouped by stage. The same
:class:`GeneFrequencies` feeds ``report`` (``fig_genes.png`` and ``report --json``), the
EvolutionMonitor widget and the TUI; :func:`run_genes` reads a run store through its query API.
Knows the store's records; no torch, no numpy, no matplotlib (the figure is
:func:`genet_lab.evolution.figures.figure_genes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from genet_lab.encoding.genome import check_stages, stage_length
from genet_lab.evolution.records import Individual


def bit_labels(stages: Sequence[int]) -> list[tuple[int, str]]:
    """(stage number from 1, ``i-j``) for every bit of a genome of ``stages``, in the paper's order."""
    out = []
    for s, k in enumerate(stages, 1):
        for j in range(2, k + 1):
            out += [(s, f"{i}-{j}") for i in range(1, j)]
    return out


@dataclass(frozen=True)
class GeneFrequencies:
    """Generations x bits: the share of a generation's individuals with each bit set."""

    stages: tuple[int, ...]
    generations: tuple[int, ...]
    """The generation numbers, one per row."""
    frequencies: tuple[tuple[float, ...], ...]
    """One row per generation, one value in 0..1 per bit (the paper's order)."""
    individuals: tuple[int, ...]
    """N: the individuals counted in each generation."""
    distinct: tuple[int, ...]
    """Distinct structures (structure keys: equal decoded networks) in each generation."""

    @property
    def labels(self) -> list[str]:
        """Each bit's column label: ``S1 1-2``..."""
        return [f"S{s} {pair}" for s, pair in bit_labels(self.stages)]

    @property
    def diversity(self) -> tuple[float, ...]:
        """Distinct structures / N per generation: 1 when every individual is a different network."""
        return tuple(d / n if n else 0.0 for d, n in zip(self.distinct, self.individuals))

    def stage_spans(self) -> list[tuple[int, int]]:
        """(first bit, one past the last) of each stage's columns."""
        spans, start = [], 0
        for k in self.stages:
            spans.append((start, start + stage_length(k)))
            start += stage_length(k)
        return spans

    def to_dict(self) -> dict:
        """What ``report --json`` prints: the matrix with its labels, and the diversity."""
        return {
            "stages": list(self.stages),
            "bits": [{"stage": s, "edge": pair} for s, pair in bit_labels(self.stages)],
            "generations": list(self.generations),
            "frequencies": [list(row) for row in self.frequencies],
            "individuals": list(self.individuals),
            "distinct_structures": list(self.distinct),
            "diversity": [round(d, 6) for d in self.diversity],
        }


def gene_frequencies(individuals: Iterable[Individual], stages: Sequence[int]) -> GeneFrequencies:
    """The :class:`GeneFrequencies` of ``individuals`` (any order; every stored individual of a
    generation counts, evaluated or not: its bits are known when it is bred). An individual whose
    bits do not fit ``stages`` raises ValueError."""
    stages = check_stages(stages)
    length = sum(stage_length(k) for k in stages)
    by_gen: dict[int, list[Individual]] = {}
    for ind in individuals:
        if len(ind.bits) != length or set(ind.bits) - {"0", "1"}:
            raise ValueError(
                f"individual {ind.gen}:{ind.index} has bits {ind.bits[:40]!r}, not {length} bits of stages "
                f"{','.join(map(str, stages))}"
            )
        by_gen.setdefault(ind.gen, []).append(ind)
    gens = sorted(by_gen)
    rows, counts, distinct = [], [], []
    for g in gens:
        members = by_gen[g]
        n = len(members)
        ones = [0] * length
        for ind in members:
            for b, ch in enumerate(ind.bits):
                ones[b] += ch == "1"
        rows.append(tuple(c / n for c in ones))
        counts.append(n)
        distinct.append(len({ind.structure_key for ind in members}))
    return GeneFrequencies(stages, tuple(gens), tuple(rows), tuple(counts), tuple(distinct))


def run_genes(run_dir: str | Path) -> GeneFrequencies:
    """The genes over time of the run stored in ``run_dir`` (read-only: a running search may be read)."""
    from genet_lab.evolution.store import RunStore

    with RunStore(Path(run_dir), readonly=True) as st:
        stages = st.config()["stages"]
        return gene_frequencies(st.individuals(), stages)


def shade(value: float, ramp: str = " ░▒▓█") -> str:
    """One text cell for a share in 0..1 (a terminal's heatmap): blank for 0, full block for 1."""
    value = min(1.0, max(0.0, value))
    return ramp[min(len(ramp) - 1, round(value * (len(ramp) - 1)))]


def genes_text(genes: GeneFrequencies, last: int | None = None) -> list[str]:
    """The heatmap as text lines (one per generation, ``last`` ones only when given; a column per
    bit, stages apart by a bar), with the diversity at the end of each line: what a terminal shows."""
    spans = genes.stage_spans()
    head = "gen  " + "|".join(f"S{s}".ljust(b - a) for s, (a, b) in enumerate(spans, 1)) + "  diversity"
    lines = [head]
    rows = list(zip(genes.generations, genes.frequencies, genes.diversity))
    for gen, row, div in rows[-last:] if last else rows:
        cells = "|".join("".join(shade(v) for v in row[a:b]) for a, b in spans)
        lines.append(f"{gen:>3}  {cells}  {div:.2f}")
    return lines
