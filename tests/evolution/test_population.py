"""Generation 0: one initial_population for the engine and the front ends' seeders.

A front end resolves its config (SearchConfig.resolve(), as start_run and create_run do) and
previews initial_population(config, initial_rng(config)): exactly the run's generation 0."""

import numpy as np
import pytest

from genet_lab.encoding.genome import chain, named, paper_best
from genet_lab.errors import ConfigError
from genet_lab.evolution import RunStore, SearchConfig, start_run
from genet_lab.evolution import operators as ops
from genet_lab.evolution.population import initial_population, initial_rng

FILE = ("1-01 0-01-100 0-11-101-0001", "0-00 0-00-000 0-00-000-0000", "1-11 1-11-111 1-11-111-1111")
STARTS = [
    dict(init="random"),
    dict(init="random", init_p=0.2),
    dict(kind="random", init="zeros"),
    dict(init="zeros"),
    dict(init="chain", init_flips=3),
    dict(init="residual"),
    dict(init="dense", init_flips=0),
    dict(init="residual-40", stages=(11, 11, 11)),
    dict(init="residual-40", init_flips=5),
    dict(init="paper-best", init_flips=1),
    dict(init="file", init_genomes=FILE, population=3),
    dict(init="1-01 0-01-100 0-11-101-0001", init_flips=2),
]


@pytest.mark.parametrize("start", STARTS, ids=lambda s: "-".join(str(v) for v in s.values())[:40])
def test_initial_population_is_the_runs_generation_0(tmp_path, start):
    config = SearchConfig(**{"fitness": "toy", "population": 6, "generations": 0, "seed": 11, **start}).resolve()
    expected = initial_population(config, initial_rng(config))
    assert len(expected) == config.population
    start_run(tmp_path / "r", config)
    with RunStore(tmp_path / "r", readonly=True) as store:
        stored = [ind.genome for ind in store.individuals(0)]
    assert stored == [g.notation() for g in expected]
    # deterministic: the same config gives the same population again, another seed another one
    assert initial_population(config, initial_rng(config)) == expected


def test_generation_0_is_what_the_engine_drew_before():
    """New runs of an existing seed start as they did: the same draws from default_rng(seed)."""
    base = SearchConfig(fitness="toy", population=5, seed=3).resolve()
    length = int(ops.stage_bounds((3, 4, 5))[-1])
    old_random = ops.init_random(5, length, np.random.default_rng(3), 0.5)
    assert [g.bits for g in initial_population(base, initial_rng(base))] == [tuple(r) for r in old_random]
    flips = base.with_overrides(init="chain", init_flips=4).resolve()
    old_chain = ops.init_from_base(named("chain", (3, 4, 5)), 5, np.random.default_rng(3), 4)
    assert [g.bits for g in initial_population(flips, initial_rng(flips))] == [tuple(r) for r in old_chain]


def test_a_written_genome_is_copied_with_flips():
    config = SearchConfig(fitness="toy", population=4, init=paper_best().notation(), init_flips=1).resolve()
    pop = initial_population(config, initial_rng(config))
    assert all(sum(a != b for a, b in zip(g.bits, paper_best().bits)) == 1 for g in pop)
    bits = SearchConfig(fitness="toy", population=2, init="".join(map(str, chain().bits)), init_flips=0).resolve()
    assert initial_population(bits, initial_rng(bits)) == [chain(), chain()]


def test_a_bad_start_names_the_field():
    config = SearchConfig(fitness="toy", init="nonsense", stages=(3, 4, 5))  # resolve() would refuse it too
    with pytest.raises(ConfigError) as err:
        initial_population(config, initial_rng(config))
    assert err.value.option == "init" and "--" not in str(err.value)
    assert "random, zeros" in str(err.value)
