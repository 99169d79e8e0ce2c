"""The bit grid: one line per stage, bits grouped by target node as in the paper.

``S2 K=4  0-01-100`` reads: node 2 sums node 1 (bit 0), node 3 sums nodes
1, 2 (bits 01), node 4 sums nodes 1, 2, 3 (bits 100). A render-only widget:
it draws a genome and a cursor and reports clicks; the editor owns the state.
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from genet_lab.encoding.genome import Genome, stage_length


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

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        self._hit.clear()
        offsets = self.genome.stage_offsets()
        width = max(len(str(k)) for k in self.genome.stages)
        for s, k in enumerate(self.genome.stages):
            if s:
                out.append("\n")
            prefix = f"S{s + 1} K={k:<{width}}  "
            out.append(prefix, style="bold")
            x, start = len(prefix), offsets[s]
            for j in range(2, k + 1):
                if j > 2:
                    out.append("-", style="dim")
                    x += 1
                for i in range(1, j):
                    index = start + stage_length(j - 1) + i - 1
                    bit = self.genome.bits[index]
                    style = "bold green" if bit else "grey50"
                    if index == self.cursor:
                        style = "reverse bold yellow" if self.has_focus else "reverse"
                    out.append(str(bit), style=style)
                    self._hit[(x, s)] = index
                    x += 1
        return out

    def get_content_height(self, container, viewport, width: int) -> int:
        return self.genome.num_stages

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
