"""The genet-lab Textual application: editor, training and evolution panes.

Never imports torch: training runs as a ``genet-lab train`` subprocess whose
JSON-lines events are read by a worker, and evolution is watched through the
run store that the ``genet-lab evolve`` process writes.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, TabbedContent, TabPane

from genet_lab.encoding.genome import Genome, zeros
from genet_lab.tui.editor import EditorPane
from genet_lab.tui.help import HelpScreen

if TYPE_CHECKING:  # imported where used: the panes load on first compose
    from genet_lab.tui.evolution import EvolutionPane
    from genet_lab.tui.train_panel import TrainPane

TABS = ("editor", "train", "evolution")


class GenetLabApp(App[None]):
    """``genet-lab tui``."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere keep it
    TITLE = "genet-lab"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("1", "show_tab('editor')", "Editor"),
        Binding("2", "show_tab('train')", "Train"),
        Binding("3", "show_tab('evolution')", "Evolve"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, genome: Genome | None = None, run_dir: Path | None = None,
                 export_dir: Path | None = None, python: str | None = None, **kw) -> None:
        super().__init__(**kw)
        self.start_genome = genome or zeros()
        self.run_dir = Path(run_dir) if run_dir else None
        self.export_dir = export_dir
        self.python = python

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="evolution" if self.run_dir else "editor", id="tabs"):
            with TabPane("1 Editor", id="editor"):
                yield EditorPane(self.start_genome, export_dir=self.export_dir, id="editor-pane")
            with TabPane("2 Train", id="train"):
                yield from self._train_pane()
            with TabPane("3 Evolution", id="evolution"):
                yield from self._evolution_pane()
        yield Footer()

    def _train_pane(self):
        from genet_lab.tui.train_panel import TrainPane

        yield TrainPane(self.start_genome, python=self.python, id="train-pane")

    def _evolution_pane(self):
        from genet_lab.tui.evolution import EvolutionPane

        yield EvolutionPane(self.start_genome, run_dir=self.run_dir, python=self.python, id="evolution-pane")

    def on_mount(self) -> None:
        self._focus_tab(self.query_one(TabbedContent).active)

    @property
    def editor(self) -> EditorPane:
        return self.query_one(EditorPane)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_tab(tab)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab(event.pane.id or "")

    def _focus_tab(self, tab: str) -> None:
        if tab == "editor":
            widget = self.query_one("#bits")
        else:
            pane = cast("TrainPane | EvolutionPane", self.query_one(f"#{tab}-pane"))
            widget = pane.default_focus()
        self.set_focus(widget, scroll_visible=False)

    def on_editor_pane_changed(self, message: EditorPane.Changed) -> None:
        for pane_id in ("#train-pane", "#evolution-pane"):
            for pane in self.query(pane_id):
                cast("TrainPane | EvolutionPane", pane).set_genome(message.genome)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
