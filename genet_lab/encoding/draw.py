"""Drawings of stage graphs: plain text for terminals, graphviz for files.

The text drawing lists nodes layer by layer (layer = longest path from the
default input node), each with the nodes it sums, so any DAG reads in 80
columns. The graphviz drawing follows Fig. 1: default nodes in red (input) and
green (output), dropped nodes grey and dashed; an all-zero stage (one convolution,
node 0 alone) still shows its output node, dashed, fed by the input node unchanged.
No torch here.
"""

from __future__ import annotations

import shutil
import textwrap

import networkx as nx

from genet_lab.encoding.genome import Genome, stage_notation
from genet_lab.encoding.graph import StageGraph, decode
from genet_lab.errors import UsageError


def _label(stage: StageGraph, n: int) -> str:
    if n == 0:
        return "in"
    if n == stage.k + 1:
        return "out"
    return str(n)


def stage_layers(stage: StageGraph) -> list[list[int]]:
    """Nodes grouped by their longest distance from the default input node."""
    g = stage.graph
    level: dict[int, int] = {}
    for n in nx.lexicographical_topological_sort(g):
        level[n] = max((level[p] + 1 for p in g.predecessors(n)), default=0)
    layers: list[list[int]] = [[] for _ in range(max(level.values()) + 1)]
    for n, lv in sorted(level.items()):
        layers[lv].append(n)
    return layers


def stage_text(stage: StageGraph, index: int = 0, width: int | None = None) -> list[str]:
    """Lines drawing one stage (index is 0-based, printed 1-based)."""
    notation = stage_notation(stage.k, stage.bits)
    figures = f"({stage.num_convs} conv{'s' if stage.num_convs != 1 else ''}, depth {stage.depth})"
    head = f"Stage {index + 1}  K={stage.k}  {notation}  {figures}"
    if width and len(head) > width:
        lines = [f"Stage {index + 1}  K={stage.k}  {figures}"]
        lines += textwrap.wrap(notation, width, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=True)
    else:
        lines = [head]
    if stage.is_single_conv:
        lines.append("  all bits zero: a single convolution  [in] -> pool")
    else:
        chain = _as_chain(stage)
        if chain is not None:
            names = (f"[{_label(stage, n)}]" if n in (0, stage.k + 1) else f"({n})" for n in chain)
            lines.append("  " + " -> ".join(names))
        else:
            for layer in stage_layers(stage):
                for n in layer:
                    name = f"[{_label(stage, n)}]" if n in (0, stage.k + 1) else f"({n})"
                    preds = stage.predecessors(n)
                    src = " + ".join(_label(stage, p) for p in preds) if preds else "previous stage"
                    lines.append(f"  {name:<6}<- {src}")
    if stage.dropped:
        lines.append("  dropped (isolated): " + ", ".join(map(str, stage.dropped)))
    if width:
        lines = [ln if len(ln) <= width else ln[: width - 1] + "~" for ln in lines]
    return lines


def _as_chain(stage: StageGraph) -> list[int] | None:
    g = stage.graph
    if all(g.in_degree(n) <= 1 and g.out_degree(n) <= 1 for n in g):
        return list(nx.topological_sort(g))
    return None


def genome_text(genome: Genome, width: int | None = 80) -> str:
    """Every stage drawn, one block per stage."""
    blocks = ["\n".join(stage_text(st, s, width)) for s, st in enumerate(decode(genome))]
    return "\n\n".join(blocks)


# -- graphviz -------------------------------------------------------------------

INPUT_COLOR, OUTPUT_COLOR, NODE_COLOR, DROPPED_COLOR = "#d62728", "#2ca02c", "#dbe9f6", "#bbbbbb"


def to_dot(genome: Genome, title: str | None = None) -> str:
    """Graphviz source of every stage, left to right, joined by pooling."""
    lines = ["digraph genet {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];']
    if title:
        lines.append(f'  label="{_esc(title)}"; labelloc=t;')
    prev = None
    for s, st in enumerate(decode(genome)):
        p = f"s{s + 1}_"
        lines.append(f"  subgraph cluster_{s + 1} {{")
        lines.append(f'    label="Stage {s + 1}: {stage_notation(st.k, st.bits)}"; style=rounded; color="#999999";')
        for n in sorted(st.graph.nodes):
            if n == 0:
                attrs = f'label="in", shape=circle, style=filled, fillcolor="{INPUT_COLOR}", fontcolor=white'
            elif n == st.k + 1:
                attrs = f'label="out", shape=circle, style=filled, fillcolor="{OUTPUT_COLOR}", fontcolor=white'
            else:
                attrs = f'label="{n}", shape=circle, style=filled, fillcolor="{NODE_COLOR}"'
            lines.append(f"    {p}{n} [{attrs}];")
        for n in st.dropped:
            attrs = f'label="{n}", shape=circle, style=dashed, color="{DROPPED_COLOR}", fontcolor="{DROPPED_COLOR}"'
            lines.append(f"    {p}{n} [{attrs}];")
        for u, v in sorted(st.graph.edges):
            colour = INPUT_COLOR if u == 0 else OUTPUT_COLOR if v == st.k + 1 else "black"
            lines.append(f'    {p}{u} -> {p}{v} [color="{colour}"];')
        if st.is_single_conv:
            lines += _single_conv_output(p, st.k + 1)
        lines.append("  }")
        if prev is not None:
            lines.append(f'  {prev} -> {p}0 [label="pool", style=bold];')
        prev = f"{p}{st.k + 1}"
    lines.append("}")
    return "\n".join(lines) + "\n"


def _single_conv_output(p: str, out: int) -> list[str]:
    """An all-zero stage's output node: not a convolution (the built graph is node 0 alone), so
    drawn dashed, passing the input node's result on unchanged, as every other stage shows an out."""
    node = (
        f'label="out", shape=circle, style="filled,dashed", fillcolor="{OUTPUT_COLOR}", fontcolor=white, '
        'tooltip="all bits zero: the stage is the input node\'s convolution alone; out is its result"'
    )
    return [
        f"    {p}{out} [{node}];",
        f'    {p}0 -> {p}{out} [color="{OUTPUT_COLOR}", style=dashed, label="identity", fontsize=9];',
    ]


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def have_dot() -> bool:
    """Whether graphviz's ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def render(genome: Genome, fmt: str, title: str | None = None) -> bytes:
    """Render with graphviz to ``svg``, ``png`` or ``dot`` (source, no binary needed)."""
    source = to_dot(genome, title)
    if fmt == "dot":
        return source.encode()
    if fmt not in ("svg", "png"):
        raise ValueError(f"format must be svg, png or dot, got {fmt!r}")
    if not have_dot():
        raise UsageError(
            "graphviz's 'dot' program is not installed (apt-get install graphviz); use --format dot or the text drawing"
        )
    import graphviz

    return graphviz.Source(source).pipe(format=fmt)
