"""Exact canonical forms of stage graphs (DAGs whose nodes carry a role).

Individualisation-refinement, as in nauty but small: colour nodes by role,
refine colours by the multisets of predecessor and successor colours until
stable, then individualise each node of the first non-singleton cell in turn
and keep the smallest adjacency certificate over all leaves. Twin nodes (same
predecessors and successors) are interchangeable, so only one of them is
tried; that keeps the search small for the symmetric stages the encoding makes
(parallel branches of a dense or multi-path stage).

The certificate depends only on the isomorphism class, so two stage graphs
have the same canonical form iff they are isomorphic with roles fixed. Knows
networkx graphs only through their node and edge lists.
"""

from __future__ import annotations

import networkx as nx

_ROLE_RANK = {"input": 0, "ordinary": 1, "output": 2}


def _refine(colors: list[int], pred: list[list[int]], succ: list[list[int]]) -> list[int]:
    n_classes = len(set(colors))
    while True:
        sigs = [
            (colors[v], tuple(sorted(colors[u] for u in pred[v])), tuple(sorted(colors[w] for w in succ[v])))
            for v in range(len(colors))
        ]
        rank = {s: r for r, s in enumerate(sorted(set(sigs)))}
        new = [rank[s] for s in sigs]
        if len(rank) == n_classes:
            return new
        colors, n_classes = new, len(rank)


def _certificate(colors: list[int], edges: list[tuple[int, int]], n: int) -> int:
    value = 0
    for u, v in edges:
        value |= 1 << (colors[u] * n + colors[v])
    return value


def _search(
    colors: list[int], pred: list[list[int]], succ: list[list[int]], edges: list[tuple[int, int]], n: int
) -> int:
    colors = _refine(colors, pred, succ)
    if len(set(colors)) == n:
        return _certificate(colors, edges, n)
    sizes: dict[int, int] = {}
    for c in colors:
        sizes[c] = sizes.get(c, 0) + 1
    target = min(c for c, size in sizes.items() if size > 1)
    cell = [v for v in range(n) if colors[v] == target]
    best: int | None = None
    tried: list[int] = []
    for v in cell:
        if any(pred[v] == pred[u] and succ[v] == succ[u] for u in tried):
            continue  # a twin of a tried node: same subtree up to an automorphism
        tried.append(v)
        split = [2 * c for c in colors]
        split[v] -= 1
        cert = _search(split, pred, succ, edges, n)
        if best is None or cert < best:
            best = cert
    assert best is not None  # the cell has at least two nodes, so one was tried
    return best


def canonical_form(graph: nx.DiGraph, role: str = "role") -> str:
    """Canonical string of a DAG whose nodes have a ``role`` attribute.

    Format ``"<nodes>.<hex adjacency>"``; ``"1.0"`` is the single-convolution stage.
    """
    nodes = sorted(graph.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    pred = [sorted(index[u] for u in graph.predecessors(v)) for v in nodes]
    succ = [sorted(index[w] for w in graph.successors(v)) for v in nodes]
    edges = [(index[u], index[v]) for u, v in graph.edges]
    colors = [_ROLE_RANK.get(graph.nodes[v].get(role, "ordinary"), 1) for v in nodes]
    cert = _search(colors, pred, succ, edges, n)
    return f"{n}.{cert:x}"
