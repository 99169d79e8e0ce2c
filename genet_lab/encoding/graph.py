"""Stage graphs: decoding a genome's bits into DAGs with default nodes (section 3.1.1).

Stage s with K ordinary nodes 1..K is decoded with the default input node 0
and the default output node K+1:

* edges among ordinary nodes come from the bits;
* an ordinary node with no edge to another ordinary node is dropped;
* node 0 feeds every kept node without a predecessor, every kept node without
  a successor feeds node K+1;
* a stage whose bits are all zero is a single convolution: node 0 alone.

Knows networkx, not torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from genet_lab.encoding.genome import Genome, stage_edges

INPUT, ORDINARY, OUTPUT = "input", "ordinary", "output"


@dataclass(frozen=True)
class StageGraph:
    """One decoded stage: the encoded graph and the graph that is built.

    ``encoded`` holds ordinary nodes 1..K and the encoded edges (nasbench's
    ``original_matrix``); ``graph`` is the pruned DAG with default nodes that
    the network computes (nasbench's ``matrix``).
    """

    k: int
    bits: tuple[int, ...]

    @cached_property
    def encoded_edges(self) -> tuple[tuple[int, int], ...]:
        return tuple(stage_edges(self.k, self.bits))

    @cached_property
    def encoded(self) -> nx.DiGraph:
        g: nx.DiGraph[int] = nx.DiGraph()
        g.add_nodes_from(range(1, self.k + 1))
        g.add_edges_from(self.encoded_edges)
        return g

    @property
    def is_single_conv(self) -> bool:
        """True when every bit is zero: the stage is one convolution."""
        return not self.encoded_edges

    @cached_property
    def kept(self) -> tuple[int, ...]:
        """Ordinary nodes that take part (have an edge to another ordinary node)."""
        touched = {n for e in self.encoded_edges for n in e}
        return tuple(sorted(touched))

    @cached_property
    def dropped(self) -> tuple[int, ...]:
        """Isolated ordinary nodes, ignored by the network (B2 in Fig. 1)."""
        kept = set(self.kept)
        return tuple(n for n in range(1, self.k + 1) if n not in kept)

    @cached_property
    def graph(self) -> nx.DiGraph:
        g: nx.DiGraph[int] = nx.DiGraph()
        if self.is_single_conv:
            g.add_node(0, role=INPUT)
            return g
        out = self.k + 1
        g.add_node(0, role=INPUT)
        for n in self.kept:
            g.add_node(n, role=ORDINARY)
        g.add_node(out, role=OUTPUT)
        g.add_edges_from(self.encoded_edges)
        for n in self.kept:
            if self.encoded.in_degree(n) == 0:
                g.add_edge(0, n)
            if self.encoded.out_degree(n) == 0:
                g.add_edge(n, out)
        return g

    @property
    def nodes(self) -> list[int]:
        return sorted(self.graph.nodes)

    @property
    def edges(self) -> list[list[int]]:
        return sorted([u, v] for u, v in self.graph.edges)

    @property
    def num_convs(self) -> int:
        """Convolutions the stage runs: one per node of the built graph."""
        return self.graph.number_of_nodes()

    @cached_property
    def depth(self) -> int:
        """Convolutions on the longest path from the default input to the output node."""
        return len(nx.dag_longest_path(self.graph))

    def topological_order(self) -> list[int]:
        """Nodes in the order a network evaluates them (ties by number)."""
        return list(nx.lexicographical_topological_sort(self.graph))

    def predecessors(self, node: int) -> list[int]:
        return sorted(self.graph.predecessors(node))

    @cached_property
    def canonical(self) -> str:
        """Exact canonical form: equal for two stages iff their built graphs are
        isomorphic with the input and output roles fixed."""
        from genet_lab.encoding.canon import canonical_form

        return canonical_form(self.graph)


def decode_stage(k: int, bits: Sequence[int]) -> StageGraph:
    return StageGraph(k, tuple(bits))


def decode(genome: Genome) -> list[StageGraph]:
    """Every stage of ``genome`` as a :class:`StageGraph`."""
    return [StageGraph(k, bits) for k, bits in genome.iter_stages()]


def decode_json(genome: Genome) -> dict:
    """The ``genet-lab decode`` contract: notation plus nodes and sorted edges per stage."""
    return {
        "genome": genome.notation(),
        "stages": [{"nodes": st.nodes, "edges": st.edges} for st in decode(genome)],
    }


def structure_key(genome: Genome) -> str:
    """Canonical structure key: equal for two genomes iff every stage pair is isomorphic.

    Stages are compared in order (their widths differ) and K itself does not
    matter: a stage that drops a node equals the smaller stage without it.
    """
    return "|".join(st.canonical for st in decode(genome))


def structure_hash(genome: Genome, length: int = 12) -> str:
    """A short digest of :func:`structure_key` for display (the key itself is exact)."""
    import hashlib

    return hashlib.blake2b(structure_key(genome).encode(), digest_size=16).hexdigest()[:length]


def same_structure(a: Genome, b: Genome) -> bool:
    """Exact check with networkx's VF2: same number of stages, each pair isomorphic."""
    if a.num_stages != b.num_stages:
        return False
    match = nx.algorithms.isomorphism.categorical_node_match("role", None)
    return all(nx.is_isomorphic(x.graph, y.graph, node_match=match) for x, y in zip(decode(a), decode(b)))
