"""The TUI's genome editor, driven through Textual's Pilot (no torch anywhere)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tui_helpers import run_async

from genet_lab.encoding import genome as gn
from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.graph import structure_hash
from genet_lab.encoding.presets import get_preset
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.bits import BitGrid
from genet_lab.tui.model import EditorModel, locate


def test_tui_imports_no_torch():
    code = (
        "import sys; import genet_lab.tui.app, genet_lab.tui.train_panel, genet_lab.tui.evolution, "
        "genet_lab.cli.tui; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_locate_follows_the_paper_order():
    g = gn.zeros((3, 4, 5))
    assert [(p.stage, p.i, p.j) for p in map(lambda i: locate(g, i), range(4))] == [
        (0, 1, 2),
        (0, 1, 3),
        (0, 2, 3),
        (1, 1, 2),
    ]
    assert (locate(g, 18).stage, locate(g, 18).i, locate(g, 18).j) == (2, 4, 5)


def test_model_edits_and_undo_redo():
    m = EditorModel(gn.zeros())
    m.toggle()
    assert m.genome.notation() == "1-00 0-00-000 0-00-000-0000"
    m.move_stage(1)
    m.stamp("chain")
    assert m.genome.notation() == "1-00 1-01-001 0-00-000-0000"
    m.resize_stage(1)
    assert m.genome.stages == (3, 5, 5)
    assert m.genome.stage_bits(1)[:6] == (1, 0, 1, 0, 0, 1)  # old edges keep their meaning
    m.resize_stage(-1)
    m.resize_stage(-1)
    assert m.genome.stages == (3, 3, 5)
    m.add_stage()
    assert m.genome.stages == (3, 3, 3, 5) and m.stage == 2
    m.remove_stage()
    assert m.genome.stages == (3, 3, 5)
    for _ in range(7):
        assert m.undo()
    assert m.genome == gn.zeros() and not m.undo()
    assert m.redo() and m.genome.notation() == "1-00 0-00-000 0-00-000-0000"
    with pytest.raises(ValueError, match="2 to"):
        EditorModel(gn.zeros((2,))).resize_stage(-1)
    with pytest.raises(ValueError, match="at least one stage"):
        EditorModel(gn.zeros((3,))).remove_stage()


def _text(app, selector: str, width: int = 60) -> str:
    """What a Static shows, as plain text ``width`` columns wide."""
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(app.query_one(selector).content)
    return console.export_text()


def _figures_text(app) -> str:
    return _text(app, "#figures")


@run_async
async def test_toggling_bits_changes_notation_and_figures():
    app = GenetLabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = app.editor
        assert editor.genome == gn.zeros() and editor.model.cursor == 0
        assert isinstance(app.focused, BitGrid)
        before = _figures_text(app)
        params0 = complexity(gn.zeros(), get_preset("paper-cifar10")).params
        assert f"{params0:,}" in before
        await pilot.press("down", "right", "space")  # stage 2, edge 1->3
        assert editor.genome.notation() == "0-00 0-10-000 0-00-000-0000"
        notation = _text(app, "#notation", 100)
        assert "0-00 0-10-000 0-00-000-0000" in notation
        after = _figures_text(app)
        c = complexity(editor.genome, get_preset("paper-cifar10"))
        assert f"{c.params:,}" in after and c.params != params0
        assert structure_hash(editor.genome) in after
        await pilot.press("d")  # stage 2 dense
        assert editor.genome.stage_bits(1) == (1,) * 6
        await pilot.press("u", "u")
        assert editor.genome == gn.zeros()
        await pilot.press("ctrl+r")
        assert editor.genome.notation() == "0-00 0-10-000 0-00-000-0000"
        await pilot.press("plus")
        assert editor.genome.stages == (3, 5, 5)
        await pilot.press("a")
        assert editor.genome.stages == (3, 5, 5, 5)
        await pilot.press("x", "minus")
        assert editor.genome.stages == (3, 4, 5)


@run_async
async def test_click_toggles_the_bit_under_the_mouse():
    app = GenetLabApp(genome=gn.paper_best())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        grid = app.query_one(BitGrid)
        # 'S1 K=3  ' is 8 cells, then '1-01': the third character is bit 1 of stage 1
        await pilot.click(BitGrid, offset=(grid.styles.padding.left + 8 + 2, 0))
        assert app.editor.genome.notation() == "1-11 0-01-100 0-11-101-0001"
        await pilot.click(BitGrid, offset=(grid.styles.padding.left + 8 + 1, 0))  # the '-': nothing
        assert app.editor.genome.notation() == "1-11 0-01-100 0-11-101-0001"


@run_async
async def test_named_genomes_copy_preset_and_typed_genome(tmp_path):
    app = GenetLabApp(export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        seen = []
        for _ in range(6):
            await pilot.press("n")
            seen.append(app.editor.genome)
        assert seen == [gn.zeros(), gn.chain(), gn.residual(), gn.dense(), gn.residual_40(), gn.paper_best()]
        await pilot.press("y")
        assert app.clipboard == gn.TABLE1_BEST
        await pilot.press("p")
        assert app.editor.preset == "wide"
        assert f"{complexity(gn.paper_best(), get_preset('wide')).params:,}" in _figures_text(app)
        await pilot.press("g")
        await pilot.pause()
        inp = app.screen.query_one("Input")
        inp.value = "1-01-111"
        await pilot.press("enter")
        await pilot.pause()
        assert app.editor.genome.stages == (4,)
        await pilot.press("g")
        await pilot.pause()
        app.screen.query_one("Input").value = "1-0"
        await pilot.press("enter")
        await pilot.pause()
        assert app.editor.genome.stages == (4,)  # bad input: the dialog stays, with the error under the text
        assert app.screen.query_one("Input").value == "1-0" and app.screen.error
        await pilot.press("escape")
        await pilot.press("s")  # export asks where: Enter takes the default, as before
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        written = sorted(p.suffix for p in tmp_path.iterdir())
        from genet_lab.encoding.draw import have_dot

        assert written == ([".png", ".svg"] if have_dot() else [".dot"])


@run_async
async def test_sharing_counts_appear_and_large_stages_say_na():
    from genet_lab.encoding.space import strings_sharing

    app = GenetLabApp(genome=gn.paper_best())
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        n = [strings_sharing(k, b) for k, b in gn.paper_best().iter_stages()]
        assert f"{'·'.join(map(str, n))} = {n[0] * n[1] * n[2]:,}" in _figures_text(app)
        app.editor.set_genome(gn.zeros((8, 3)))
        await pilot.pause()
        assert "n/a·1 (n/a: K > 6)" in _figures_text(app)
        app.editor.set_genome(gn.residual_40())  # was "n/a·n/a·n/a strings"
        await pilot.pause()
        assert "sharing   n/a: K > 6\n" in _figures_text(app)


@run_async
async def test_resizing_keeps_working():
    app = GenetLabApp(genome=gn.residual_40())
    async with app.run_test(size=(80, 24)) as pilot:
        for size in ((60, 18), (120, 40), (80, 24), (40, 12)):
            await pilot.resize_terminal(*size)
            await pilot.press("space", "right")
            await pilot.pause()
        assert app.editor.genome != gn.residual_40()
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ != "HelpScreen"


@run_async
async def test_a_bit_toggle_draws_one_frame_and_the_hidden_panes_catch_up_when_shown():
    """The second frame per toggle came from a hidden pane redrawn on each edit and from Textual's
    extra layout when a stage drawing changes height (see StagePanel); both are gone."""
    from genet_lab.tui.stage_view import StagePanel

    frames: list[int] = []

    class Counting(GenetLabApp):
        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            frames.append(1)

    app = Counting(genome=gn.paper_best())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        counts, heights = [], set()
        for key in ("left", "right") * 3:
            await pilot.press(key)
            await pilot.pause()
            frames.clear()
            await pilot.press("space")
            await pilot.pause()
            await pilot.pause(0.1)
            counts.append(len(frames))
            heights.add(tuple(p.size.height for p in app.query(StagePanel)))
        assert len(heights) > 1  # some toggles changed a drawing's height: the case that drew twice
        assert counts == [1] * 6
        await pilot.press("2")
        await pilot.pause()
        assert app.editor.genome.notation() in str(app.query_one("#train-genome").content)
