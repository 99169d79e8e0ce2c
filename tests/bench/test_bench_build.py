"""The build: distinct structures, the store's guarantees, resume after kill -9, workers."""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from helpers import cli_popen, cli_process

from genet_lab.bench.build import build, chunks, projected_cost
from genet_lab.bench.settings import BenchSettings
from genet_lab.bench.store import BenchStore
from genet_lab.bench.structures import canonical_genome, count_structures, iter_structures
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import structure_key
from genet_lab.encoding.space import count_space
from genet_lab.errors import UsageError


@pytest.mark.parametrize("stages", [(3,), (2, 3), (3, 3, 3), (3, 3, 4)])
def test_structures_are_the_distinct_structures_with_their_class_sizes(stages):
    structures = list(iter_structures(stages))
    assert len(structures) == count_space(stages)["distinct"] == count_structures(stages)
    assert len({s.key for s in structures}) == len(structures)
    assert sum(s.class_size for s in structures) == count_space(stages)["strings"]
    for s in structures:
        assert structure_key(s.genome) == s.key
        assert canonical_genome(s.genome) == s.genome


def test_sizes_of_the_spaces_the_issue_names():
    assert count_structures((3, 3, 4)) == 1116
    assert count_structures((3, 3, 3)) == 216


def test_canonical_genome_is_the_smallest_bit_string_of_its_class():
    k = 3  # stage (3,): every 3-bit string, grouped by structure by brute force
    strings = [Genome.from_bits(format(v, "03b"), (k,)) for v in range(8)]
    for g in strings:
        same = [h.bitstring() for h in strings if structure_key(h) == structure_key(g)]
        assert canonical_genome(g).bitstring() == min(same)


def _records(directory: Path) -> list[dict]:
    with BenchStore(directory, readonly=True) as store:
        return [{k: v for k, v in r.items() if k not in ("seconds", "device")} for r in store.done()]


def _check_complete(directory: Path, settings: BenchSettings) -> None:
    with BenchStore(directory, readonly=True) as store:
        assert store.counts() == {"pending": 0, "running": 0, "done": count_structures(settings.stages) * 2}
        pairs = [(r["structure"], r["seed"]) for r in store.done()]
        assert len(pairs) == len(set(pairs))
        for sid, bits, _, key, _ in store.structures():
            genome = Genome.from_bits(bits, settings.stages)
            assert structure_key(genome) == key and canonical_genome(genome) == genome
            assert sorted(seed for s, seed in pairs if s == sid) == list(settings.seeds)


def test_an_uninterrupted_build_has_every_structure_once_per_seed(tiny_build, tiny_settings):
    _check_complete(tiny_build, tiny_settings)
    rec = _records(tiny_build)[0]
    assert len(rec["curve"]) == 1 and rec["curve"][0]["val_accuracy"] == rec["val_accuracy"]
    assert rec["params"] > 0 and rec["macs"] > 0 and rec["test_accuracy"] is not None


def test_rerunning_a_finished_build_trains_nothing_and_other_settings_are_refused(tiny_build, tiny_settings):
    before = _records(tiny_build)
    assert build(tiny_build, tiny_settings, workers=1)["done"] == 24
    assert _records(tiny_build) == before
    other = BenchSettings((2, 3), epochs=2, train_size=200, seeds=(0, 1)).resolved()
    with pytest.raises(UsageError, match=r"other settings \(epochs: 1 -> 2\)"):
        build(tiny_build, other)


def test_one_writer_at_a_time(tiny_build):
    with BenchStore(tiny_build), pytest.raises(UsageError, match="is being built by pid"):
        BenchStore(tiny_build)


def test_projected_cost_is_structures_times_seeds_times_seconds_over_workers(tiny_settings):
    cost = projected_cost(tiny_settings, workers=2, measured=1.5)
    assert (cost["trainings"], cost["seconds"]) == (24, 24 * 1.5 / 2)
    digits = BenchSettings((3, 3, 4)).resolved()
    assert projected_cost(digits, 1)["source"] == "estimated" and projected_cost(digits, 1)["seconds"] > 0


def _done(directory: Path) -> int:
    try:
        with BenchStore(directory, readonly=True) as store:
            return store.counts()["done"]
    except UsageError:  # not created yet
        return 0


def _kill_after_progress(args: tuple[str, ...], out: Path, after: int, extra: float) -> None:
    """Start a build, wait until it has recorded at least ``after`` trainings, wait ``extra``
    seconds more (a random moment inside a training), then kill -9 it."""
    proc = cli_popen("bench", "build", *args, "--out", str(out))
    deadline = time.monotonic() + 30
    while _done(out) < after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(extra)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


