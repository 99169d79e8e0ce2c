"""Stage graphs: section 3.1.1 decoding and exact structure identity."""

import itertools
import random

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genet_lab.encoding.canon import canonical_form
from genet_lab.encoding.genome import Genome, paper_best, parse, stage_length
from genet_lab.encoding.graph import decode, decode_json, decode_stage, same_structure, structure_key

ROLE = nx.algorithms.isomorphism.categorical_node_match("role", None)


def reference_decode(k, bits):
    """A second, deliberately naive reading of section 3.1.1 (adjacency matrix)."""
    adj = [[0] * (k + 2) for _ in range(k + 2)]
    pos = 0
    for j in range(2, k + 1):
        for i in range(1, j):
            adj[i][j] = bits[pos]
            pos += 1
    assert pos == len(bits)
    if not any(bits):
        return [0], []
    kept = [n for n in range(1, k + 1) if any(adj[n][m] or adj[m][n] for m in range(1, k + 1))]
    edges = [(i, j) for i in kept for j in kept if adj[i][j]]
    for n in kept:
        if not any(adj[m][n] for m in kept):
            edges.append((0, n))
        if not any(adj[n][m] for m in kept):
            edges.append((n, k + 1))
    return [0] + kept + [k + 1], sorted(edges)


def test_decoding_matches_reference_exhaustively():
    for k in range(2, 7):
        for bits in itertools.product((0, 1), repeat=stage_length(k)):
            st_ = decode_stage(k, bits)
            nodes, edges = reference_decode(k, bits)
            assert st_.nodes == nodes
            assert st_.edges == [list(e) for e in edges]


def test_structural_invariants_exhaustively():
    for k in range(2, 6):
        for bits in itertools.product((0, 1), repeat=stage_length(k)):
            s = decode_stage(k, bits)
            g = s.graph
            assert nx.is_directed_acyclic_graph(g)
            if s.is_single_conv:
                assert list(g.nodes) == [0] and s.num_convs == 1 and s.depth == 1
                continue
            out = k + 1
            assert set(s.kept) | set(s.dropped) == set(range(1, k + 1))
            assert [n for n in g if g.in_degree(n) == 0] == [0]
            assert [n for n in g if g.out_degree(n) == 0] == [out]
            for n in s.kept:
                assert nx.has_path(g, 0, n) and nx.has_path(g, n, out)
            assert s.num_convs == len(s.kept) + 2
            assert s.depth == len(nx.dag_longest_path(s.encoded.subgraph(s.kept))) + 2


def test_isolated_node_is_dropped_like_b2_in_figure1():
    # a (4, 5) two-stage genome whose second stage leaves node 2 isolated
    g = parse("1-10-111 0-10-100-0001")
    s2 = decode(g)[1]
    assert s2.dropped == (2,)
    assert 2 not in s2.graph
    assert s2.edges == [[0, 1], [1, 3], [1, 4], [3, 6], [4, 5], [5, 6]]


def test_paper_best_graph():
    stages = decode(paper_best())
    assert [s.nodes for s in stages] == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6]]
    assert stages[1].edges == [[0, 1], [0, 2], [1, 4], [2, 3], [3, 5], [4, 5]]
    assert [s.depth for s in stages] == [5, 4, 6]
    assert decode_json(paper_best())["genome"] == "1-01 0-01-100 0-11-101-0001"


def _classes(k):
    classes = {}
    for bits in itertools.product((0, 1), repeat=stage_length(k)):
        s = decode_stage(k, bits)
        classes.setdefault(s.canonical, []).append(s)
    return classes


def _invariant(g):
    return (g.number_of_nodes(), g.number_of_edges(), tuple(sorted((g.in_degree(n), g.out_degree(n)) for n in g)))


@pytest.mark.parametrize("k", [3, 4, 5])
def test_canonical_key_equals_exact_isomorphism_exhaustively(k):
    classes = _classes(k)
    reps = []
    for members in classes.values():
        first = members[0].graph
        for m in members[1:]:
            assert nx.is_isomorphic(first, m.graph, node_match=ROLE)
        reps.append(first)
    for a, b in itertools.combinations(reps, 2):
        if _invariant(a) == _invariant(b):
            assert not nx.is_isomorphic(a, b, node_match=ROLE)


def test_known_class_counts():
    # K=3 by hand: zero, 2-chain (3 strings), fork, join, 3-chain, chain+skip
    assert len(_classes(3)) == 6
    assert len(_classes(4)) == 31


def _random_relabel(g, rng):
    nodes = list(g.nodes)
    perm = nodes[:]
    rng.shuffle(perm)
    mapping = dict(zip(nodes, [100 + p for p in perm]))
    return nx.relabel_nodes(g, mapping)


@given(st.integers(2, 9), st.data())
@settings(max_examples=150, deadline=None)
def test_canonical_form_is_invariant_under_relabelling(k, data):
    bits = data.draw(st.lists(st.integers(0, 1), min_size=stage_length(k), max_size=stage_length(k)))
    s = decode_stage(k, bits)
    rng = random.Random(data.draw(st.integers(0, 2**31)))
    assert canonical_form(_random_relabel(s.graph, rng)) == s.canonical


def test_canonical_form_fast_on_symmetric_stages():
    # a fan of parallel nodes: 10! labellings, twins keep the search tiny
    k = 11
    bits = [0] * stage_length(k)
    for j in range(2, k + 1):
        bits[stage_length(j - 1)] = 1  # edge (1, j)
    s = decode_stage(k, bits)
    assert s.canonical.startswith("13.")


def test_roles_matter_input_versus_output():
    fork = decode_stage(3, (1, 1, 0)).canonical  # 1 -> 2, 1 -> 3
    join = decode_stage(3, (0, 1, 1)).canonical  # 1 -> 3, 2 -> 3
    assert fork != join


@given(st.integers(0, 2**19 - 1), st.integers(0, 2**19 - 1))
@settings(max_examples=200, deadline=None)
def test_structure_key_agrees_with_vf2_on_genomes(a, b):
    ga = Genome((3, 4, 5), tuple(int(c) for c in format(a, "019b")))
    gb = Genome((3, 4, 5), tuple(int(c) for c in format(b, "019b")))
    assert (structure_key(ga) == structure_key(gb)) == same_structure(ga, gb)


def test_dropped_node_makes_smaller_stage_equal():
    assert structure_key(parse("1-00")) == structure_key(parse("1"))
    assert structure_key(parse("1-00 1")) == structure_key(parse("1 1-00-000"))
    # two parallel 2-chains, wired on different node numbers
    assert structure_key(parse("0-01-100")) == structure_key(parse("1-00-001"))
    assert structure_key(parse("0-01-100")) != structure_key(parse("1-01-000"))
