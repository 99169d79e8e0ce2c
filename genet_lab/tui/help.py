"""The help screen: what every key does, per pane."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# genet-lab tui

A genome is the paper's bit string: stage *s* with *K* nodes has K(K-1)/2 bits;
bit (i, j) set means node *j* sums the output of node *i*. The notation groups
bits by target node: `1-01 0-01-100` is node 2 <- 1, node 3 <- 2 (stage 1), ...

**Panes**: `1` editor, `2` train one genome, `3` evolution. `?` this help, `q` quit.

## Editor
| key | action |
|---|---|
| arrows / h j k l | move the cursor (up/down: same edge in the previous/next stage) |
| space, enter, click | toggle the bit |
| z c r d | set the current stage to zero / chain / residual / dense |
| u, ctrl+r (or U) | undo, redo |
| + - | add / remove the last node of the current stage |
| a x | add a stage after the current one / remove the current stage |
| n | next named genome (zeros, chain, residual, dense, residual-40, paper-best) |
| g | type a genome (notation or name) |
| p | next network preset (figures: params, multiply-adds, depth) |
| y | copy the notation to the clipboard |
| s | export the drawing (SVG and PNG with graphviz, else the dot source) |

In the drawing, red `in` and green `out` are the default input and output
nodes; struck-through grey nodes are dropped (no edge to another node).
*Sharing* is how many bit strings of the stage build the same structure.

## Train
| key | action |
|---|---|
| t | train the edited genome (a background `genet-lab train` process) |
| k | cancel the training (kills the process) |

Results stay in the session table, one row per run, to compare designs.

## Evolution
| key | action |
|---|---|
| s | start a new run with the settings shown (seeded population preview first) |
| space | pause / resume (stops the process; resume continues the run directory) |
| k | stop the run |
| o | open a run directory (finished, or being written by another process) |
| enter | on a population row: show that individual |

Press Escape or `?` to close this help.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss(None)", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 90%; border: thick $accent; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)
