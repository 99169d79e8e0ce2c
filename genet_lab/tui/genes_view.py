"""The population's genes over time in text cells: the evolution pane's figure after the Pareto views.

One row per generation, one column per bit in the paper's order (stage by stage; inside a stage the
edges grouped by target node: 1-2, 1-3, 2-3, 1-4, ...), labelled by two header rows (the edge's
target node j over its source node i), stages apart by a bar; a cell's shade is the share of the
generation's individuals with that bit set. The structure diversity (distinct structure keys / N)
ends each row. The matrix is :class:`genet_lab.evolution.genes.GeneFrequencies` (the same as
``report``'s ``fig_genes.png`` and the EvolutionMonitor's). Render-only: no store, no torch.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import ScrollableContainer, Vertical, VerticalScroll
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Static

from genet_lab.evolution.genes import GeneFrequencies, bit_labels, shade

RAMP = "·░▒▓█"
"""0, a quarter, half, three quarters, all individuals with the bit set."""
BARS = " ▏▎▍▌▋▊▉█"
"""Eighths of a cell: the diversity bar."""
BAR_CELLS = 5
CELL_STYLE, ZERO_STYLE, STAGE_BAR = "bold green", "grey42", "│"
DIVERSITY = "  div"


def node_char(n: int, width: int) -> str:
    """A node number in ``width`` cells; in one cell, 10, 11, ... are a, b, ..."""
    if width == 1 and n >= 10:
        return chr(ord("a") + n - 10) if n < 36 else "+"
    return str(n).rjust(width)


def cell_width(genes: GeneFrequencies, width: int) -> int:
    """Cells per bit: 3, 2 or 1, the widest whose rows fit ``width`` columns (1: the view scrolls)."""
    bits = len(bit_labels(genes.stages))
    fixed = 4 + len(genes.stages) - 1 + 8 + BAR_CELLS
    return next((w for w in (3, 2) if fixed + w * bits <= width), 1)


def genes_text(genes: GeneFrequencies, width: int) -> tuple[Text, Text, str]:
    """(the header rows, one row per generation, the legend) for a panel ``width`` columns wide."""
    cell = cell_width(genes, width)
    spans = genes.stage_spans()
    pairs = [tuple(int(n) for n in pair.split("-")) for _, pair in bit_labels(genes.stages)]

    def columns(text: Text, values: list[str], style: str) -> None:
        for s, (a, b) in enumerate(spans):
            if s:
                text.append(STAGE_BAR, style="dim")
            text.append("".join(values[a:b]), style=style)

    head = Text("    ", no_wrap=True, overflow="ignore")
    heads = "".join(f"S{s} K={k}"[: (b - a) * cell].ljust((b - a) * cell) for s, (k, (a, b)) in
                    enumerate(zip(genes.stages, spans), 1))  # fmt: skip
    columns(head, [heads[i * cell : (i + 1) * cell] for i in range(len(pairs))], "bold")
    head.append(f"{DIVERSITY}\n to ", style="bold")
    columns(head, [node_char(j, cell) for _, j in pairs], "cyan")
    head.append("\nfrom", style="bold")
    columns(head, [node_char(i, cell) for i, _ in pairs], "cyan")
    rows = Text(no_wrap=True, overflow="ignore")
    for gen, row, div in zip(genes.generations, genes.frequencies, genes.diversity):
        if rows:
            rows.append("\n")
        rows.append(f"{gen:>3} ", style="dim")
        for s, (a, b) in enumerate(spans):
            if s:
                rows.append(STAGE_BAR, style="dim")
            for v in row[a:b]:
                rows.append(shade(v, RAMP) * cell, style=ZERO_STYLE if v == 0 else CELL_STYLE)
        rows.append(f"  {div:.2f} ")
        rows.append(bar(div), style="yellow")
    legend = "█ all ▓ ¾ ▒ ½ ░ ¼ · none · div: distinct / N"
    if cell == 1 and max(genes.stages) >= 10:
        legend += " · a = node 10"
    return head, rows, legend


def bar(value: float, cells: int = BAR_CELLS) -> str:
    """``value`` in 0..1 as a bar of ``cells`` cells, in eighths."""
    eighths = round(min(1.0, max(0.0, value)) * cells * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BARS[part] if part else "")).ljust(cells)


class GenesView(ScrollableContainer):
    """The heatmap under a header that stays (stages, the edges' nodes), kept scrolled to the newest
    generation while it grows (unless scrolled up); a genome too long for the panel scrolls sideways,
    header and rows together."""

    DEFAULT_CSS = """
    GenesView { overflow-y: hidden; }
    GenesView > Vertical { width: auto; height: 1fr; }
    GenesView #genes-head { width: auto; height: 3; }
    GenesView #genes-scroll { width: auto; height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    GenesView #genes-rows { width: auto; }
    """

    genes: reactive[GeneFrequencies | None] = reactive(None, init=False, repaint=False)

    def compose(self):
        with Vertical():
            yield Static(id="genes-head")
            with VerticalScroll(id="genes-scroll"):
                yield Static(id="genes-rows")

    def on_mount(self) -> None:
        self.border_title = "genes over time: share of N with each bit set"
        self.watch_genes(self.genes)

    def watch_genes(self, genes: GeneFrequencies | None) -> None:
        head, rows = self.query_one("#genes-head", Static), self.query_one("#genes-rows", Static)
        if genes is None or not genes.generations:
            self.border_subtitle = ""
            head.update("[dim]no generation stored yet[/dim]")
            rows.update("")
            return
        scroll = self.query_one("#genes-scroll", VerticalScroll)
        following = scroll.scroll_y >= scroll.max_scroll_y
        top, cells, legend = genes_text(genes, self.size.width - 1)
        self.border_subtitle = legend
        head.update(top)
        rows.update(cells)
        if following:
            scroll.call_after_refresh(scroll.scroll_end, animate=False)

    def on_resize(self, event: Resize) -> None:
        if self.genes is not None:
            self.watch_genes(self.genes)
