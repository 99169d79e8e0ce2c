"""Search strategies beside the paper's GA (issue 21, item 5) and the in-memory driver of ``bench compare``.

The driver must breed and evaluate exactly what the engine does through the run store: for every
strategy, the same config evaluates the same genomes, with the same seeds and results, in both.
Each strategy's own rule is checked on the strategy object, fed made-up fitness. A synthetic table
of stages (3,3) (made-up accuracies, 3 seeds, one failed training) stands in for a shipped one."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from helpers import table_run, write_table

from genet_lab.bench.table import load_table
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import ConfigError
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.engine import evaluation_seed
from genet_lab.evolution.events import IndividualEvaluated
from genet_lab.evolution.inmemory import Lookup, Seeds, run_in_memory, seed_sequence_words
from genet_lab.evolution.run import resume_run, start_run
from genet_lab.evolution.store import RunStore
from genet_lab.evolution.strategies import AgingStrategy, LocalStrategy, make_strategy
from genet_lab.training import catalog
from tests.helpers import assert_rejected, run_cli

NET = get_preset(catalog.DEFAULT_PRESET).with_input(1, 8, 10)


def _write_table(path, stages=(3, 3)) -> None:
    def runs(s):
        vals = [round(80.0 + (s.index * 7 % 13) + 2.0 * seed, 4) for seed in range(3)]
        return [table_run(k, v, test=v - 0.5, failed=s.index == 1 and k == 2, val_curve=[50.0, v],
                          loss_curve=[1.0, 0.1]) for k, v in enumerate(vals)]  # fmt: skip

    write_table(path, stages, runs)


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "synthetic-33.json.gz"
    _write_table(path)
    return path


CASES = {
    "ga": {"kind": "ga"},
    "ga-reuse": {"kind": "ga", "reuse_structures": True},
    "random": {"kind": "random"},
    "aging": {"kind": "aging", "aging_population": 9, "sample_size": 3},
    "aging-reuse": {"kind": "aging", "aging_population": 6, "sample_size": 6, "reuse_structures": True},
    "local": {"kind": "local"},  # N = 5 < L = 6: neighbours drawn at random, then re-evaluations
    "local-wide": {"kind": "local", "population": 9},  # N > L: every neighbour at once
    "ga-objective": {"kind": "ga", "objective": "params:2"},
}


def _config(table_file, **kw) -> SearchConfig:
    return SearchConfig(fitness=f"table:{table_file}", **{"population": 5, "generations": 7, "seed": 3, **kw}).resolve()


def _stored(run_dir):
    with RunStore(run_dir, readonly=True) as store:
        inds, status = store.individuals(), store.status()
    log = [(i.gen, i.index, i.bits, i.seed, i.accuracy, i.reused) for i in inds]
    return log, [(i.gen, i.index, i.fitness) for i in inds], status


@pytest.mark.parametrize("case", CASES)
def test_the_in_memory_driver_evaluates_what_the_engine_does(case, table_file, tmp_path):
    config = _config(table_file, **CASES[case])
    status = start_run(tmp_path / "run", config)
    log, fitness, _ = _stored(tmp_path / "run")
    trace = run_in_memory(config, Lookup(load_table(str(table_file))), record=True)
    assert trace.log == log
    assert trace.fitness == fitness
    assert trace.outcome.bits == next(b for g, i, b, *_ in log if (g, i) == _best_position(fitness))
    assert trace.outcome.observed == status.best_fitness
    assert trace.outcome.evaluations == sum(not r for *_, r in log)


def _best_position(fitness):
    best = max(f for *_, f in fitness)
    return next((g, i) for g, i, f in fitness if f == best)


def test_on_the_shipped_table_too(tmp_path):
    for kind in ("ga", "aging", "local"):
        config = SearchConfig(fitness="table:digits-334-e6", kind=kind, population=8, generations=4, seed=11).resolve()
        start_run(tmp_path / kind, config)
        log, fitness, _ = _stored(tmp_path / kind)
        trace = run_in_memory(config, Lookup(load_table("digits-334-e6")), record=True)
        assert (trace.log, trace.fitness) == (log, fitness)


def test_a_budget_cuts_the_run_at_that_many_trainings(table_file, tmp_path):
    config = _config(table_file, kind="ga", reuse_structures=True)
    start_run(tmp_path / "run", config)
    log, _, _ = _stored(tmp_path / "run")
    trained = [row for row in log if not row[-1]]
    budget = len(trained) - 3
    trace = run_in_memory(replace(config, generations=10**4), Lookup(load_table(str(table_file))), budget, True)
    assert trace.outcome.evaluations == budget
    assert [row for row in trace.log if not row[-1]] == trained[:budget]
    assert trace.outcome.curve[-1][0] == budget
    assert [c for c, _ in trace.outcome.curve] == sorted(c for c, _ in trace.outcome.curve)


@pytest.mark.parametrize("kind", ["aging", "local"])
def test_a_stopped_and_resumed_run_equals_an_uninterrupted_one(kind, table_file, tmp_path):
    config = _config(table_file, kind=kind, aging_population=9, sample_size=3)
    start_run(tmp_path / "whole", config)
    for stop_after in (7, 18):
        done: list = []

        def stop(d=done, n=stop_after) -> bool:
            return sum(isinstance(e, IndividualEvaluated) for e in d) >= n

        cut = tmp_path / f"cut{stop_after}"
        assert start_run(cut, config, listeners=[done.append], should_stop=stop).state != "finished"
        resume_run(cut)
        assert _stored(cut)[:2] == _stored(tmp_path / "whole")[:2]


def test_the_vectorised_seeds_are_the_engines():
    for seed in (0, 1, 2**31, 2**32 - 1, 2**32, 2**40 + 3, 2**63 - 1, 123456789):
        seeds = Seeds(seed, 7)
        for gen in (0, 1, 63, 64, 1000):
            assert [seeds(gen, i) for i in range(9)] == [evaluation_seed(seed, gen, i) for i in range(9)]
    assert seed_sequence_words([5, 6, np.arange(3)]).tolist() == [evaluation_seed(5, 6, i) for i in range(3)]


# -- each strategy's own rule ------------------------------------------------------------------------


def _rule_config(**kw) -> SearchConfig:
    return SearchConfig(fitness="toy", stages=(3, 3), **{"population": 4, **kw}).resolve()


def test_aging_keeps_the_p_youngest_and_the_oldest_die():
    s = make_strategy(_rule_config(kind="aging", aging_population=6, sample_size=2))
    assert isinstance(s, AgingStrategy)
    rng = np.random.default_rng(0)
    for gen in range(4):
        pop, meta = s.breed(rng)
        assert {m[0] for m in meta} == ({"random"} if len(s.members) < 6 else {"mutation"})
        s.observe(gen, pop, [float(gen * 10 + i) for i in range(4)])
        born = [(g, i) for g in range(gen + 1) for i in range(4)]
        assert [(g, i) for g, i, *_ in s.members] == born[-6:]  # the oldest are gone, in order


def test_aging_copies_the_best_of_each_sample_with_one_bit_flipped():
    s = make_strategy(_rule_config(kind="aging", aging_population=4, sample_size=4))
    pop = np.array([[0] * 6, [1] * 6, [1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]], dtype=np.uint8)
    s.observe(0, pop, [50.0, 60.0, 90.0, 70.0])  # S = P: every tournament holds the whole population
    children, meta = s.breed(np.random.default_rng(1))
    assert all(int(np.sum(c != pop[2])) == 1 for c in children)
    assert all(m == ("mutation", [2], True) for m in meta)
    s.observe(1, children, [0.0] * 4)  # the best (index 2 of generation 0) dies with its generation
    again, meta = s.breed(np.random.default_rng(2))
    assert all(m[1] for m in meta) and all(int(np.sum(a != children[m[1][0]])) == 1 for a, m in zip(again, meta))


def _climb(s: LocalStrategy, fitness, generations: int, seed: int = 0):
    """Run a local search on ``fitness(bits)``; yields (current before, generation, meta, current after)."""
    rng = np.random.default_rng(seed)
    pop = (rng.random((s.config.population, s.length)) < 0.5).astype(np.uint8)
    for gen in range(generations):
        before = None if s.current is None else s.current.copy()
        restart = s.at_optimum()
        s.observe(gen, pop, [fitness(r) for r in pop])
        yield before, restart, s.current.copy()
        pop, meta = s.breed(rng)
        if meta[0][0] != "random":
            assert all(int(np.sum(r != s.current)) in ((1,) if m[0] == "mutation" else (0,)) for r, m in zip(pop, meta))


def test_local_search_moves_only_to_a_better_neighbour_and_restarts_at_a_local_optimum():
    weights = np.array([3.0, -1.0, 2.0, -2.0, 1.0, 0.5])

    def fitness(bits):
        return float(bits @ weights + 5.0 * bits[0] * bits[1])

    s = make_strategy(_rule_config(kind="local", population=4))
    restarts, moves = 0, 0
    for before, restart, after in _climb(s, fitness, 40):
        if restart:
            restarts += 1
            continue
        if not np.array_equal(before, after):
            moves += 1
            assert fitness(after) > fitness(before)  # only uphill (a chain of better neighbours)
    assert restarts >= 2 and moves >= 2


def test_local_search_evaluates_each_neighbour_once_before_calling_a_point_optimal():
    s = make_strategy(_rule_config(kind="local", population=4))
    rng = np.random.default_rng(3)
    s.observe(0, np.zeros((4, 6), dtype=np.uint8), [1.0] * 4)
    seen = set()
    for gen in (1, 2):
        pop, meta = s.breed(rng)
        fresh = [r.tobytes() for r, m in zip(pop, meta) if m[0] == "mutation"]
        assert not seen & set(fresh)
        seen |= set(fresh)
        s.observe(gen, pop, [0.0] * 4)  # nothing better: the current point stays
    assert len(seen) == 6 and s.at_optimum()  # 4 then 2 (+ 2 re-evaluations of the current point)
    assert {m[0] for m in s.breed(rng)[1]} == {"random"}


def test_random_search_breeds_fresh_strings():
    s = make_strategy(_rule_config(kind="random"))
    pop, meta = s.breed(np.random.default_rng(0))
    assert pop.shape == (4, 6) and all(m == ("random", [], True) for m in meta)


# -- bad input ----------------------------------------------------------------------------------------


def test_an_unknown_kind_and_bad_aging_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="unknown kind 'hill'"):
        _rule_config(kind="hill")
    with pytest.raises(ConfigError, match="sample_size"):
        _rule_config(kind="aging", aging_population=3, sample_size=4)
    with pytest.raises(ConfigError, match="aging_population"):
        _rule_config(kind="aging", aging_population=0)


def test_evolve_strategy_on_the_command_line(table_file, tmp_path):
    run = tmp_path / "aging"
    argv = ["evolve", "--strategy", "aging", "--fitness", f"table:{table_file}", "-N", "4", "-T", "3"]
    argv += ["--aging-population", "8", "--sample-size", "2", "--run-dir", str(run), "--json"]
    rc, out, err = run_cli(argv)
    assert rc == 0, err
    assert json.loads(out)["config"]["kind"] == "aging"
    assert run_cli(["evolve", "--resume", str(run), "-T", "4"])[0] == 0
    assert run_cli(["report", str(run), "--out", str(tmp_path / "report")])[0] == 0
    assert_rejected(["random-search", "--resume", str(run)], "holds a run of kind aging", "evolve --resume")
    assert_rejected(["evolve", "--resume", str(run), "--strategy", "local"], "--strategy")
    assert_rejected(["evolve", "--strategy", "hill"], "--strategy", "hill")
    assert_rejected(
        ["evolve", "--strategy", "aging", "--sample-size", "60", "--fitness", "toy"], "--sample-size", "P = 50"
    )
