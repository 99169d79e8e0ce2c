"""Stage graphs drawn on a character grid: boxes, box-drawing edges and arrowheads.

A layered (Sugiyama) layout in pure Python, top to bottom: layers are longest
paths from the default input node, edges that skip layers pass through dummy
slots, the order within a layer comes from barycentre sweeps. Every edge is
routed in the rows between two layers: down from the centre of its source,
along its own track, down into its target (beside the centre when it comes
from the side), so no edge crosses a node box and a line never continues into
an edge it does not belong to; ``┼`` is only ever a crossing.

The result is plain data, lines plus role spans (input, output, node, dropped,
edge...), which front ends colour as they like. Cached per stage structure
(K and bits), so redrawing a genome lays out only the stages that changed.
Knows the graph module, not torch, rich or textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from genet_lab.encoding.graph import StageGraph

N, E, S, W = 1, 2, 4, 8
_GLYPH = {
    N | S: "│",
    E | W: "─",
    S | E: "┌",
    S | W: "┐",
    N | E: "└",
    N | W: "┘",
    N | S | E: "├",
    N | S | W: "┤",
    E | W | S: "┬",
    E | W | N: "┴",
    N | E | S | W: "┼",
    N: "│",
    S: "│",
    E: "─",
    W: "─",
}
ARROW, DASHED, DROPPED = "▼", "╎", "dropped:"
Cell = tuple[int, int]
Item = int | tuple[int, int, int]  # a node, or a dummy slot (u, v, layer) of an edge that skips layers


@dataclass(frozen=True)
class Box:
    """One node drawn at ``row``, columns ``col`` to ``col + width - 1``."""

    node: int
    row: int
    col: int
    width: int
    role: str  # input, output, node or dropped


@dataclass(frozen=True)
class Route:
    """The cells of one edge, from just below its source box to just above its target box."""

    edge: tuple[int, int]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class StageArt:
    """A stage drawn: ``lines`` of equal width, and ``spans`` (line, start, end, role) to colour."""

    k: int
    lines: tuple[str, ...]
    spans: tuple[tuple[int, int, int, str], ...]
    boxes: tuple[Box, ...]
    routes: tuple[Route, ...]

    @property
    def width(self) -> int:
        return len(self.lines[0]) if self.lines else 0

    @property
    def height(self) -> int:
        return len(self.lines)


def _levels(stage: StageGraph) -> dict[int, int]:
    g, level = stage.graph, dict[int, int]()
    for n in stage.topological_order():
        level[n] = max((level[p] + 1 for p in g.predecessors(n)), default=0)
    return level


def _crossings(order: list[list[Item]], links: list[list[tuple[Item, Item]]]) -> int:
    total = 0
    for r, segs in enumerate(links):
        up = {it: i for i, it in enumerate(order[r])}
        down = {it: i for i, it in enumerate(order[r + 1])}
        pos = [(up[a], down[b]) for a, b in segs]
        total += sum(1 for i, (a1, b1) in enumerate(pos) for a2, b2 in pos[i + 1 :] if (a1 - a2) * (b1 - b2) < 0)
    return total


def _order(layers: list[list[Item]], links: list[list[tuple[Item, Item]]]) -> list[list[Item]]:
    """Barycentre sweeps down and up; the order with the fewest crossings wins."""
    order = [list(layer) for layer in layers]
    best, best_x = [list(layer) for layer in order], _crossings(order, links)
    for sweep in range(6):
        rng = range(1, len(order)) if sweep % 2 == 0 else range(len(order) - 2, -1, -1)
        for r in rng:
            ref = order[r - 1] if sweep % 2 == 0 else order[r + 1]
            pos = {it: i for i, it in enumerate(ref)}
            segs = links[r - 1] if sweep % 2 == 0 else links[r]
            nbrs: dict[Item, list[int]] = {}
            for a, b in segs:
                mine, other = (b, a) if sweep % 2 == 0 else (a, b)
                nbrs.setdefault(mine, []).append(pos[other])
            cur = {it: i for i, it in enumerate(order[r])}
            order[r].sort(key=lambda it: (sum(nbrs[it]) / len(nbrs[it]) if it in nbrs else cur[it], cur[it]))
        x = _crossings(order, links)
        if x < best_x:
            best, best_x = [list(layer) for layer in order], x
    return best


def _slots(order: list[list[Item]], links: list[list[tuple[Item, Item]]]) -> dict[Item, int]:
    """Integer slots, kept in order, each item pulled towards the mean slot of its neighbours."""
    width = max(len(layer) for layer in order)
    slot = {it: i + (width - len(layer)) // 2 for layer in order for i, it in enumerate(layer)}
    for sweep in range(4):
        down = sweep % 2 == 0
        for r in range(1, len(order)) if down else range(len(order) - 2, -1, -1):
            nbrs: dict[Item, list[int]] = {}
            for a, b in links[r - 1] if down else links[r]:
                mine, other = (b, a) if down else (a, b)
                nbrs.setdefault(mine, []).append(slot[other])
            want = [round(sum(nbrs[it]) / len(nbrs[it])) if it in nbrs else slot[it] for it in order[r]]
            placed: list[int] = []
            for w in want:
                placed.append(max(w, placed[-1] + 1) if placed else max(w, 0))
            for i in range(len(placed) - 1, -1, -1):  # pull back inside the widest layer
                limit = width - 1 if i == len(placed) - 1 else placed[i + 1] - 1
                placed[i] = min(placed[i], limit)
            for it, s in zip(order[r], placed):
                slot[it] = s
    return slot


def _label(stage: StageGraph, n: int, width: int) -> str:
    text = " in" if n == 0 else "out" if n == stage.k + 1 else f"({n})"
    return text.ljust(width)


def _role(stage: StageGraph, n: int) -> str:
    return "input" if n == 0 else "output" if n == stage.k + 1 else "node"


def _edge_role(stage: StageGraph, edge: tuple[int, int]) -> str:
    return "edge-in" if edge[0] == 0 else "edge-out" if edge[1] == stage.k + 1 else "edge"


@lru_cache(maxsize=512)
def stage_art(k: int, bits: tuple[int, ...]) -> StageArt:
    """Lay out and draw stage ``(k, bits)``; see the module docstring."""
    stage = StageGraph(k, tuple(bits))
    box_w = 3 if k < 10 else 4
    pitch = box_w + 2
    graph = stage.graph
    if stage.is_single_conv:  # node 0 alone: its result passes to out unchanged (dashed, as in draw.to_dot)
        graph = graph.copy()
        graph.add_edge(0, k + 1)
    level = _levels(stage) if not stage.is_single_conv else {0: 0, k + 1: 1}
    depth = max(level.values()) + 1
    layers: list[list[Item]] = [[] for _ in range(depth)]
    for n in sorted(level):
        layers[level[n]].append(n)
    links: list[list[tuple[Item, Item]]] = [[] for _ in range(depth - 1)]
    chains: dict[tuple[int, int], list[Item]] = {}
    for u, v in sorted(graph.edges):
        chain: list[Item] = [u]
        for lv in range(level[u] + 1, level[v]):
            dummy = (u, v, lv)
            layers[lv].append(dummy)
            chain.append(dummy)
        chain.append(v)
        chains[(u, v)] = chain
        for a, b in pairwise(chain):
            links[level[u] + chain.index(a)].append((a, b))
    order = _order(layers, links)
    slot = _slots(order, links)

    def centre(it: Item) -> int:
        return slot[it] * pitch + 1

    # per channel: the arrival column of each link and its track
    arrive: dict[tuple[Item, Item], int] = {}
    track: dict[tuple[Item, Item], int] = {}
    heights: list[int] = []
    for segs in links:
        leaving = {centre(a) for a, b in segs if centre(a) != centre(b)}
        for a, b in segs:
            xs, c = centre(a), centre(b)
            if xs == c or (isinstance(b, tuple) and c not in leaving):
                arrive[(a, b)] = c
            else:
                arrive[(a, b)] = c - 1 if xs < c else c + 1
        tracks: list[list[tuple[int, int]]] = []
        bent = sorted(
            (s for s in segs if centre(s[0]) != arrive[s]),
            key=lambda s: (min(centre(s[0]), arrive[s]), max(centre(s[0]), arrive[s])),
        )
        for a, b in bent:
            lo, hi = sorted((centre(a), arrive[(a, b)]))
            free = [t for t, used in enumerate(tracks) if all(hi + 1 < l2 or h2 + 1 < lo for l2, h2 in used)]
            if not free:
                tracks.append([])
            track[(a, b)] = free[0] if free else len(tracks) - 1
            tracks[track[(a, b)]].append((lo, hi))
        heights.append(len(tracks) + 1)

    if stage.is_single_conv:
        heights = [2]  # room for the dashed line
    node_row = [0]
    for h in heights:
        node_row.append(node_row[-1] + h + 1)

    dirs: dict[Cell, int] = {}
    role_at: dict[Cell, str] = {}
    special: dict[Cell, str] = {}
    routes: list[Route] = []
    for edge, chain in chains.items():
        cells: list[Cell] = []
        for a, b in pairwise(chain):
            r = level[edge[0]] + chain.index(a)
            top, xs, xt = node_row[r] + 1, centre(a), arrive[(a, b)]
            bottom = top + heights[r] - 1
            if xs == xt:
                cells += [(row, xs) for row in range(top, bottom + 1)]
            else:
                t = top + track[(a, b)]
                cells += [(row, xs) for row in range(top, t + 1)]
                step = 1 if xt > xs else -1
                cells += [(t, x) for x in range(xs + step, xt + step, step)]
                cells += [(row, xt) for row in range(t + 1, bottom + 1)]
            if isinstance(b, tuple):  # through the dummy's row, jogging back to its centre
                row, c = node_row[r + 1], centre(b)
                cells.append((row, xt))
                if xt != c:
                    cells.append((row, c))
        cells_t = tuple(cells)
        routes.append(Route(edge, cells_t))
        role = "identity" if stage.is_single_conv else _edge_role(stage, edge)
        for i, cell in enumerate(cells_t):
            prev = cells_t[i - 1] if i else (cell[0] - 1, cell[1])
            nxt = cells_t[i + 1] if i + 1 < len(cells_t) else (cell[0] + 1, cell[1])
            for other in (prev, nxt):
                dr, dc = other[0] - cell[0], other[1] - cell[1]
                dirs[cell] = dirs.get(cell, 0) | (N if dr < 0 else S if dr > 0 else W if dc < 0 else E)
            role_at.setdefault(cell, role)
        special[cells_t[-1]] = ARROW
        if stage.is_single_conv:
            for cell in cells_t[:-1]:
                special[cell] = DASHED

    boxes = [Box(n, node_row[level[n]], slot[n] * pitch, box_w, _role(stage, n)) for n in sorted(level)]
    if stage.is_single_conv:
        boxes[-1] = Box(k + 1, boxes[-1].row, boxes[-1].col, box_w, "identity")
    if stage.dropped:  # under the graph, wrapped to its width, below the word "dropped"
        graph_width = max(slot.values()) * pitch + box_w
        per_row = max(1, (graph_width + 2) // pitch, (len(DROPPED) + 2) // pitch)
        row = node_row[-1] + 3
        boxes += [
            Box(n, row + i // per_row, (i % per_row) * pitch, box_w, "dropped") for i, n in enumerate(stage.dropped)
        ]
    return _paint(stage, boxes, routes, dirs, role_at, special, box_w)


def _paint(
    stage: StageGraph,
    boxes: list[Box],
    routes: list[Route],
    dirs: dict[Cell, int],
    role_at: dict[Cell, str],
    special: dict[Cell, str],
    box_w: int,
) -> StageArt:
    height = max(b.row for b in boxes) + 1
    width = max([b.col + b.width for b in boxes] + [c + 1 for _, c in dirs])
    if stage.dropped:
        width = max(width, len(DROPPED))
    grid = [[" "] * width for _ in range(height)]
    roles: list[list[str]] = [[""] * width for _ in range(height)]
    for (row, col), mask in dirs.items():
        grid[row][col] = special.get((row, col), _GLYPH[mask])
        roles[row][col] = role_at[(row, col)]
    for b in boxes:
        for i, ch in enumerate(_label(stage, b.node, b.width)):
            grid[b.row][b.col + i] = ch
            roles[b.row][b.col + i] = b.role
    if stage.dropped:
        row = min(b.row for b in boxes if b.role == "dropped") - 1
        grid[row][: len(DROPPED)] = list(DROPPED)
        roles[row][: len(DROPPED)] = ["note"] * len(DROPPED)
    spans: list[tuple[int, int, int, str]] = []
    for row, line_roles in enumerate(roles):
        start = 0
        for col in range(1, width + 1):
            if col == width or line_roles[col] != line_roles[start]:
                if line_roles[start]:
                    spans.append((row, start, col, line_roles[start]))
                start = col
    return StageArt(stage.k, tuple("".join(r) for r in grid), tuple(spans), tuple(boxes), tuple(routes))