@pytest.mark.slow
def test_killed_at_random_moments_then_resumed_equals_an_uninterrupted_build(
    tiny_build, tiny_settings, tiny_args, tmp_path
):
    out = tmp_path / "killed"
    rng = random.Random()
    moments = [(0, rng.uniform(0.0, 1.5))]  # during start-up or creation
    # a tiny training takes about 0.1 s: a longer wait could let the build finish before the last kill
    moments += [(n, rng.uniform(0.0, 0.1)) for n in sorted(rng.sample(range(1, 18), 3))]
    seen = []
    for after, extra in moments:
        _kill_after_progress(tiny_args, out, after, extra)
        seen.append(_done(out))
    assert seen[-1] < 24, (moments, seen)  # the kills left work to resume
    finished = cli_process("bench", "build", *tiny_args, "--out", str(out), "--json")
    assert finished.returncode == 0, finished.stderr
    _check_complete(out, tiny_settings)
    assert _records(out) == _records(tiny_build), (moments, seen)


@pytest.mark.slow
def test_two_workers_give_what_one_gives(tiny_settings, tmp_path):
    small = BenchSettings((3,), epochs=1, train_size=200, seeds=(0, 1)).resolved()
    build(tmp_path / "one", small, workers=1)
    build(tmp_path / "two", small, workers=2)
    assert _records(tmp_path / "two") == _records(tmp_path / "one")


def test_batched_groups_are_fixed_so_a_resumed_batched_build_trains_the_same_groups(tiny_settings, tmp_path):
    batched = dataclasses.replace(tiny_settings, mode="batched", group=5)
    jobs = [(sid, seed, "") for seed in (0, 1) for sid in range(12)]
    assert [[(s, x) for s, x, _ in c] for c in chunks(jobs[3:], batched)][:2] == [
        [(3, 0), (4, 0)],
        [(5, 0), (6, 0), (7, 0), (8, 0), (9, 0)],
    ]
    build(tmp_path / "b", batched, workers=1)
    before = _records(tmp_path / "b")
    with BenchStore(tmp_path / "b") as store, store.transaction():  # as if killed before two groups were stored
        store.conn.execute("UPDATE trainings SET state='pending' WHERE structure >= 5")
    assert build(tmp_path / "b", batched, workers=1)["done"] == 24
    assert _records(tmp_path / "b") == before


def test_an_entry_is_what_an_evolution_evaluation_measures(tiny_build, tiny_settings):
    from genet_lab.evolution.fitness import TrainFitness

    s = tiny_settings
    overrides = {"epochs": s.epochs, "batch_size": s.batch_size, "recipe": s.recipe, "threads": s.threads}
    fitness = TrainFitness(s.dataset, None, s.preset, s.train_size, data_seed=s.table_seed, train_overrides=overrides,
                           eval_test=True)  # fmt: skip
    records = _records(tiny_build)
    with BenchStore(tiny_build, readonly=True) as store:
        bits = {sid: b for sid, b, *_ in store.structures()}
    for rec in (records[1], records[-1]):
        ev = fitness.evaluate(Genome.from_bits(bits[rec["structure"]], s.stages), rec["seed"])
        assert (ev.accuracy, ev.test_accuracy, ev.loss) == (
            rec["val_accuracy"],
            rec["test_accuracy"],
            rec["final_loss"],
        )


class _FullDisk:
    """A connection whose writes of results fail as SQLite fails on a full disk."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql, *args):
        if sql.startswith("UPDATE trainings SET state='done'"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)


def test_a_full_disk_is_one_line_and_loses_nothing(tiny_build, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "bench.sqlite").write_bytes((tiny_build / "bench.sqlite").read_bytes())
    with BenchStore(copy) as store, store.transaction():
        store.conn.execute("UPDATE trainings SET state='pending' WHERE structure = 3")
    before = _records(copy)
    with BenchStore(copy) as store:
        real, store.conn = store.conn, _FullDisk(store.conn)
        with pytest.raises(UsageError, match="cannot write the build .* disk is full .*nothing recorded is lost"):
            store.record([(3, 0, {"curve": [], "failed": False})])
        store.conn = real
        assert store.counts()["pending"] == 2
    assert _records(copy) == before


def test_a_build_is_resumed_only_with_the_package_versions_it_was_started_with(tiny_build, tiny_settings, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "bench.sqlite").write_bytes((tiny_build / "bench.sqlite").read_bytes())
    with BenchStore(copy) as store, store.transaction():
        versions = {**store.meta("versions"), "torch": "1.0.0"}
        store.conn.execute("UPDATE meta SET value=? WHERE name='versions'", (json.dumps(versions),))
    with pytest.raises(UsageError, match=r"other package versions \(torch 1.0.0 -> "):
        build(copy, tiny_settings, workers=1)
