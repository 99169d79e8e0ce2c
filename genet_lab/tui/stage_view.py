"""Terminal drawings of stage graphs, coloured like Fig. 1 of the paper.

Default input node red, default output node green, dropped nodes grey and
struck through. A chain is drawn on one line; any other DAG node by node in
topological layers (``3 <- 1+2``: node 3 sums nodes 1 and 2). Knows the
genome and graph modules, not torch.
"""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Static

from genet_lab.encoding.draw import stage_layers
from genet_lab.encoding.genome import Genome, stage_notation
from genet_lab.encoding.graph import StageGraph, decode

IN_STYLE, OUT_STYLE, NODE_STYLE, DROP_STYLE = "bold white on red", "bold white on green", "bold cyan", "grey50 strike"


def _node(stage: StageGraph, n: int) -> Text:
    if n == 0:
        return Text(" in ", style=IN_STYLE)
    if n == stage.k + 1:
        return Text(" out ", style=OUT_STYLE)
    return Text(str(n), style=NODE_STYLE)


def _is_chain(stage: StageGraph) -> bool:
    g = stage.graph
    return all(g.in_degree(n) <= 1 and g.out_degree(n) <= 1 for n in g)


def stage_heading(stage: StageGraph, index: int) -> Text:
    t = Text(f"S{index + 1} ", style="bold")
    t.append(stage_notation(stage.k, stage.bits), style="bold cyan")
    return t


def stage_drawing(stage: StageGraph, index: int | None = None, sharing: str | None = None) -> Text:
    """One stage's graph under a line of figures (and a heading when ``index`` is given)."""
    t = Text(no_wrap=False)
    if index is not None:
        t.append_text(stage_heading(stage, index))
        t.append("\n")
    t.append(f"{stage.num_convs} conv, d={stage.depth}", style="italic dim")
    if sharing:
        t.append(f"\n{sharing}", style="italic dim")
    t.append("\n")
    if stage.is_single_conv:
        t.append_text(_node(stage, 0))
        t.append(" only: one conv", style="dim")
    elif _is_chain(stage):
        import networkx as nx

        for pos, n in enumerate(nx.topological_sort(stage.graph)):
            if pos:
                t.append(" -> ", style="dim")
            t.append_text(_node(stage, n))
    else:
        first = True
        for layer in stage_layers(stage):
            for n in layer:
                if n == 0:
                    continue
                if not first:
                    t.append("\n")
                first = False
                t.append_text(_node(stage, n))
                t.append(" <- ", style="dim")
                preds = sorted(stage.graph.predecessors(n))
                for p_i, p in enumerate(preds):
                    if p_i:
                        t.append("+", style="dim")
                    t.append_text(_node(stage, p))
    if stage.dropped:
        t.append("\ndropped: ", style="dim")
        for d_i, d in enumerate(stage.dropped):
            if d_i:
                t.append(" ")
            t.append(str(d), style=DROP_STYLE)
    return t


def genome_drawing(genome: Genome, sharing: list[str | None] | None = None) -> Table:
    """Every stage of ``genome`` side by side, one column per stage."""
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False, pad_edge=False)
    stages = decode(genome)
    for s, stage in enumerate(stages):
        table.add_column(stage_heading(stage, s), ratio=1, overflow="fold")
    table.add_row(*(stage_drawing(st, None, sharing[s] if sharing else None) for s, st in enumerate(stages)))
    return table


class StageView(Horizontal):
    """Drawings of every stage of one genome side by side, one Static per stage
    (plain Text renders and lays out much faster than a rich Table)."""

    DEFAULT_CSS = """
    StageView { height: auto; }
    StageView > Static { width: 1fr; height: auto; padding-right: 1; }
    """

    def show(self, genome: Genome, sharing: list[str | None] | None = None) -> None:
        stages = decode(genome)
        columns = list(self.query_children(Static))
        if len(columns) != len(stages):
            self.remove_children()
            columns = [Static() for _ in stages]
            self.mount_all(columns)
        for s, (column, stage) in enumerate(zip(columns, stages)):
            text = stage_heading(stage, s)
            text.append("\n")
            text.append_text(stage_drawing(stage, None, sharing[s] if sharing else None))
            column.update(text)
