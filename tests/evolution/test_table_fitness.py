"""``--fitness table:NAME``: a search evaluated from a benchmark table (issue 21, item 4).

A synthetic table of stages (3,3) (made-up accuracies, 3 seeds per structure, written in the format
of :mod:`genet_lab.bench.table`) stands in for a shipped one: no network is trained here."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

import pytest
from helpers import table_run, write_table

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.genome import Genome, parse
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import ConfigError, UsageError
from genet_lab.evolution.config import UNITS, SearchConfig
from genet_lab.evolution.fitness import TableFitness, make_fitness
from genet_lab.evolution.run import evolve
from genet_lab.evolution.store import RunStore
from genet_lab.training import catalog
from tests.helpers import assert_rejected, run_cli

SEEDS = (0, 1, 2)
NET = get_preset(catalog.DEFAULT_PRESET).with_input(1, 8, 10)  # the embedded digits' input


def _val(index: int, seed: int) -> float:
    """Made-up accuracies: structures differ (index), seeds differ by whole points."""
    return round(80.0 + (index * 7 % 13) + 2.0 * seed, 4)


def _write_table(path, stages=(3, 3), failed=()) -> dict:
    def runs(s):
        return [table_run(seed, _val(s.index, seed), test=_val(s.index, seed) - 0.5, failed=(s.index, seed) in failed,
                          val_curve=[50.0, _val(s.index, seed)], loss_curve=[1.0, 0.1 * (seed + 1)])
                for seed in SEEDS]  # fmt: skip

    return write_table(path, stages, runs)


@pytest.fixture
def table_file(tmp_path):
    path = tmp_path / "synthetic-33.json.gz"
    _write_table(path)
    return path


def _search(table_file, **kw) -> SearchConfig:
    return SearchConfig(fitness=f"table:{table_file}", **{"population": 6, "generations": 4, **kw})


def _runs(store_dir) -> list[tuple]:
    with RunStore(store_dir, readonly=True) as store:
        return [(i.gen, i.index, i.bits, i.seed, i.accuracy, i.test_accuracy, i.reused) for i in store.individuals()]


def test_resolve_takes_the_tables_space_data_set_and_budget(table_file):
    config = _search(table_file).resolve()
    assert config.stages == (3, 3)
    assert (config.dataset, config.epochs) == ("digits", 6)
    assert config.fitness == f"table:{table_file.resolve()}"
    assert config.resolve() == config  # idempotent
    assert UNITS.get(config.fitness) == f"val. accuracy % (table {table_file.resolve()})"
    assert UNITS.get("nonsense", "x") == "x"


def test_an_evaluation_is_one_recorded_seed_drawn_by_the_evaluation_seed(table_file):
    fitness = TableFitness(str(table_file), eval_test=True)
    genome = parse("1-01 0-11", (3, 3))
    entry = fitness.table.entry(genome)
    recorded = {r.val: r for r in entry.runs}
    draws = Counter()
    for seed in range(3000):
        ev = fitness.evaluate(genome, seed)
        assert replace(ev, seconds=0) == replace(fitness.evaluate(genome, seed), seconds=0)  # deterministic
        run = recorded[ev.accuracy]  # one of the recorded seeds, nothing else
        assert ev.test_accuracy == run.test and ev.loss == run.loss_curve[-1] and not ev.failed
        draws[run.seed] += 1
    assert set(draws) == set(SEEDS)
    assert all(abs(n / 3000 - 1 / 3) < 0.04 for n in draws.values()), draws
    # another bit string of the same structure reads the same entry
    twin = Genome.from_bits(entry.genome.bits, (3, 3))
    assert fitness.evaluate(twin, 7).accuracy == fitness.evaluate(genome, 7).accuracy
    assert TableFitness(str(table_file)).evaluate(genome, 1).test_accuracy is None  # only with eval_test


def test_the_network_is_the_tables_so_params_and_macs_are_its(table_file):
    fitness = TableFitness(str(table_file))
    assert fitness.net_config == NET
    for e in fitness.table.entries[::5]:
        cx = complexity(e.genome, fitness.net_config)
        assert (cx.params, cx.macs) == (e.params, e.macs)


def test_a_failed_recorded_training_is_a_failed_evaluation(tmp_path):
    path = tmp_path / "failing.json.gz"
    _write_table(path, failed={(0, s) for s in SEEDS})
    fitness = TableFitness(str(path))
    ev = fitness.evaluate(fitness.table.entries[0].genome, 3)
    assert ev.failed and ev.accuracy == 0.0 and "failed" in ev.error


def test_two_runs_with_the_same_seed_are_equal_and_another_seed_differs(tmp_path, table_file):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        evolve(tmp_path / name, _search(table_file, seed=seed, eval_test=True))
    a, b, c = (_runs(tmp_path / n) for n in "abc")
    assert a == b and len(a) == 6 * 5
    assert a != c
    assert all(acc is not None and test is not None for *_, acc, test, _ in a)


def test_every_accuracy_of_a_run_is_a_recorded_one_of_its_structure(tmp_path, table_file):
    evolve(tmp_path / "r", _search(table_file, kind="random", seed=1))
    fitness = make_fitness(_search(table_file).resolve())
    for _, _, bits, seed, acc, _, _ in _runs(tmp_path / "r"):
        genome = Genome.from_bits(bits, (3, 3))
        assert acc in {r.val for r in fitness.table.entry(genome).runs}
        assert acc == fitness.evaluate(genome, seed).accuracy


def test_reuse_of_structures_still_averages_as_the_engine_does(tmp_path, table_file):
    evolve(tmp_path / "r", _search(table_file, reuse_structures=True, population=8, generations=6, seed=2))
    with RunStore(tmp_path / "r", readonly=True) as store:
        rows = store.individuals()
    evaluated: dict[str, list[float]] = {}
    for i in sorted((i for i in rows if not i.reused), key=lambda i: (i.gen, i.index)):
        evaluated.setdefault(i.structure_key, []).append(i.accuracy)
    reused = [i for i in rows if i.reused]
    assert reused  # 8 x 7 draws from 36 structures repeat some
    assert all(len(v) == 1 for v in evaluated.values())  # each structure evaluated once
    assert all(i.accuracy == evaluated[i.structure_key][0] for i in reused)  # its recorded draw, copied
    # without reuse, a structure met again is drawn again (another recorded seed may come up)
    evolve(tmp_path / "n", _search(table_file, population=8, generations=6, seed=2))
    with RunStore(tmp_path / "n", readonly=True) as store:
        again = [i for i in store.individuals() if not i.reused]
    assert len(again) == 8 * 7


@pytest.mark.parametrize(
    ("change", "needle"),
    [({"stages": (3, 4)}, "stages 3,3"), ({"init": "residual-40"}, "11,11,11"), ({"epochs": 18}, "epochs 6")],
)
def test_a_search_outside_the_tables_space_or_budget_is_refused_before_anything_is_made(
    tmp_path, table_file, change, needle
):
    with pytest.raises(ConfigError) as exc:
        evolve(tmp_path / "run", _search(table_file, **change))
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "run").exists()


def test_unknown_and_damaged_tables_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="unknown table 'no-such-table'"):
        SearchConfig(fitness="table:no-such-table").resolve()
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip")
    assert_rejected(["evolve", "--fitness", f"table:{bad}", "--run-dir", str(tmp_path / "r")], "damaged")
    assert_rejected(["evolve", "--fitness", "table:no-such-table", "--run-dir", str(tmp_path / "r")], "no-such-table")
    assert_rejected(["evolve", "--fitness", "tabel", "--run-dir", str(tmp_path / "r")], "table:NAME")
    assert not (tmp_path / "r").exists()


def test_the_cli_runs_n20_t50_on_a_table_in_seconds_and_reports_it(tmp_path):
    path = tmp_path / "t334.json.gz"
    _write_table(path, stages=(3, 3, 4))
    run_dir = tmp_path / "run"
    start = time.perf_counter()
    rc, out, err = run_cli(["evolve", "--fitness", f"table:{path}", "-N", "20", "-T", "50", "--seed", "5",
                            "--run-dir", str(run_dir)])  # fmt: skip
    seconds = time.perf_counter() - start
    assert rc == 0, err
    assert "1020/1020 evaluations" in out
    assert seconds < 30, seconds
    rc, out, err = run_cli(["report", str(run_dir)])
    assert rc == 0, err
    assert "table" in out
    assert_rejected(["random-search", "--fitness", f"table:{path}", "--stages", "3,4,5", "-N", "4"], "3,3,4")
