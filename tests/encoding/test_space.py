"""Counting the space: bit strings against distinct structures."""

import itertools
import json

import networkx as nx
import pytest

from genet_lab.encoding.genome import stage_length
from genet_lab.encoding.graph import decode_stage
from genet_lab.encoding.space import count_space, stage_classes, strings_sharing

ROLE = nx.algorithms.isomorphism.categorical_node_match("role", None)


def brute_force_distinct(k):
    """Distinct structures by pairwise VF2 only (no canonical forms): the oracle."""
    reps = []
    for bits in itertools.product((0, 1), repeat=stage_length(k)):
        g = decode_stage(k, bits).graph
        if not any(nx.is_isomorphic(g, r, node_match=ROLE) for r in reps):
            reps.append(g)
    return len(reps)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_counts_match_vf2_oracle(k):
    assert len(stage_classes(k)) == brute_force_distinct(k)


def test_paper_space_counts():
    result = count_space((3, 4, 5))
    assert result["strings"] == 524_288
    assert [r["strings"] for r in result["stages"]] == [8, 64, 1024]
    per_stage = [r["distinct"] for r in result["stages"]]
    assert per_stage[:2] == [6, 31]
    assert result["distinct"] == per_stage[0] * per_stage[1] * per_stage[2]
    json.dumps(result)


def test_class_sizes_sum_to_all_strings():
    for k in (3, 4, 5):
        assert sum(stage_classes(k).values()) == 2 ** stage_length(k)


def test_strings_sharing():
    # the all-zero stage is the only string giving a single convolution
    assert strings_sharing(4, (0,) * 6) == 1
    # a single edge anywhere in a K=3 stage is the same 2-chain: (1,2), (1,3), (2,3)
    assert strings_sharing(3, (1, 0, 0)) == 3


def test_too_large_k_is_refused_clearly():
    with pytest.raises(ValueError, match="at most K=7"):
        count_space((8,))
