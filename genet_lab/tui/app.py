"""The genet-lab Textual application: editor, training and evolution panes.

Never imports torch: training runs as a ``genet-lab train`` subprocess whose
JSON-lines events are read by a worker, and evolution is watched through the
run store that the ``genet-lab evolve`` process writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.widgets import Footer, TabbedContent, TabPane

from genet_lab.encoding.genome import Genome, zeros
from genet_lab.tui.dialogs import ConfirmQuit
from genet_lab.tui.editor import EditorPane
from genet_lab.tui.graph_image import prepare as prepare_image
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
        # the tabs read "1 Editor 2 Train 3 Evolution": the footer keeps its room for the pane's keys
        Binding("1", "show_tab('editor')", "Editor", show=False),
        Binding("2", "show_tab('train')", "Train", show=False),
        Binding("3", "show_tab('evolution')", "Evolve", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("f12", "take_screenshot", "Screenshot", show=False),
    ]

    def __init__(
        self,
        genome: Genome | None = None,
        run_dir: Path | None = None,
        export_dir: Path | None = None,
        python: str | None = None,
        **kw,
    ) -> None:
        super().__init__(**kw)
        prepare_image()  # before Textual takes the terminal: textual-image asks it what it draws
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
        yield Footer(compact=True)

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

    # -- routing: panes post messages up, the app sets attributes down ---------------------------
    def on_editor_pane_changed(self, message: EditorPane.Changed) -> None:
        for pane_id in ("#train-pane", "#evolution-pane"):
            for pane in self.query(pane_id):
                cast("TrainPane | EvolutionPane", pane).genome = message.genome

    def on_train_pane_edit_genome(self, message: TrainPane.EditGenome) -> None:
        self._edit(message.genome, message.label)

    def on_evolution_pane_edit_genome(self, message: EvolutionPane.EditGenome) -> None:
        self._edit(message.genome, message.label)

    def _edit(self, genome: Genome, label: str) -> None:
        self.editor.set_genome(genome, label)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is shown as plain text: they carry paths, genomes typed by the user and
        error messages, and one ``[/b]`` in them must not be read as markup (nor crash the lab)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def busy(self) -> list[str]:
        """What quitting would end: the evolution and the training this process started."""
        reasons = []
        for evo in self.query("#evolution-pane"):
            control = cast("EvolutionPane", evo).control
            if control is not None and control.running:
                command = control.command
                reasons.append(
                    f"An evolution is running in this process ({escape(str(control.run_dir))}). Quitting stops it; "
                    f"the run stays resumable with [b]genet-lab {command} --resume {escape(str(control.run_dir))}[/b] "
                    "(or o, then r, in this lab)."
                )
        for train in self.query("#train-pane"):
            pane = cast("TrainPane", train)
            if pane.running and pane.results:
                r = pane.results[-1]
                reasons.append(
                    f"A training is running ({escape(r.genome)} on {escape(r.dataset)}). Quitting cancels it: "
                    "its result is lost."
                )
        return reasons

    async def action_quit(self) -> None:
        """Quit at once when nothing runs; else ask first (the run stays resumable, say how)."""
        reasons = self.busy()
        if not reasons:
            self.exit()
            return
        if isinstance(self.screen, ConfirmQuit):
            return

        def answered(quit_: bool | None) -> None:
            if quit_:
                self.exit()

        self.push_screen(ConfirmQuit(reasons), answered)

    def action_take_screenshot(self) -> None:
        """An SVG of the screen (Textual's own screenshot), in the export folder or the current one."""
        try:
            path = self.save_screenshot(path=str(self.export_dir or Path.cwd()))
        except OSError as exc:
            self.notify(f"screenshot failed: {exc}", severity="error", timeout=8)
            return
        self.notify(f"screenshot written: {path}", timeout=8)
