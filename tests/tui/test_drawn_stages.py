"""Stage graphs drawn in the evolution pane's detail and in the compare view (issue 23 item 4): the
editor's drawings wherever they fit the panel, the list of inputs (``3 <- 1+2``) where they do not."""

from __future__ import annotations

import pytest
from textual.app import App
from tui_helpers import run_async

from genet_lab.encoding import genome as gn
from genet_lab.encoding.ascii_graph import stage_art
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.compare import CompareScreen
from genet_lab.tui.run_widgets import DetailView, IndividualDetail
from genet_lab.tui.stage_view import StagePanel, StageView

GENOME = gn.paper_best()


class DetailApp(App[None]):
    """The detail box alone, filling the screen, showing GENOME as the best so far."""

    CSS = "IndividualDetail { width: 1fr; height: 1fr; }"

    def compose(self):
        yield IndividualDetail()

    def on_mount(self) -> None:
        self.query_one(IndividualDetail).view = DetailView(best=GENOME.notation(), best_fitness=99.0)


def _drawn(panel: StagePanel, s: int) -> bool:
    """Whether stage ``s``'s panel shows its drawing (every line of it), not its list."""
    art = stage_art(GENOME.stages[s], GENOME.stage_bits(s))
    text = str(panel.content)
    return all(line.rstrip() in text for line in art.lines if line.strip())


def _listed(panel: StagePanel) -> bool:
    text = str(panel.content)
    return " <- " in text or " -> " in text or "only" in text


@pytest.mark.parametrize(
    "size,drawn",
    [((130, 40), (True, True, True)), ((24, 40), (True, False, False)), ((130, 9), (False, False, False))],
    ids=["roomy", "narrow", "short"],
)
@run_async
async def test_the_detail_draws_the_stages_that_fit_and_lists_the_others(size, drawn):
    app = DetailApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        panels = list(app.query(StagePanel))
        assert len(panels) == GENOME.num_stages
        assert not app.query_one(StageView).has_class("stacked")  # every stage stays in view, side by side
        for s, panel in enumerate(panels):
            assert _drawn(panel, s) == drawn[s], (s, str(panel.content))
            assert _listed(panel) != drawn[s]


@pytest.mark.parametrize("size,stacked", [((120, 36), False), ((80, 24), True)])
@run_async
async def test_compare_draws_both_genomes_side_by_side_or_one_stage_under_another(size, stacked):
    app = GenetLabApp()
    async with app.run_test(size=size) as pilot:
        a, b = GENOME, gn.named("chain", GENOME.stages)
        app.push_screen(CompareScreen(a, b))
        await pilot.pause()
        await pilot.pause()
        views = list(app.screen.query(StageView))
        assert len(views) == 2
        for view, genome in zip(views, (a, b)):
            assert view.has_class("stacked") == stacked
            panels = list(view.query(StagePanel))
            for s, panel in enumerate(panels):
                art = stage_art(genome.stages[s], genome.stage_bits(s))
                assert art.lines[0].rstrip() in str(panel.content)  # drawn, not listed
