"""Live figures: of the edited genome (size, cost, depth and structure) and, for the
evolution pane, a run's Pareto view drawn with plotext (:func:`draw_pareto`).

Parameters and multiply-adds come from :mod:`genet_lab.encoding.complexity` (counted
without building a network, so no torch); how many bit strings share a
stage's structure comes from :mod:`genet_lab.encoding.space`, which enumerates
2^(K(K-1)/2) strings: instant up to K=5, seconds for K=6 (done once, in a
worker, by the editor), out of reach above.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import Static

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import structure_hash
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.evolution.analysis import StructurePoint, front_of

SYNC_SHARING_K = 5
"""Largest K whose sharing count is computed on the spot (after a warm-up)."""
LAZY_SHARING_K = 6
"""Largest K whose sharing count is computed at all (in a worker)."""


def human(n: float) -> str:
    """1234567 -> '1.23 M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:g}"


class _Rows:
    """Label/value lines as one Text (cheaper for Textual to lay out than a rich Table)."""

    def __init__(self) -> None:
        self.text = Text(no_wrap=True, overflow="ellipsis")

    def add_row(self, label: str, value: str | Text) -> None:
        if self.text:
            self.text.append("\n")
        self.text.append(f"{label:<10}", style="bold")
        self.text.append_text(value if isinstance(value, Text) else Text(value))


def figures_table(genome: Genome, config: NetworkConfig, sharing: list[int | None]) -> Text:
    """The figures as label/value lines; ``sharing[s]`` is None when unknown."""
    t = _Rows()
    t.add_row("preset", Text(config.name, style="cyan"))
    try:
        c = complexity(genome, config)
    except ValueError as exc:
        t.add_row("error", Text(str(exc), style="red"))
        return t.text
    t.add_row("params", f"{c.params:,}")
    t.add_row("mult-adds", human(c.macs))
    t.add_row("convs", f"{'+'.join(map(str, c.convs))} = {sum(c.convs)}")
    t.add_row("depth", f"{c.depth} conv ({c.layers} layers)")
    t.add_row("structure", structure_hash(genome))
    parts: list[str] = []
    total: int | None = 1
    for s, n in enumerate(sharing):
        if n is None:
            parts.append("…" if genome.stages[s] <= LAZY_SHARING_K else "n/a")
            total = None
        else:
            parts.append(str(n))
            total = total * n if total is not None else None
    shared = "·".join(parts) + (f" = {total:,}" if total is not None and len(parts) > 1 else "")
    t.add_row("sharing", shared + " strings")
    t.add_row("bits", f"L = {genome.length}")
    return t.text


class Figures(Static):
    """The figures panel; the editor calls :meth:`show` after every change."""

    def show(self, genome: Genome, config: NetworkConfig, sharing: list[int | None]) -> None:
        self.update(figures_table(genome, config, sharing))


def sharing_counts(genome: Genome, ready: set[int]) -> list[int | None]:
    """Per-stage sharing counts for stages whose K is in ``ready`` (else None)."""
    from genet_lab.encoding.space import strings_sharing

    return [strings_sharing(k, bits) if k in ready else None for k, bits in genome.iter_stages()]


def draw_pareto(plt: Any, points: Sequence[StructurePoint], cost: str) -> None:
    """Accuracy against ``cost`` (params or macs, log scale) on a plotext ``plt``: every evaluated
    structure a dot, the non-dominated front in red."""
    name = "parameters" if cost == "params" else "mult-adds"
    known = [p for p in points if getattr(p, cost)]
    front = front_of(known, cost)
    plt.title(f"Pareto: accuracy vs {name} ({len(front)} of {len(known)} non-dominated)")
    if not known:
        return
    plt.xscale("log")
    plt.scatter([getattr(p, cost) for p in known], [p.accuracy for p in known], color="cyan", marker="dot")
    plt.scatter([getattr(p, cost) for p in front], [p.accuracy for p in front], color="red", marker="o",
                label="non-dominated")
    plt.xlabel(name)
