"""The genome editor pane: bits, notation, stage drawings and live figures.

Every edit goes through :class:`~genet_lab.tui.model.EditorModel` (so it can
be undone) and is followed by one synchronous redraw; the only slow figure,
the sharing count of a K=6 stage, is computed once in a thread worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from genet_lab.encoding import genome as gn
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import structure_hash
from genet_lab.encoding.presets import get_preset, list_presets
from genet_lab.training.catalog import DEFAULT_PRESET
from genet_lab.tui.bits import BitGrid, notation_line
from genet_lab.tui.dialogs import GenomeInput, Prompt
from genet_lab.tui.figures import LAZY_SHARING_K, Figures, sharing_counts
from genet_lab.tui.graph_image import GraphImage
from genet_lab.tui.model import EditorModel, resolve_genome
from genet_lab.tui.stage_view import StagesBox, StageView

NAMED_CYCLE = ("zeros", "chain", "residual", "dense", "residual-40", "paper-best")


class EditorPane(Vertical):
    """Edit a genome bit by bit and see what it builds."""

    BINDINGS = [
        Binding("space", "toggle_bit", "Toggle"),
        Binding("enter", "toggle_bit", "Toggle", show=False),
        Binding("left,h", "move(-1)", "←", show=False),
        Binding("right,l", "move(1)", "→", show=False),
        Binding("up,k", "move_stage(-1)", "↑", show=False),
        Binding("down,j", "move_stage(1)", "↓", show=False),
        Binding("z", "stamp('zero')", "Zero", show=False),
        Binding("c", "stamp('chain')", "Chain", show=False),
        Binding("r", "stamp('residual')", "Resid", show=False),
        Binding("d", "stamp('dense')", "Dense", show=False),
        Binding("u", "undo", "Undo"),
        Binding("ctrl+r,U", "redo", "Redo"),
        Binding("plus,equals_sign", "resize_stage(1)", "+Node", key_display="+", show=False),
        Binding("minus", "resize_stage(-1)", "-Node", key_display="-", show=False),
        Binding("a", "add_stage", "+Stage", show=False),
        Binding("x", "remove_stage", "-Stage", show=False),
        Binding("n", "next_named", "Named"),
        Binding("g", "type_genome", "Type", show=False),
        Binding("p", "next_preset", "Preset"),
        Binding("y", "copy", "Copy"),
        Binding("s", "export", "Export"),
        Binding("ctrl+s", "save_genome", "Save", show=False),
        Binding("ctrl+o", "load_genome", "Load", show=False),
        Binding("m", "mark", "Mark A", show=False),
        Binding("v", "compare", "Compare", show=False),
        Binding("i", "graph_image", "Graphviz", show=False),
    ]

    @dataclass
    class Changed(Message):
        """The edited genome changed (other panes train or seed from it)."""

        genome: Genome

    def __init__(self, genome: Genome, preset: str = DEFAULT_PRESET, export_dir: Path | None = None, **kw) -> None:
        super().__init__(**kw)
        self.model = EditorModel(genome)
        self.preset = preset
        self.export_dir = Path(export_dir) if export_dir else Path.cwd()
        self.ready_k: set[int] = set()
        self._warming: set[int] = set()
        self.last_redraw_ms = 0.0
        self._named = -1
        self.marked: Genome | None = None
        """Genome A of the compare view (``m``)."""
        self.image_shown = False
        """The graphviz drawing is shown in place of the stage graphs (``i``)."""

    @property
    def genome(self) -> Genome:
        return self.model.genome

    def compose(self) -> ComposeResult:
        yield Static(id="notation")
        with Vertical(id="bits-box") as box:
            box.border_title = "bits (grouped by target node)"
            box.border_subtitle = "z c r d: stage pattern  +/-: node  a/x: stage  g: type"
            yield BitGrid(self.genome, id="bits")
            yield Static(id="where")
        with Horizontal(id="views"):
            with StagesBox(id="stages-box") as sbox:
                sbox.border_title = "stages"
                yield StageView(id="stages")
            with VerticalScroll(id="figures-box") as fbox:
                fbox.border_title = "figures"
                yield Figures(id="figures")

    def on_mount(self) -> None:
        self.redraw()

    # -- drawing ----------------------------------------------------------------
    def redraw(self) -> None:
        start = time.perf_counter()
        g, m = self.genome, self.model
        pos = m.position
        self.query_one("#notation", Static).update(notation_line(g, structure_hash(g)))
        self.query_one(BitGrid).show(g, m.cursor)
        self.query_one("#where", Static).update(
            f"[dim]stage {pos.stage + 1}, bit {pos.offset + 1}/{len(g.stage_bits(pos.stage))}: "
            f"edge {pos.i}→{pos.j} = node {pos.j} sums node {pos.i}[/dim]"
        )
        self._warm_missing()
        sharing = sharing_counts(g, self.ready_k)
        labels = [None if n is None else f"{n} alike" for n in sharing]
        self.query_one(StageView).show(g, labels)
        if self.image_shown:
            self.query_one(GraphImage).show(g)
        self.query_one(Figures).show(g, get_preset(self.preset), sharing)
        self.last_redraw_ms = (time.perf_counter() - start) * 1000

    def _warm_missing(self) -> None:
        for k in set(self.genome.stages):
            if k <= LAZY_SHARING_K and k not in self.ready_k and k not in self._warming:
                self._warming.add(k)
                self._warm(k)

    @work(thread=True, group="sharing")
    def _warm(self, k: int) -> None:
        from genet_lab.encoding.space import stage_classes

        stage_classes(k)
        self.app.call_from_thread(self._warmed, k)

    def _warmed(self, k: int) -> None:
        self._warming.discard(k)
        self.ready_k.add(k)
        if k in self.genome.stages:
            self.redraw()

    def _changed(self, changed: bool = True) -> None:
        self.redraw()
        if changed:
            self.post_message(self.Changed(self.genome))

    def _try(self, fn, *args) -> None:
        try:
            changed = fn(*args)
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return
        self._changed(changed)

    # -- actions ------------------------------------------------------------------
    def action_toggle_bit(self) -> None:
        self._try(self.model.toggle)

    def on_bit_grid_clicked(self, message: BitGrid.Clicked) -> None:
        self._try(self.model.toggle, message.index)

    def action_move(self, delta: int) -> None:
        self.model.move(delta)
        self._changed(False)

    def action_move_stage(self, delta: int) -> None:
        self.model.move_stage(delta)
        self._changed(False)

    def action_stamp(self, pattern: str) -> None:
        self._try(self.model.stamp, pattern)

    def action_undo(self) -> None:
        if not self.model.undo():
            self.notify("nothing to undo")
        self._changed()

    def action_redo(self) -> None:
        if not self.model.redo():
            self.notify("nothing to redo")
        self._changed()

    def action_resize_stage(self, delta: int) -> None:
        self._try(self.model.resize_stage, delta)

    def action_add_stage(self) -> None:
        self._try(self.model.add_stage)

    def action_remove_stage(self) -> None:
        self._try(self.model.remove_stage)

    def set_genome(self, genome: Genome, label: str | None = None) -> None:
        self._try(self.model.set_genome, genome)
        if label:
            self.notify(f"{label}: {genome.notation()}", timeout=3)

    def action_next_named(self) -> None:
        self._named = (self._named + 1) % len(NAMED_CYCLE)
        name = NAMED_CYCLE[self._named]
        stages = None if name in ("residual-40", "paper-best") else self.genome.stages
        self.set_genome(gn.named(name, stages), name)

    def typed_genome(self, text: str) -> Genome:
        """A genome as typed in the ``g`` dialog: notation, a name, or a plain bit string of the
        current genome's stages (ValueError says the expected length)."""
        word = text.strip()
        if len(word) > 1 and set(word) <= {"0", "1"}:
            g = self.genome
            if len(word) != g.length:
                raise ValueError(
                    f"a plain bit string needs {g.length} bits for the current stages "
                    f"{','.join(map(str, g.stages))}, got {len(word)}; or type the notation "
                    "(1-01 0-01-100 ...)"
                )
            return resolve_genome(word, g.stages)
        return resolve_genome(word)

    def action_type_genome(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.set_genome(self.typed_genome(text))  # checked already: the dialog stays open on errors

        g = self.genome
        self.app.push_screen(
            GenomeInput(g.notation(), g.length, ",".join(map(str, g.stages)), check=self.typed_genome), done
        )

    # -- files and comparing --------------------------------------------------------
    def _default_file(self, suffix: str) -> str:
        return str(self.export_dir / f"genome-{structure_hash(self.genome)}{suffix}")

    def save_genome(self, text: str) -> Path:
        """Write the genome in the paper's notation to ``text`` (the format of ``--init FILE``)."""
        from genet_lab.fileio import atomic_write

        if not text:
            raise ValueError("give a file name")
        path = Path(text).expanduser()
        atomic_write(
            path,
            f"# genet-lab genome, paper notation (genet-lab evolve --init reads this)\n"
            f"{self.genome.notation()}\n".encode(),
            "genome file",
        )
        return path

    def load_genome(self, text: str) -> Genome:
        """The genome of a file (one genome in the paper's notation, as ``--init FILE`` reads)."""
        from genet_lab.evolution.operators import read_genome_file

        if not text:
            raise ValueError("give a file name")
        genomes = read_genome_file(Path(text).expanduser())
        if len(genomes) > 1:
            self.notify(f"{text} lists {len(genomes)} genomes: loaded the first", severity="warning")
        return genomes[0]

    def action_save_genome(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.notify(f"saved {self.genome.notation()} to {Path(text).expanduser()}", timeout=6)

        self.app.push_screen(
            Prompt(
                "Save the genome to a file (paper notation; genet-lab evolve --init reads it):",
                self._default_file(".txt"),
                check=self.save_genome,
            ),
            done,
        )

    def action_load_genome(self) -> None:
        loaded: list[Genome] = []

        def check(text: str) -> None:
            loaded[:] = [self.load_genome(text)]

        def done(text: str | None) -> None:
            if text and loaded:
                self.set_genome(loaded[0], f"loaded {text}")

        self.app.push_screen(
            Prompt(
                "Load a genome from a file (paper notation, a plain bit string or a name):",
                self._default_file(".txt"),
                check=check,
            ),
            done,
        )

    def action_mark(self) -> None:
        self.marked = self.genome
        self.notify(f"marked as A: {self.genome.notation()} (v compares it with the edited genome)", timeout=4)

    def action_compare(self) -> None:
        from genet_lab.tui.compare import CompareScreen

        if self.marked is None:
            self.notify(
                "mark a genome first: m marks the edited genome as A, then edit and press v", severity="warning"
            )
            return
        self.app.push_screen(CompareScreen(self.marked, self.genome, self.preset))

    async def action_graph_image(self) -> None:
        """The graphviz drawing in place of the stage graphs (``i`` again: back), drawn again as bits change;
        without textual-image (or graphviz) a notification says what to install."""
        from genet_lab.tui.graph_image import missing

        if not self.query(GraphImage):
            why = missing()
            if why:
                self.notify(why, severity="warning", timeout=10)
                return
            box = GraphImage(id="graph-box")
            box.border_title = "graphviz drawing (i: the stage graphs again)"
            await self.query_one("#views").mount(box, before="#figures-box")
        self.image_shown = not self.image_shown
        self.query_one(GraphImage).display = self.image_shown
        self.query_one("#stages-box").display = not self.image_shown
        if self.image_shown:
            self.query_one(GraphImage).show(self.genome)

    def action_next_preset(self) -> None:
        names = list_presets()
        self.preset = names[(names.index(self.preset) + 1) % len(names)] if self.preset in names else names[0]
        self.redraw()
        self.notify(f"preset {self.preset}: {get_preset(self.preset).description[:70]}", timeout=3)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.genome.notation())
        self.notify(f"copied {self.genome.notation()}")

    def action_export(self) -> None:
        """Ask where to write the drawing (default: ``genome-KEY`` in the export folder), then write it."""

        def done(text: str | None) -> None:
            if text:
                self.notify(
                    self._export_note,
                    severity="warning" if "not installed" in self._export_note else "information",
                    timeout=8,
                )

        self._export_note = ""
        self.app.push_screen(
            Prompt(
                "Export the drawing to (FILE.svg, .png, .pdf or .dot; without a suffix: SVG and PNG):",
                self._default_file(""),
                check=self.export,
            ),
            done,
        )

    def export(self, text: str) -> list[Path]:
        """Write the drawing to ``text``: one format by its suffix, or SVG and PNG (the dot source
        without graphviz) for a name without one. Raises OSError/ValueError."""
        from genet_lab.encoding import draw

        if not text:
            raise ValueError("give a file name")
        target = Path(text).expanduser()
        if target.is_dir():
            target = target / f"genome-{structure_hash(self.genome)}"
        suffix = target.suffix.lower().lstrip(".")
        formats = [suffix] if suffix in ("svg", "png", "pdf", "dot") else ["svg", "png"]
        stem = target.with_suffix("") if suffix in formats else target
        if not draw.have_dot() and formats != ["dot"]:
            path = Path(f"{stem}.dot")
            path.write_bytes(draw.render(self.genome, "dot", title=self.genome.notation()))
            self._export_note = f"graphviz 'dot' is not installed: wrote the source {path} (apt-get install graphviz)"
            return [path]
        written = []
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            path.write_bytes(draw.render(self.genome, fmt, title=self.genome.notation()))
            written.append(path)
        self._export_note = "exported " + ", ".join(str(p) for p in written)
        return written
