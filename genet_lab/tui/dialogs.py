"""Small modal dialogs shared by the panes (typing a genome, a path, confirming quit)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from genet_lab.errors import UsageError


class Prompt(ModalScreen[str | None]):
    """Ask for one line of text; Enter returns it, Escape returns None.

    With ``check``, Enter first calls ``check(text)``: a ValueError or OSError (UsageError is a
    ValueError) keeps the dialog open, the text as typed and the one-line error under the input.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    Prompt { align: center middle; }
    Prompt > Vertical { width: 100%; max-width: 90; height: auto; border: thick $accent; background: $surface;
                        padding: 0 1; }
    Prompt Label { width: 100%; }
    Prompt .prompt-error { width: 100%; height: auto; color: $error; }
    """

    def __init__(
        self, title: str, value: str = "", placeholder: str = "", check: Callable[[str], object] | None = None
    ) -> None:
        super().__init__()
        self._title, self._value, self._placeholder, self._check = title, value, placeholder, check
        self.error = ""
        """The last error shown under the input ('' when none)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title)
            yield Input(self._value, placeholder=self._placeholder)
            yield Static("", classes="prompt-error")
            yield Label("[dim]Enter to accept, Escape to cancel[/dim]")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self._check is not None:
            try:
                self._check(text)
            except (ValueError, OSError, UsageError) as exc:
                self.error = " ".join(str(exc).split())
                self.query_one(".prompt-error", Static).update(Text(f"error: {self.error}"))
                return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GenomeInput(Prompt):
    def __init__(
        self, value: str = "", bits: int | None = None, stages: str = "", check: Callable[[str], object] | None = None
    ) -> None:
        plain = f", {bits} plain bits (stages {stages})" if bits else ""
        super().__init__(
            f"Genome: notation (1-01 0-01-100 ...){plain} or a name:\n"
            "zeros chain residual dense residual-40 paper-best",
            value,
            "1-01 0-01-100 0-11-101-0001",
            check,
        )


class ConfirmQuit(ModalScreen[bool]):
    """Quit while something runs in this process? ``y`` quits, ``n`` or Escape stays."""

    BINDINGS = [Binding("y", "answer(True)", "Quit"), Binding("n,escape", "answer(False)", "Stay")]
    DEFAULT_CSS = """
    ConfirmQuit { align: center middle; }
    ConfirmQuit > Vertical { width: 100%; max-width: 90; height: auto; border: thick $warning; background: $surface;
                             padding: 0 1; }
    ConfirmQuit Static { width: 100%; margin-bottom: 1; }
    ConfirmQuit Horizontal { height: auto; }
    ConfirmQuit Button { margin-right: 2; }
    """

    def __init__(self, reasons: list[str]) -> None:
        super().__init__()
        self.reasons = reasons

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("\n\n".join(self.reasons) + "\n\n[b]Quit anyway?[/b]", id="quit-reasons")
            with Horizontal():
                yield Button("Quit (y)", variant="error", compact=True, id="quit-yes")
                yield Button("Stay (n, Esc)", variant="primary", compact=True, id="quit-no")

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit-yes")

    def action_answer(self, quit_: bool) -> None:
        self.dismiss(quit_)
