"""The bit grid: one line per stage, bits grouped by target node as in the paper.

``S2 K=4  0-01-100`` reads: node 2 sums node 1 (bit 0), node 3 sums nodes
1, 2 (bits 01), node 4 sums nodes 1, 2, 3 (bits 100). A render-only widget:
it draws a genome and a cursor and reports clicks; the editor owns the state.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget

from genet_lab.encoding.genome import Genome, stage_length


def notation_line(genome: Genome, key: str) -> Table:
    """``Genome  <notation>  <structure key>``; a notation too long for a line wraps under itself
    (between stages, or inside a stage that alone is longer than the line)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(Text("Genome", style="bold"), Text.assemble((f" {genome.notation()} ", "reverse"), "  ", (key, "dim")))
    return grid


class BitGrid(Widget, can_focus=True):
    """Bits of every stage, with a cursor; a click toggles the bit under it."""

    DEFAULT_CSS = """
    BitGrid { height: auto; }
    """

    @dataclass
    class Clicked(Message):
        """The user clicked on the bit at flat position ``index``."""

        index: int

    def __init__(self, genome: Genome, cursor: int = 0, **kw) -> None:
        super().__init__(**kw)
        self.genome = genome
        self.cursor = cursor
        self._hit: dict[tuple[int, int], int] = {}

    def show(self, genome: Genome, cursor: int) -> None:
        self.genome, self.cursor = genome, cursor
        self.refresh(layout=True)
        self.call_after_refresh(self._cursor_in_view)

    def _cursor_in_view(self) -> None:
        box = self.parent
        if isinstance(box, Widget) and self.is_mounted:
            y = self.virtual_region.y + self.cursor_line()
            box.scroll_to_region(Region(0, y, 1, 1), animate=False, immediate=True)

    def rows(self, width: int) -> list[list[tuple[str, str, int | None]]]:
        """The grid as screen lines of (text, style, bit index or None) cells, ``width`` columns wide.

        A stage longer than the width wraps under its first bit, between target-node groups
        where a group fits on a line (inside a group where it does not), so no bit is ever cut.
        """
        out: list[list[tuple[str, str, int | None]]] = []
        offsets = self.genome.stage_offsets()
        kw = max(len(str(k)) for k in self.genome.stages)
        for s, k in enumerate(self.genome.stages):
            prefix = f"S{s + 1} K={k:<{kw}}  "
            indent = len(prefix)
            line: list[tuple[str, str, int | None]] = [(prefix, "bold", None)]
            x = indent
            for j in range(2, k + 1):
                group = [offsets[s] + stage_length(j - 1) + i - 1 for i in range(1, j)]
                sep = 1 if j > 2 else 0
                if x > indent and x + sep + len(group) > width:  # the group goes to the next line
                    out.append(line)
                    line, x, sep = [(" " * indent, "", None)], indent, 0
                if sep:
                    line.append(("-", "dim", None))
                    x += 1
                for index in group:
                    if x >= width and x > indent:  # a group longer than a line: break inside it
                        out.append(line)
                        line, x = [(" " * indent, "", None)], indent
                    bit = self.genome.bits[index]
                    style = "bold green" if bit else "grey50"
                    if index == self.cursor:
                        style = "reverse bold yellow" if self.has_focus else "reverse"
                    line.append((str(bit), style, index))
                    x += 1
            out.append(line)
        return out

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        self._hit.clear()
        for y, line in enumerate(self.rows(max(self.size.width, 1))):
            if y:
                out.append("\n")
            x = 0
            for text, style, index in line:
                out.append(text, style=style)
                if index is not None:
                    self._hit[(x, y)] = index
                x += len(text)
        return out

    def cursor_line(self) -> int:
        """The screen line of the cursor (to keep it in view)."""
        for y, line in enumerate(self.rows(max(self.size.width, 1))):
            if any(index == self.cursor for _, _, index in line):
                return y
        return 0

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.rows(max(width, 1)))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self._hit.get((offset.x, offset.y))
        if index is not None:
            self.post_message(self.Clicked(index))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
