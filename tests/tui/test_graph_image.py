"""The editor's ``i``: the graphviz drawing of the edited genome as an image (textual-image), drawn
again as bits change; without textual-image or graphviz, one line that says what to install."""

from __future__ import annotations

import sys

import pytest
from tui_helpers import run_async, until

from genet_lab.encoding import draw
from genet_lab.encoding import genome as gn
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.graph_image import GraphImage


def _warnings(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "warning"]


@run_async
async def test_i_shows_the_graphviz_drawing_and_draws_it_again_as_bits_change():
    pytest.importorskip("textual_image")
    if not draw.have_dot():
        pytest.skip("graphviz's dot is not installed")
    app = GenetLabApp(genome=gn.paper_best())
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("i")
        box = app.query_one(GraphImage)
        assert box.display and not app.query_one("#stages-box").display
        await until(pilot, lambda: box.rendered == gn.paper_best())
        image = box.query_one("#graph-image")
        assert image.image is not None and image.size.height > 0
        await pilot.press("space")  # a bit of the edited genome changes: the drawing follows
        edited = app.editor.genome
        assert edited != gn.paper_best()
        await until(pilot, lambda: box.rendered == edited)
        assert edited.notation() in str(box.query_one("#graph-note").content)
        await pilot.press("i")
        await pilot.pause()
        assert not box.display and app.query_one("#stages-box").display
        await pilot.press("space")  # hidden: nothing is drawn
        await pilot.pause()
        assert box.rendered == edited and app.editor.genome != edited


@run_async
async def test_without_textual_image_the_key_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "textual_image", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "textual_image.widget", None)
    app = GenetLabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await until(pilot, lambda: _warnings(app))
        (message,) = _warnings(app)
        assert "textual-image" in message and "pip install 'genet-lab[tui-image]'" in message
        assert "\n" not in message
        assert not app.query(GraphImage) and app.query_one("#stages-box").display


@run_async
async def test_without_graphviz_the_key_says_what_to_install(monkeypatch):
    pytest.importorskip("textual_image")
    monkeypatch.setattr(draw, "have_dot", lambda: False)
    app = GenetLabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await until(pilot, lambda: _warnings(app))
        assert "apt-get install graphviz" in _warnings(app)[0]
        assert not app.query(GraphImage)
