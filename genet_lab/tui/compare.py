"""Two genomes side by side: stage graphs, figures, structure keys and the bits that differ.

The editor marks a genome as A (``m``) and ``v`` opens this screen with A beside the
genome being edited (B). Differing bits are highlighted in both notations; genomes with
other stage sizes cannot be compared bit by bit, and the screen says so. The stage graphs are drawn
as the editor draws them (:class:`~genet_lab.tui.stage_view.StageView`: side by side where they fit,
a stage wider than its half as its list of inputs). No torch.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import structure_hash
from genet_lab.encoding.presets import get_preset
from genet_lab.training.catalog import DEFAULT_PRESET
from genet_lab.tui.figures import human
from genet_lab.tui.model import locate
from genet_lab.tui.stage_view import StageView

DIFF_STYLE = "bold reverse red"


def differing_bits(a: Genome, b: Genome) -> list[int] | None:
    """Flat indices where ``a`` and ``b`` differ; None when their stages differ (not comparable)."""
    if a.stages != b.stages:
        return None
    return [i for i, (x, y) in enumerate(zip(a.bits, b.bits)) if x != y]


def marked_notation(genome: Genome, diff: set[int]) -> Text:
    """The paper's notation with the bits at ``diff`` highlighted."""
    text = Text()
    index = 0
    for s, (k, _) in enumerate(genome.iter_stages()):
        if s:
            text.append(" ")
        for j in range(2, k + 1):
            if j > 2:
                text.append("-")
            for _ in range(j - 1):
                text.append(str(genome.bits[index]), style=DIFF_STYLE if index in diff else "")
                index += 1
    return text


def diff_summary(a: Genome, b: Genome) -> Text:
    diff = differing_bits(a, b)
    same = structure_hash(a) == structure_hash(b)
    if diff is None:
        line = (
            f"stages differ ({','.join(map(str, a.stages))} against {','.join(map(str, b.stages))}): "
            "no bit-by-bit comparison"
        )
    elif not diff:
        line = "the same bits"
    else:
        where = []
        for i in diff[:8]:
            pos = locate(a, i)
            where.append(f"stage {pos.stage + 1} {pos.i}→{pos.j}")
        more = f" and {len(diff) - 8} more" if len(diff) > 8 else ""
        line = f"{len(diff)} bit(s) differ: " + ", ".join(where) + more
    return Text.assemble(
        (line, "bold"), "  ", ("same structure" if same else "different structures", "green" if same else "yellow")
    )


def side(label: str, genome: Genome, diff: set[int], preset: str) -> Text:
    """One side's heading: its notation (differing bits marked) and figures."""
    c = complexity(genome, get_preset(preset))
    head = Text.assemble((label, "bold"), "  ", marked_notation(genome, diff), "\n")
    head.append(
        f"structure {structure_hash(genome)}\n{human(c.params)} params · {human(c.macs)} mult-adds · "
        f"depth {c.depth} ({preset})",
        style="dim",
    )
    return head


class CompareScreen(ModalScreen[None]):
    """A (marked) and B (the editor's genome) side by side; Escape closes."""

    BINDINGS = [Binding("escape,v,q", "dismiss(None)", "Close")]
    DEFAULT_CSS = """
    CompareScreen { align: center middle; }
    CompareScreen > Vertical { width: 100%; height: 100%; border: thick $accent; background: $surface; padding: 0 1; }
    CompareScreen #cmp-summary { height: auto; }
    CompareScreen #cmp-sides { height: 1fr; }
    CompareScreen VerticalScroll { width: 1fr; border: round $primary-darken-1; padding: 0 1; }
    CompareScreen StageView { margin-top: 1; }
    """

    def __init__(self, a: Genome, b: Genome, preset: str = DEFAULT_PRESET) -> None:
        super().__init__()
        self.a, self.b, self.preset = a, b, preset
        self.diff = differing_bits(a, b)

    def compose(self) -> ComposeResult:
        diff = set(self.diff or ())
        with Vertical() as box:
            box.border_title = "compare: A (marked with m) and B (the editor)"
            box.border_subtitle = "Escape closes"
            yield Static(diff_summary(self.a, self.b), id="cmp-summary")
            with Horizontal(id="cmp-sides"):
                for label, genome in (("A", self.a), ("B", self.b)):
                    with VerticalScroll(id=f"cmp-{label.lower()}"):
                        yield Static(side(label, genome, diff, self.preset))
                        yield StageView(classes="cmp-stages")

    def on_mount(self) -> None:
        for view, genome in zip(self.query(".cmp-stages").results(StageView), (self.a, self.b)):
            view.show(genome)
