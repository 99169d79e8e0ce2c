"""Stage graphs drawn as graphs: the pure layout (exhaustive over small stages) and the stages panel.

Snapshots: update after an intended change with
``pytest tests/tui/test_stage_graph.py --snapshot-update``, then look at them.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from genet_lab.encoding import genome as gn
from genet_lab.encoding.ascii_graph import ARROW, E, N, S, StageArt, W, stage_art
from genet_lab.encoding.genome import stage_length
from genet_lab.encoding.graph import StageGraph
from genet_lab.tui.app import GenetLabApp

_DIRS = {
    "│": N | S,
    "─": E | W,
    "┌": S | E,
    "┐": S | W,
    "└": N | E,
    "┘": N | W,
    "├": N | S | E,
    "┤": N | S | W,
    "┬": E | W | S,
    "┴": E | W | N,
    "┼": N | E | S | W,
    ARROW: N | S,
    "╎": N | S,
}


def _all_stages(k: int):
    for bits in itertools.product((0, 1), repeat=stage_length(k)):
        yield StageGraph(k, bits)


def _step(a: tuple[int, int], b: tuple[int, int]) -> int:
    dr, dc = b[0] - a[0], b[1] - a[1]
    assert abs(dr) + abs(dc) == 1, (a, b)
    return S if dr > 0 else N if dr < 0 else E if dc > 0 else W


def _check(stage: StageGraph, art: StageArt) -> None:
    k = stage.k
    lines = art.lines
    assert len({len(line) for line in lines}) == 1
    boxes = {b.node: b for b in art.boxes}
    # every node of the built graph drawn once, dropped nodes too, and nothing else
    assert len(boxes) == len(art.boxes)
    expected = set(stage.graph.nodes) | set(stage.dropped) | ({k + 1} if stage.is_single_conv else set())
    assert set(boxes) == expected
    for b in art.boxes:
        label = "in" if b.node == 0 else "out" if b.node == k + 1 else f"({b.node})"
        assert lines[b.row][b.col : b.col + b.width].strip() == label
    # no two boxes overlap, nor touch on a row
    for a, b in itertools.combinations(art.boxes, 2):
        assert a.row != b.row or a.col + a.width < b.col or b.col + b.width < a.col, (a, b)
    # dropped nodes dimmed, and only they
    spans = {(line, start): role for line, start, _, role in art.spans}
    for b in art.boxes:
        assert spans[(b.row, b.col)] == ("dropped" if b.node in stage.dropped else spans[(b.row, b.col)])
        assert (spans[(b.row, b.col)] == "dropped") == (b.node in stage.dropped)
    # every edge routed, from below its source to an arrow above its target, drawn cell by cell
    covered: dict[tuple[int, int], int] = {}
    turns: set[tuple[int, int]] = set()
    edges = {r.edge for r in art.routes}
    assert edges == (set(stage.graph.edges) if not stage.is_single_conv else {(0, k + 1)})
    assert len(art.routes) == len(edges)
    inside = {(b.row, b.col + i) for b in art.boxes for i in range(b.width)}
    for route in art.routes:
        src, dst = boxes[route.edge[0]], boxes[route.edge[1]]
        cells = route.cells
        first, last = cells[0], cells[-1]
        assert first[0] == src.row + 1 and src.col <= first[1] < src.col + src.width
        assert last[0] == dst.row - 1 and dst.col <= last[1] < dst.col + dst.width
        assert lines[last[0]][last[1]] == ARROW
        path = [(first[0] - 1, first[1]), *cells, (last[0] + 1, last[1])]
        for i, cell in enumerate(cells):
            assert cell not in inside, (route, cell)
            need = _step(cell, path[i]) | _step(cell, path[i + 2])
            glyph = lines[cell[0]][cell[1]]
            assert _DIRS[glyph] & need == need, (route.edge, cell, glyph)
            covered[cell] = covered.get(cell, 0) | need
            if need not in (N | S, E | W):
                turns.add(cell)
    # no stray line, and a four-way glyph is always a crossing, never a junction
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            if ch in _DIRS:
                assert (row, col) in covered, (row, col, ch)
                assert covered[(row, col)] == _DIRS[ch], (row, col, ch)
                assert not (ch == "┼" and (row, col) in turns), (row, col)


@pytest.mark.parametrize("k", [3, 4])
def test_every_stage_drawn_completely(k):
    for stage in _all_stages(k):
        _check(stage, stage_art(stage.k, stage.bits))


def test_named_stages_up_to_k6_and_large():
    for name in ("chain", "residual", "dense", "paper-best"):
        for stages in ((5,), (6,)):
            genome = gn.named(name, stages) if name != "paper-best" else gn.paper_best()
            for k, bits in genome.iter_stages():
                _check(StageGraph(k, bits), stage_art(k, bits))
    for k, bits in gn.residual_40().iter_stages():
        _check(StageGraph(k, bits), stage_art(k, bits))
    _check(StageGraph(11, gn.dense((11,)).bits), stage_art(11, gn.dense((11,)).bits))


def test_random_k5_k6_stages():
    import random

    rng = random.Random(3)
    for k in (5, 6):
        for _ in range(200):
            bits = tuple(rng.randint(0, 1) for _ in range(stage_length(k)))
            _check(StageGraph(k, bits), stage_art(k, bits))


def test_paper_best_drawing():
    art = stage_art(4, gn.paper_best().stage_bits(1))
    assert "\n".join(line.rstrip() for line in art.lines) == "\n".join(
        [
            " in",
            " ├───┐",
            " ▼   ▼",
            "(1)  (2)",
            " ▼    ▼",
            "(4)  (3)",
            " │┌───┘",
            " ▼▼",
            "out",
        ]
    )


def test_all_zero_stage_is_in_to_out_with_every_node_dropped():
    art = stage_art(4, (0,) * 6)
    assert [b.node for b in art.boxes if b.role == "dropped"] == [1, 2, 3, 4]
    assert art.lines[1].strip() == "╎" and art.lines[2].strip() == ARROW
    assert art.lines[-3].strip() == "dropped:" and art.lines[-1].strip() == "(3)  (4)"


def test_layouts_are_cached_per_stage():
    stage_art.cache_clear()
    bits = gn.dense((6,)).bits
    start = time.perf_counter()
    stage_art(6, bits)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = stage_art(6, bits)
    assert again is stage_art(6, bits)
    assert time.perf_counter() - start < first
    assert stage_art.cache_info().hits >= 2


# -- the stages panel -------------------------------------------------------------


async def _settle(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _app(text: str) -> GenetLabApp:
    return GenetLabApp(genome=gn.resolve(text))


def test_panel_paper_best_80x24(snap_compare):
    assert snap_compare(GenetLabApp(genome=gn.paper_best()), terminal_size=(80, 24), run_before=_settle)


def test_panel_all_zero_80x24(snap_compare):
    assert snap_compare(GenetLabApp(), terminal_size=(80, 24), run_before=_settle)


def test_panel_dropped_nodes_80x24(snap_compare):
    # stage 1: node 2 dropped; stage 2: nodes 2 and 3 dropped; stage 3: node 3 dropped
    assert snap_compare(_app("1-00 0-00-100 1-00-100-1000"), terminal_size=(80, 24), run_before=_settle)


def test_panel_k6_dense_80x24(snap_compare):
    assert snap_compare(GenetLabApp(genome=gn.dense((6,))), terminal_size=(80, 24), run_before=_settle)


def test_panel_large_k_falls_back_to_list_80x24(snap_compare):
    assert snap_compare(GenetLabApp(genome=gn.dense((11,))), terminal_size=(80, 24), run_before=_settle)


def test_panel_stacks_stages_that_do_not_fit_side_by_side():
    asyncio.run(_stacks())


async def _stacks():
    from genet_lab.tui.stage_view import StageView

    app = GenetLabApp(genome=gn.dense((6, 6)))
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        view = app.query_one(StageView)
        assert view.has_class("stacked")
        await pilot.resize_terminal(160, 40)
        await _settle(pilot)
        assert not view.has_class("stacked")
