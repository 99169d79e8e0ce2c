"""Genomes: the paper's bit order, notation round trips, named genomes, bad input."""

import ast
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genet_lab.encoding import genome as gm
from genet_lab.encoding.genome import Genome, parse, resolve, stage_length

TABLE1_BEST_COLUMN = [
    "0-01 0-01-111 0-11-010-0111",
    "1-01 0-01-111 0-11-010-0111",
    "1-01 0-01-111 0-11-010-0011",
    "1-01 0-01-111 0-11-010-1011",
    "1-01 0-01-110 0-11-111-0001",
    "1-01 1-01-110 0-11-111-0001",
    "1-01 0-01-100 0-11-111-0001",
    "1-01 0-01-100 0-11-101-0001",
]


@st.composite
def genomes(draw, max_k=7, max_stages=4):
    stages = draw(st.lists(st.integers(2, max_k), min_size=1, max_size=max_stages))
    bits = draw(
        st.lists(st.integers(0, 1), min_size=sum(map(stage_length, stages)), max_size=sum(map(stage_length, stages)))
    )
    return Genome(tuple(stages), tuple(bits))


def test_paper_length_and_space():
    assert sum(stage_length(k) for k in gm.PAPER_STAGES) == 19
    assert 2**19 == 524_288


def test_bit_order_is_the_papers():
    # (1,2), then (1,3),(2,3), then (1,4),(2,4),(3,4), ...
    order = [(i, j) for j in range(2, 8) for i in range(1, j)]
    assert [gm.pair_index(i, j) for i, j in order] == list(range(len(order)))
    for pos, (i, j) in enumerate(order[: stage_length(5)]):
        bits = [0] * stage_length(5)
        bits[pos] = 1
        assert gm.stage_edges(5, bits) == [(i, j)]


@pytest.mark.parametrize("text", TABLE1_BEST_COLUMN)
def test_table1_notation_parses_to_paper_stages(text):
    g = parse(text)
    assert g.stages == (3, 4, 5)
    assert g.length == 19
    assert str(g) == text


def test_table1_best_bits():
    g = gm.paper_best()
    assert str(g) == "1-01 0-01-100 0-11-101-0001"
    # node 2 <- 1; node 3 <- 2 (stage 1); stage 2: 3 <- 2, 4 <- 1; stage 3: 3 <- 1,2; 4 <- 1,3; 5 <- 4
    assert g.edges(0) == [(1, 2), (2, 3)]
    assert g.edges(1) == [(2, 3), (1, 4)]
    assert g.edges(2) == [(1, 3), (2, 3), (1, 4), (3, 4), (4, 5)]
    assert g.bitstring() == "1010011000111010001"


def test_every_small_genome_round_trips_exhaustively():
    for k in range(2, 6):
        for bits in itertools.product((0, 1), repeat=stage_length(k)):
            g = Genome((k,), bits)
            assert parse(str(g)) == g
            assert parse(g.bitstring(), stages=(k,)) == g


@given(genomes())
def test_notation_round_trip(g):
    assert parse(g.notation()) == g
    assert parse(g.bitstring(), stages=g.stages) == g
    assert parse(g.bitstring(), stages=",".join(map(str, g.stages))) == g
    assert hash(parse(g.notation())) == hash(g)


def test_repr_is_the_papers_notation():
    g = gm.paper_best()
    assert repr(g) == "Genome('1-01 0-01-100 0-11-101-0001')"
    assert repr([gm.zeros((2, 3))]) == "[Genome('0 0-00')]"
    assert f"{g!r}" == repr(g) and str(g) == "1-01 0-01-100 0-11-101-0001"


@given(genomes())
def test_repr_round_trips_through_parse_without_eval(g):
    call = ast.parse(repr(g), mode="eval").body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genome"
    (argument,) = call.args
    assert parse(ast.literal_eval(argument)) == g


@given(genomes(), st.data())
def test_flip_and_with_stage(g, data):
    i = data.draw(st.integers(0, g.length - 1))
    f = g.flip(i)
    assert f != g and f.flip(i) == g
    assert sum(a != b for a, b in zip(f.bits, g.bits)) == 1
    s = data.draw(st.integers(0, g.num_stages - 1))
    zero = g.with_stage(s, [0] * stage_length(g.stages[s]))
    assert zero.stage_bits(s) == (0,) * stage_length(g.stages[s])
    for t in range(g.num_stages):
        if t != s:
            assert zero.stage_bits(t) == g.stage_bits(t)


@given(st.text(alphabet="01- \t", max_size=40))
@settings(max_examples=800)
def test_parser_accepts_or_rejects_with_valueerror(text):
    try:
        g = parse(text)
    except ValueError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg
    else:
        assert parse(str(g)) == g


@given(st.text(max_size=30))
@settings(max_examples=500)
def test_parser_never_raises_anything_but_valueerror(text):
    try:
        parse(text, stages=(3, 4, 5) if len(text) % 2 else None)
    except ValueError:
        pass


@pytest.mark.parametrize(
    "text, stages, fragment",
    [
        ("", None, "empty genome"),
        ("1-0x", None, "only 0, 1"),
        ("1-011", None, "group 2 must hold 2 bits"),
        ("01-1", None, "group 1 must hold 1 bit"),
        ("1--01", None, "group 2 must hold 2 bits"),
        ("1010011000111010001", None, "needs stage sizes"),
        ("101", (3, 4, 5), "need 19 bits, got 3"),
        ("1-01", (3, 4), "but 3,4 were asked for"),
    ],
)
def test_bad_input_says_what_was_expected(text, stages, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        parse(text, stages)


@pytest.mark.parametrize("stages", ["", "3,,x", "1,4", "3;4"])
def test_bad_stage_sizes(stages):
    with pytest.raises(ValueError, match="stage"):
        gm.parse_stages(stages)


def test_genome_validates_itself():
    with pytest.raises(ValueError, match="need 3 bits"):
        Genome((3,), (1, 0))
    with pytest.raises(ValueError, match="0 or 1"):
        Genome((2,), (2,))
    with pytest.raises(ValueError, match="at least one stage"):
        Genome((), ())


def test_named_genomes():
    assert str(gm.zeros()) == "0-00 0-00-000 0-00-000-0000"
    assert str(gm.chain()) == "1-01 1-01-001 1-01-001-0001"
    assert str(gm.dense()) == "1-11 1-11-111 1-11-111-1111"
    # Fig. 2's ResNet block on four nodes: 1-01-101
    assert str(gm.residual((4,))) == "1-01-101"
    assert str(gm.residual()) == "1-01 1-01-101 1-01-101-0001"
    assert str(gm.named("paper-best")) == gm.TABLE1_BEST
    assert resolve("CHAIN", "4") == gm.chain((4,))
    with pytest.raises(ValueError, match="known names"):
        gm.named("vgg19")


def test_residual_skips_are_documented_bits():
    g = gm.residual((11,))
    edges = set(g.edges(0))
    chain = {(i, i + 1) for i in range(1, 11)}
    assert edges - chain == {(1, 4), (4, 7), (7, 10)}
    assert chain <= edges


def test_residual_40_genome_is_forty_layers():
    from genet_lab.encoding.graph import decode

    g = gm.residual_40()
    assert g.stages == (11, 11, 11)
    # 13 convolutions per stage on the longest path, 39 in all, plus the classifier
    assert [st.depth for st in decode(g)] == [13, 13, 13]
    assert sum(st.depth for st in decode(g)) + 1 == 40
