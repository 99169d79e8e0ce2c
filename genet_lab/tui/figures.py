"""Live figures: of the edited genome (size, cost, depth and structure) and, for the
evolution pane, a run's Pareto view drawn with plotext (:func:`draw_pareto`).

Parameters and multiply-adds come from :mod:`genet_lab.encoding.complexity` (counted
without building a network, so no torch); how many bit strings share a
stage's structure comes from :mod:`genet_lab.encoding.space`, which enumerates
2^(K(K-1)/2) strings: instant up to K=5, seconds for K=6 (done once, in a
worker, by the editor), out of reach above.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.timer import Timer
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


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def sharing_text(genome: Genome, sharing: list[int | None], counting: str = "") -> str:
    """The sharing figure: per-stage counts and their product; ``counting`` (a spinner frame and
    the seconds so far) while a count of K <= LAZY_SHARING_K is being made; "n/a" for larger K,
    whose 2^(K(K-1)/2) strings cannot be enumerated."""
    pending = [k for k, n in zip(genome.stages, sharing) if n is None and k <= LAZY_SHARING_K]
    if pending:
        return f"counting K={max(pending)} {counting or '…'}"
    if all(n is None for n in sharing):
        return f"n/a: K > {LAZY_SHARING_K}"
    parts = ["n/a" if n is None else str(n) for n in sharing]
    if None in sharing:
        return "·".join(parts) + f" (n/a: K > {LAZY_SHARING_K})"
    total = 1
    for n in sharing:
        total *= n or 1
    return "·".join(parts) + (f" = {total:,}" if len(parts) > 1 else "") + " strings"


def figures_table(genome: Genome, config: NetworkConfig, sharing: list[int | None], counting: str = "") -> Text:
    """The figures as label/value lines; ``sharing[s]`` is None when unknown (see :func:`sharing_text`)."""
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
    t.add_row("sharing", sharing_text(genome, sharing, counting))
    t.add_row("bits", f"L = {genome.length}")
    return t.text


class Figures(Static):
    """The figures panel; the editor calls :meth:`show` after every change.

    While a sharing count is being made (seconds at K = 6, in the editor's worker) a spinner
    and the seconds so far say so, redrawn by a timer until the editor shows the count.
    """

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self._shown: tuple[Genome, NetworkConfig, list[int | None]] | None = None
        self._timer: Timer | None = None
        self._since = 0.0
        self._frame = 0

    def show(self, genome: Genome, config: NetworkConfig, sharing: list[int | None]) -> None:
        self._shown = (genome, config, sharing)
        counting = any(n is None and k <= LAZY_SHARING_K for k, n in zip(genome.stages, sharing))
        if counting and self._timer is None:
            self._since, self._frame = time.monotonic(), 0
            self._timer = self.set_interval(0.15, self._tick)
        elif not counting and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._draw()

    @property
    def counting(self) -> bool:
        """Whether a sharing count is being waited for (the spinner turns)."""
        return self._timer is not None

    def _tick(self) -> None:
        self._frame += 1
        self._draw()

    def _draw(self) -> None:
        if self._shown is None:
            return
        frame = f"{SPINNER[self._frame % len(SPINNER)]} {time.monotonic() - self._since:.0f} s" if self.counting else ""
        self.update(figures_table(*self._shown, counting=frame))


def sharing_counts(genome: Genome, ready: set[int]) -> list[int | None]:
    """Per-stage sharing counts for stages whose K is in ``ready`` (else None)."""
    from genet_lab.encoding.space import strings_sharing

    return [strings_sharing(k, bits) if k in ready else None for k, bits in genome.iter_stages()]


def draw_pareto(plt: Any, points: Sequence[StructurePoint], cost: str) -> str:
    """Accuracy against ``cost`` (params or macs, log scale) on a plotext ``plt``: every evaluated
    structure a dot, the non-dominated front in red. Returns the title (for the widget's border:
    plotext's own title and legend would cover the points)."""
    name = "parameters" if cost == "params" else "mult-adds"
    known = [p for p in points if getattr(p, cost)]
    front = front_of(known, cost)
    title = f"Pareto: accuracy vs {name} ({len(front)} of {len(known)} non-dominated)"
    if not known:
        return title
    plt.xscale("log")
    plt.scatter([getattr(p, cost) for p in known], [p.accuracy for p in known], color="cyan", marker="dot")
    plt.scatter([getattr(p, cost) for p in front], [p.accuracy for p in front], color="red", marker="o")
    plt.xlabel(name)
    return title
