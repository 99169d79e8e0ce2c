"""Terminal drawings of stage graphs, coloured like Fig. 1 of the paper.

The editor's stages panel draws each stage as a graph (layout and character
grid from :mod:`genet_lab.encoding.ascii_graph`, cached per stage): default
input node red, default output node green, dropped nodes grey. Stages stand
side by side when they fit, else one under another (the panel scrolls); a
stage wider than the panel falls back to the list ``3 <- 1+2`` (node 3 sums
nodes 1 and 2). :class:`StageView` draws the editor's stages, the evolution
pane's shown individual and both sides of the compare view. Knows the
genome and graph modules, not torch.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Container, VerticalScroll
from textual.events import Resize
from textual.geometry import Size
from textual.widgets import Static

from genet_lab.encoding.ascii_graph import StageArt, stage_art
from genet_lab.encoding.draw import stage_layers
from genet_lab.encoding.genome import Genome, stage_notation
from genet_lab.encoding.graph import StageGraph, decode

IN_STYLE, OUT_STYLE, NODE_STYLE, DROP_STYLE = "bold white on red", "bold white on green", "bold cyan", "grey50 strike"
ART_STYLES = {
    "input": IN_STYLE,
    "output": OUT_STYLE,
    "node": NODE_STYLE,
    "dropped": "grey42",
    "note": "italic grey42",
    "identity": "green",
    "edge": "",
    "edge-in": "red",
    "edge-out": "green",
}
MIN_COLUMN = 12  # a stage's column, side by side, is at least this wide (headings fold inside it)


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


def art_text(art: StageArt) -> Text:
    """The drawing as Rich text, coloured by the roles of its spans."""
    text = Text("\n".join(art.lines), no_wrap=True, overflow="ignore")
    starts = [0]
    for row in art.lines:
        starts.append(starts[-1] + len(row) + 1)
    for line, start, end, role in art.spans:
        style = ART_STYLES.get(role, "")
        if style:
            text.stylize(style, starts[line] + start, starts[line] + end)
    return text


LIST_NOTE = "(list: the drawing is wider than the panel)"


def stage_panel(
    stage: StageGraph, index: int, sharing: str | None, width: int, note: str = LIST_NOTE, height: int = 0
) -> Text:
    """Heading, figures and the drawing of one stage; the list instead (under ``note``) when the
    drawing is wider than ``width`` (or taller than ``height``, when given)."""
    text = stage_heading(stage, index)
    text.append("\n")
    text.append(f"{stage.num_convs} conv, d={stage.depth}", style="italic dim")
    if sharing:
        text.append(f"\n{sharing}", style="italic dim")
    art = stage_art(stage.k, stage.bits)
    if (width and art.width > width) or (height and len(art.lines) > height):
        text.append(f"\n{note}" if note else "", style="italic dim")
        text.append("\n")
        text.append_text(Text("\n").join(stage_drawing(stage).split("\n")[1:]))
    else:
        text.append("\n")
        text.append_text(art_text(art))
    return text


def side_by_side(genome: Genome, width: int) -> bool:
    """Whether every stage's drawing fits in its share of ``width`` columns."""
    stages = decode(genome)
    column = width // max(1, len(stages))
    return column >= MIN_COLUMN and all(stage_art(st.k, st.bits).width < column for st in stages)


class NoSecondLayout:
    """A widget whose size (or scrollable size) follows its content, laid out once per change.

    Textual answers a size change found by a layout with another full layout: the screen's
    reflow hands each widget its new size through ``Widget._size_updated``, which sets the
    layout reactive ``virtual_size``. A drawing that grows or shrinks on a bit toggle thus cost
    a second frame (about 25 ms at 80x24; tests/tui/test_editor.py counts the frames). For these
    widgets nothing is laid out by that value: the first reflow already placed them at their new
    size, so the change is recorded without asking for another. (A scrollbar that appears or
    goes re-lays out through its own reactive, ``show_vertical_scrollbar``.)
    """

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)  # type: ignore[misc]


class StagePanel(NoSecondLayout, Static):
    """One stage's heading, figures and drawing (its height follows the drawing)."""


class StagesBox(NoSecondLayout, VerticalScroll):
    """The scrolling box around a :class:`StageView`."""


class StageView(NoSecondLayout, Container):
    """Drawings of every stage of one genome, one Static per stage: side by side
    when they fit the panel's width, otherwise one under another (``stack``, the
    editor's and the compare view's), or still side by side with each stage that
    does not fit its column (or ``max_height``) as its list (``stack=False``: a small
    panel, such as the evolution pane's detail, keeps every stage in view)."""

    DEFAULT_CSS = """
    StageView { height: auto; layout: horizontal; }
    StageView.stacked { layout: vertical; }
    StageView > StagePanel { width: 1fr; height: auto; padding-right: 1; }
    StageView.stacked > StagePanel { width: 1fr; margin-bottom: 1; }
    """

    def __init__(self, stack: bool = True, **kw) -> None:
        super().__init__(**kw)
        self.stack = stack
        self._shown: tuple[Genome, list[str | None] | None, int] | None = None
        self._width = 0

    def show(self, genome: Genome, sharing: list[str | None] | None = None, max_height: int = 0) -> None:
        """Draw ``genome``; a drawing taller than ``max_height`` rows (when given) is listed."""
        self._shown = (genome, sharing, max_height)
        stages = decode(genome)
        width = self._width = self.size.width
        stacked = self.stack and bool(width) and not side_by_side(genome, width)
        self.set_class(stacked, "stacked")
        column = width if stacked else width // max(1, len(stages)) - 1
        columns = list(self.query_children(StagePanel))
        if len(columns) != len(stages):
            self.remove_children()
            columns = [StagePanel() for _ in stages]
            self.mount_all(columns)
        note = LIST_NOTE if self.stack else ""  # a small panel: the list says itself what it is
        for s, (widget, stage) in enumerate(zip(columns, stages)):
            widget.update(stage_panel(stage, s, sharing[s] if sharing else None, max(column, 0), note, max_height))

    def on_resize(self, event: Resize) -> None:
        # the height follows the drawings; only a new width calls for another arrangement
        if self._shown is not None and event.size.width != self._width:
            self.show(*self._shown)
