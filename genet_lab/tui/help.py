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

**Panes**: `1` editor, `2` train one genome, `3` evolution. `?` this help, `q` quit
(it asks first while an evolution or a training of this lab runs), `F12` screenshot (SVG).

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
| g | type a genome (notation, a name, or plain bits of the current stages) |
| p | next network preset (figures: params, multiply-adds, depth) |
| y | copy the notation to the clipboard |
| s | export the drawing: asks where (SVG and PNG with graphviz, else the dot source) |
| ctrl+s, ctrl+o | save the genome to a file / load one (paper notation, as `--init FILE`) |
| m, v | mark the genome as A / compare A with the edited genome (bits that differ, figures, drawings) |
| i | the graphviz drawing, as an image, in place of the stage graphs (drawn again as bits change) |

The image (`i`) needs textual-image (`pip install 'genet-lab[tui-image]'`) and graphviz;
Kitty and Sixel terminals show it sharp, others in coloured half cells.

In the drawing, red `in` and green `out` are the default input and output
nodes; struck-through grey nodes are dropped (no edge to another node).
*Sharing* is how many bit strings of the stage build the same structure.

## Train
| key | action |
|---|---|
| t | train the edited genome (a background `genet-lab train` process) |
| enter | in the epochs or options box: train (so does `t` in the epochs box) |
| k, escape | cancel the training (kills the process) |
| e | load the genome of the selected row into the editor |

| up/down | on a row: show its curve and result (past trainings too) |

Results stay in the table, one row per run, to compare designs; finished trainings are
kept in a history (`trainings.jsonl` in the user's data folder, `$GENET_LAB_DATA_DIR`)
and listed again next time. Until the first epoch the status line says what the trainer
does (importing, loading data, measuring); a trainer is kept imported ahead of time.

## Evolution
| key | action |
|---|---|
| s | new run: strategy (GA, random, aging, local), fitness (training, a proxy, a table), data set, N, T, ... |
| p | pause the run's process / let it continue |
| k | stop the run (finished evaluations are kept) |
| r | resume a stopped run (or continue a paused one) from its run directory |
| o | open a run directory (finished, or being written by another process) |
| f | next figure: Figure 3, Pareto against parameters, against multiply-adds, the genes over time |
| click, enter on a Table 1 row | show that generation's population (browse any generation) |
| l | follow the live generation again |
| up/down | on a population row: show that individual |
| b | show the best individual so far again |
| e | send the shown individual (or the best) to the editor |

The genes over time: a row per generation, a column per bit in the paper's order (the edge's
node `to` over node `from`), shaded by the share of the generation's individuals with the bit
set; `div` is the structure diversity, distinct structures / N.

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
