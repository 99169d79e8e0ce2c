"""Genetic operators: exact behaviour, and their statistics checked against the paper's definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genet_lab.encoding.genome import paper_best, residual_40
from genet_lab.evolution import operators as ops

BOUNDS = ops.stage_bounds((3, 4, 5))
L = int(BOUNDS[-1])


def chi2_stat(observed, expected):
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    return float(((observed - expected) ** 2 / expected).sum())


# 99.9% quantiles of chi-square, so seeded checks fail only on a real bias.
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 9: 27.88, 19: 43.82}


def test_stage_bounds_match_paper_length():
    assert BOUNDS.tolist() == [0, 3, 9, 19]
    assert L == 19


def test_init_random_shape_and_bernoulli():
    rng = np.random.default_rng(0)
    pop = ops.init_random(2000, L, rng, p=0.5)
    assert pop.shape == (2000, L) and pop.dtype == np.uint8
    ones = int(pop.sum())
    n = pop.size
    assert chi2_stat([ones, n - ones], [n / 2, n / 2]) < CHI2_999[1]
    pop = ops.init_random(2000, L, np.random.default_rng(1), p=0.2)
    assert abs(pop.mean() - 0.2) < 0.01
    assert ops.init_random(5, L, np.random.default_rng(0), p=0.0).sum() == 0
    assert ops.init_random(5, L, np.random.default_rng(0), p=1.0).sum() == 5 * L


def test_init_random_is_seeded():
    a = ops.init_random(20, L, np.random.default_rng(7))
    b = ops.init_random(20, L, np.random.default_rng(7))
    assert np.array_equal(a, b)


def test_init_zeros():
    pop = ops.init_zeros(20, L)
    assert pop.shape == (20, L) and not pop.any()


@pytest.mark.parametrize("flips", [0, 1, 3])
def test_init_from_base_flips_exactly_k_bits(flips):
    base = residual_40((3, 4, 5))
    pop = ops.init_from_base(base, 50, np.random.default_rng(0), flips=flips)
    diff = (pop != np.array(base.bits, dtype=np.uint8)).sum(axis=1)
    assert (diff == flips).all()


def test_init_from_file(tmp_path):
    f = tmp_path / "g.txt"
    f.write_text("# two genomes\n1-01 0-01-100 0-11-101-0001\n\nzeros\n")
    pop = ops.init_from_file(f, 2, stages=(3, 4, 5))
    assert pop[0].tolist() == list(paper_best().bits) and not pop[1].any()
    with pytest.raises(ValueError, match="lists 2 genomes but the population size is 3"):
        ops.init_from_file(f, 3)
    f.write_text("1-2\n")
    with pytest.raises(ValueError, match=":1:"):
        ops.read_genome_file(f)


def test_roulette_probabilities_follow_r_minus_rmin():
    p = ops.roulette_probabilities([70.0, 72.0, 76.0, 71.0])
    assert np.allclose(p, np.array([0, 2, 6, 1]) / 9)
    assert np.allclose(ops.roulette_probabilities([5, 5, 5]), 1 / 3)
    with pytest.raises(ValueError, match="finite"):
        ops.roulette_probabilities([1.0, float("nan")])


def test_select_roulette_frequencies_chi_square():
    r = [70.0, 72.0, 76.0, 71.0, 75.0]
    rng = np.random.default_rng(123)
    draws = np.concatenate([ops.select_roulette(r, rng) for _ in range(4000)])
    counts = np.bincount(draws, minlength=5)
    assert counts[0] == 0  # the worst is never drawn
    p = ops.roulette_probabilities(r)[1:]
    assert chi2_stat(counts[1:], p * draws.size) < CHI2_999[3]


def test_select_roulette_all_equal_is_uniform():
    rng = np.random.default_rng(5)
    draws = np.concatenate([ops.select_roulette([0.5] * 10, rng) for _ in range(2000)])
    counts = np.bincount(draws, minlength=10)
    assert chi2_stat(counts, [draws.size / 10] * 10) < CHI2_999[9]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30), st.integers(0, 2**32 - 1))
def test_select_roulette_never_draws_a_worst_unless_all_equal(fitness, seed):
    sel = ops.select_roulette(fitness, np.random.default_rng(seed))
    r = np.array(fitness)
    assert sel.shape == (len(fitness),)
    assert ((sel >= 0) & (sel < len(fitness))).all()
    if r.max() > r.min():
        p = ops.roulette_probabilities(r)
        assert (p[sel] > 0).all()
        assert not np.isin(sel, np.flatnonzero(r == r.min())).any()


def test_select_roulette_draw_count():
    assert ops.select_roulette([1, 2, 3], np.random.default_rng(0), n=7).shape == (7,)


def _stages_of(row):
    return [tuple(row[BOUNDS[s] : BOUNDS[s + 1]]) for s in range(3)]


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 21), st.integers(0, 2**32 - 1), st.floats(0, 1), st.floats(0, 1))
def test_crossover_keeps_stage_contents_intact(n, seed, pc, qc):
    rng = np.random.default_rng(seed)
    pop = ops.init_random(n, L, rng)
    child, crossed, partner = ops.crossover_stages(pop, rng, BOUNDS, pc, qc)
    assert child.shape == pop.shape and child.dtype == pop.dtype
    for i in range(n):
        if not crossed[i]:
            assert np.array_equal(child[i], pop[i]) and partner[i] == -1
            continue
        j = partner[i]
        assert partner[j] == i and j == (i ^ 1)  # pairs (1,2), (3,4), ...
        for s, stage in enumerate(_stages_of(child[i])):
            # every stage comes whole from one parent, and the pair exchanges symmetrically
            mine, theirs = _stages_of(pop[i])[s], _stages_of(pop[j])[s]
            assert stage in (mine, theirs)
            other = _stages_of(child[j])[s]
            assert {stage, other} == {mine, theirs} or stage == other == mine == theirs
    if n % 2:
        assert not crossed[-1]
    # the multiset of bits per position is preserved
    assert np.array_equal(np.sort(child, axis=0), np.sort(pop, axis=0))


def test_crossover_pair_and_stage_rates():
    rng = np.random.default_rng(9)
    n, trials, pc, qc = 20, 3000, 0.2, 0.2
    pairs_crossed = swapped = stages_seen = 0
    for _ in range(trials):
        a = np.zeros((n, L), np.uint8)
        a[1::2] = 1  # partners differ everywhere, so an exchanged stage is visible
        child, crossed, _ = ops.crossover_stages(a, rng, BOUNDS, pc, qc)
        pairs_crossed += crossed[::2].sum()
        for k in np.flatnonzero(crossed[::2]):
            for s in range(3):
                stages_seen += 1
                swapped += child[2 * k, BOUNDS[s]] == 1
    total_pairs = trials * n // 2
    assert (
        chi2_stat([pairs_crossed, total_pairs - pairs_crossed], [pc * total_pairs, (1 - pc) * total_pairs])
        < CHI2_999[1]
    )
    assert chi2_stat([swapped, stages_seen - swapped], [qc * stages_seen, (1 - qc) * stages_seen]) < CHI2_999[1]


def test_crossover_edges():
    pop = ops.init_random(4, L, np.random.default_rng(0))
    child, crossed, _ = ops.crossover_stages(pop, np.random.default_rng(0), BOUNDS, pc=0.0, qc=1.0)
    assert np.array_equal(child, pop) and not crossed.any()
    child, crossed, _ = ops.crossover_stages(pop, np.random.default_rng(0), BOUNDS, pc=1.0, qc=1.0)
    assert crossed.all() and np.array_equal(child[0], pop[1]) and np.array_equal(child[3], pop[2])
    with pytest.raises(ValueError, match="stage bounds"):
        ops.crossover_stages(pop, np.random.default_rng(0), [0, 5, 10], 0.2, 0.2)
    with pytest.raises(ValueError, match="pC is a probability"):
        ops.crossover_stages(pop, np.random.default_rng(0), BOUNDS, 1.5, 0.2)


def test_mutation_leaves_crossed_individuals_untouched():
    rng = np.random.default_rng(3)
    for _ in range(200):
        pop = ops.init_random(20, L, rng)
        exclude = rng.random(20) < 0.4
        child, mutated = ops.mutate_flip(pop, rng, pm=1.0, qm=0.5, exclude=exclude)
        assert np.array_equal(child[exclude], pop[exclude])
        assert not (mutated & exclude).any()
        assert np.array_equal(child[~mutated], pop[~mutated])


def test_mutation_rates_chi_square():
    rng = np.random.default_rng(11)
    n, trials, pm, qm = 20, 3000, 0.8, 0.05
    chosen = flipped = 0
    per_bit = np.zeros(L)
    for _ in range(trials):
        pop = np.zeros((n, L), np.uint8)
        child, mutated = ops.mutate_flip(pop, rng, pm, qm)
        chosen += mutated.sum()
        flipped += child.sum()
        per_bit += child.sum(axis=0)
    total = trials * n
    assert chi2_stat([chosen, total - chosen], [pm * total, (1 - pm) * total]) < CHI2_999[1]
    bits = chosen * L
    assert chi2_stat([flipped, bits - flipped], [qm * bits, (1 - qm) * bits]) < CHI2_999[1]
    # no bit position is favoured
    assert chi2_stat(per_bit, [flipped / L] * L) < CHI2_999[19]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 25), st.integers(0, 2**32 - 1))
def test_mutation_is_pure_and_seeded(n, seed):
    pop = ops.init_random(n, L, np.random.default_rng(seed))
    before = pop.copy()
    a = ops.mutate_flip(pop, np.random.default_rng(seed + 1))
    b = ops.mutate_flip(pop, np.random.default_rng(seed + 1))
    assert np.array_equal(pop, before)  # input untouched
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert set(np.unique(a[0])) <= {0, 1}


def test_genome_round_trip():
    pop = ops.init_random(5, L, np.random.default_rng(0))
    genomes = ops.to_genomes(pop, (3, 4, 5))
    assert np.array_equal(ops.from_genomes(genomes), pop)
    assert genomes[0].stages == (3, 4, 5)


def test_defaults_are_the_papers():
    assert ops.DEFAULTS == {
        "population": 20,
        "generations": 50,
        "pm": 0.8,
        "qm": 0.05,
        "pc": 0.2,
        "qc": 0.2,
        "stages": (3, 4, 5),
    }
