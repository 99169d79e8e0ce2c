"""The graphviz drawing of the edited genome (the paper's Figure 5 look) as an image in the terminal.

Optional: the image widget is ``textual-image`` (the ``tui-image`` extra), which draws with the
Kitty graphics protocol or Sixel where the terminal supports them, in half cells or Unicode shades
elsewhere; the drawing is graphviz's ``dot`` (:func:`genet_lab.encoding.draw.render`). Without one
of them :func:`missing` says, in one line, what to install. textual-image asks the terminal what it
supports when it is first imported, which it can no longer do once Textual has taken the terminal:
:func:`prepare` imports it early. ``dot`` runs in a thread worker (tens of ms) each time the genome
changes while the drawing is shown. No torch.
"""

from __future__ import annotations

import contextlib
import io
import sys

from textual import work
from textual.containers import VerticalScroll
from textual.widgets import Static

from genet_lab.encoding import draw
from genet_lab.encoding.genome import Genome

INSTALL = "pip install 'genet-lab[tui-image]' (or pip install textual-image)"


def prepare() -> None:
    """Import textual-image while the terminal can still be asked what it draws (a terminal only)."""
    if sys.__stdout__ is not None and sys.__stdout__.isatty():
        with contextlib.suppress(ImportError):
            import textual_image.widget  # noqa: F401


def missing() -> str | None:
    """None when the drawing can be shown; else one line naming what to install."""
    try:
        import textual_image.widget  # noqa: F401
    except ImportError:
        return f"the graphviz drawing in the terminal needs textual-image: {INSTALL}"
    if not draw.have_dot():
        return "the graphviz drawing needs graphviz's 'dot' program: apt-get install graphviz (or your system's)"
    return None


class GraphImage(VerticalScroll):
    """The drawing of the last genome given to :meth:`show` (mounted only when :func:`missing` is None)."""

    DEFAULT_CSS = """
    GraphImage #graph-image { width: 100%; height: auto; }
    GraphImage #graph-note { height: auto; color: $text-muted; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.genome: Genome | None = None
        self.rendered: Genome | None = None
        """The genome whose drawing is on screen (None until the first is)."""

    def compose(self):
        from textual_image.renderable import Image as Renderable
        from textual_image.renderable.unicode import Image as Shades
        from textual_image.widget import HalfcellImage, Image

        yield Static("drawing ...", id="graph-note")
        # no terminal to ask (a screenshot, a pipe): coloured half cells rather than grey shades
        yield (HalfcellImage if Renderable is Shades else Image)(id="graph-image")

    def show(self, genome: Genome) -> None:
        """Draw ``genome`` (in a worker; a newer genome given meanwhile replaces it)."""
        if genome != self.genome:
            self.genome = genome
            self._render_png(genome)

    @work(thread=True, exclusive=True, group="graph-image")
    def _render_png(self, genome: Genome) -> None:
        try:
            png = draw.render(genome, "png", title=genome.notation())
        except Exception as exc:  # dot failed: say so in the box, the lab goes on
            self.app.call_from_thread(self._failed, genome, f"graphviz failed: {exc}")
            return
        self.app.call_from_thread(self._drawn, genome, png)

    def _drawn(self, genome: Genome, png: bytes) -> None:
        if genome != self.genome:
            return  # a newer genome is being drawn
        from PIL import Image as PILImage

        self.query_one("#graph-image").image = PILImage.open(io.BytesIO(png))  # type: ignore[attr-defined]
        self.query_one("#graph-note", Static).update(f"graphviz: {genome.notation()}")
        self.rendered = genome

    def _failed(self, genome: Genome, message: str) -> None:
        if genome == self.genome:
            self.query_one("#graph-note", Static).update(message)
