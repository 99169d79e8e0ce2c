"""The SQLite run store: schema, transactions, constraints, lock, read API."""

import sqlite3

import pytest

from genet_lab.errors import UsageError
from genet_lab.evolution import events as ev
from genet_lab.evolution.store import DB_NAME, RunExists, RunStore, _sqlite_kind, _transient

ROW = {
    "genome": "0-00 0-00-000 0-00-000-0000",
    "bits": "0" * 19,
    "parents": [],
    "op": "init",
    "changed": False,
    "structure_key": "k",
    "params": 10,
    "macs": 20,
    "seed": 1,
}


@pytest.fixture
def store(tmp_path):
    s = RunStore.create(tmp_path / "run", "ga", 3, {"population": 2, "generations": 1, "fitness": "toy"})
    yield s
    s.close()


def test_create_and_config(store, tmp_path):
    assert (tmp_path / "run" / DB_NAME).is_file()
    assert store.config() == {"population": 2, "generations": 1, "fitness": "toy", "kind": "ga", "seed": 3}
    mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    st = store.status()
    assert st.state == "running" and st.evaluations_total == 4 and st.evaluations_done == 0


def test_create_refuses_existing_run(store, tmp_path):
    with pytest.raises(RunExists, match="already holds a run") as info:
        RunStore.create(tmp_path / "run", "ga", 0, {})
    assert isinstance(info.value, UsageError) and info.value.directory == tmp_path / "run"
    assert info.value.format(lambda name: "--" + name.replace("_", "-")).endswith(
        f"use --resume {tmp_path / 'run'} or another --run-dir"
    )


def test_sqlite_errors_are_told_apart_by_their_code(store, tmp_path):
    # SQLite's own errors carry their result code; the store branches on it, not on the message
    other = sqlite3.connect(store.db, timeout=0, isolation_level=None)
    try:
        store.conn.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            other.execute("BEGIN IMMEDIATE")
        store.conn.execute("ROLLBACK")
    finally:
        other.close()
    assert busy.value.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    assert _sqlite_kind(busy.value) == "busy" and _transient(busy.value)
    reader = sqlite3.connect(f"file:{store.db}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.OperationalError) as readonly:
            reader.execute("INSERT INTO events (type, data, time) VALUES ('x', '{}', 0)")
    finally:
        reader.close()
    assert _sqlite_kind(readonly.value) == "readonly" and not _transient(readonly.value)
    coded = sqlite3.OperationalError("any words at all")
    coded.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert _sqlite_kind(coded) == "full"
    # the kind comes from the code alone: words in a message change nothing
    assert _sqlite_kind(sqlite3.OperationalError("database or disk is full")) is None


def test_open_missing_dir_is_clear(tmp_path):
    with pytest.raises(UsageError, match="not a genet-lab run directory"):
        RunStore(tmp_path / "nothing", readonly=True)


def test_second_writer_refused(store, tmp_path):
    with pytest.raises(UsageError, match="being written by pid"):
        RunStore(tmp_path / "run")
    reader = RunStore(tmp_path / "run", readonly=True)  # readers need no lock
    assert reader.writer_alive()
    reader.close()
    store.close()
    again = RunStore(tmp_path / "run")  # the lock goes with the writer
    again.close()


def test_schema_version_checked(store, tmp_path):
    store.conn.execute("UPDATE schema_version SET version = 99")
    store.close()
    with pytest.raises(UsageError, match="schema version 99.*reads versions 1 to 3"):
        RunStore(tmp_path / "run", readonly=True)


def _downgrade_to_v1(run_dir):
    """Turn a store into what the first release wrote: schema version 1, no test_accuracy column."""
    conn = sqlite3.connect(run_dir / DB_NAME)
    conn.execute("ALTER TABLE evaluations DROP COLUMN test_accuracy")
    conn.execute("ALTER TABLE run DROP COLUMN data")
    conn.execute("UPDATE schema_version SET version = 1")
    conn.commit()
    conn.close()


def test_old_schema_is_read_as_it_is_and_migrated_on_resume(tmp_path):
    from genet_lab.evolution import SearchConfig, resume_run, start_run

    run = tmp_path / "old"
    start_run(run, SearchConfig(fitness="toy", population=4, generations=1, seed=5))
    _downgrade_to_v1(run)
    with RunStore(run, readonly=True) as r:  # a reader never changes a store
        assert r.version == 1
        inds = r.individuals()
        assert len(inds) == 8 and all(i.test_accuracy is None for i in inds)
    with sqlite3.connect(run / DB_NAME) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 1
    status = resume_run(run, generations=2)  # a writer migrates, then carries on
    assert status.state == "finished" and status.evaluations_done == 12
    with RunStore(run, readonly=True) as r:
        assert r.version == 3 and r.integrity() == "ok"
        assert [i.accuracy for i in r.individuals()][:8] == [i.accuracy for i in inds]
    with sqlite3.connect(run / DB_NAME) as conn:
        cols = [row[1] for row in conn.execute("PRAGMA table_info(evaluations)")]
        assert "test_accuracy" in cols
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 3


def test_old_schema_reports(tmp_path):
    from genet_lab.evolution import SearchConfig, start_run
    from genet_lab.evolution.report import run_summary

    run = tmp_path / "old"
    start_run(run, SearchConfig(fitness="toy", population=4, generations=1, seed=5))
    _downgrade_to_v1(run)
    s = run_summary(run)
    assert s["table1"]["test"] is None and s["single_evaluations"]["test"] is None
    assert len(s["table1"]["validation"]) == 2 and s["pareto"]


def test_not_a_database(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / DB_NAME).write_text("hello, not sqlite " * 100)
    with pytest.raises(UsageError, match="not a readable genet-lab run database"):
        RunStore(d, readonly=True)


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as c:
            c.execute("INSERT INTO events (type, data, time) VALUES ('x', '{}', 0)")
            raise RuntimeError("boom")
    assert store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_generation_write_is_atomic(store):
    bad = dict(ROW, op="teleport")  # violates the op CHECK constraint
    with pytest.raises(sqlite3.IntegrityError):
        store.add_generation(0, [ROW, bad], {"state": 1})
    assert store.generations(finished_only=False) == []
    assert store.individuals() == []


def test_duplicates_are_rejected(store):
    store.add_generation(0, [ROW, ROW], {"s": 1})
    with pytest.raises(sqlite3.IntegrityError):
        store.add_generation(0, [ROW], {"s": 1})


def test_evaluation_state_machine_and_reads(store):
    store.add_generation(
        0, [ROW, dict(ROW, bits="1" + "0" * 18)], {"bit_generator": "PCG64"}, ev.GenerationStarted(0, 2)
    )
    assert [i.state for i in store.individuals(0)] == ["pending", "pending"]
    store.start_evaluation(0, 0)
    with pytest.raises(RuntimeError, match="not pending"):
        store.start_evaluation(0, 0)
    assert store.reset_running() == 1
    store.start_evaluation(0, 0)
    store.finish_evaluation(
        0,
        0,
        accuracy=71.5,
        loss=0.9,
        seconds=2.0,
        device="cpu",
        event=ev.IndividualEvaluated(0, 0, "g", 71.5, "done", False, 2.0, 1, 2),
    )
    with pytest.raises(RuntimeError, match="already finished"):
        store.finish_evaluation(0, 0, accuracy=1, loss=None, seconds=0, device="cpu")
    store.start_evaluation(0, 1)
    store.finish_evaluation(0, 1, accuracy=0.0, loss=None, seconds=1.0, device="cpu", failed=True, error="nan")
    inds = store.individuals(0)
    assert [i.state for i in inds] == ["done", "failed"]
    assert inds[0].accuracy == 71.5 and inds[0].params == 10 and inds[0].parents == ()
    assert inds[0].to_dict()["parents"] == [] and inds[1].error == "nan" and inds[1].reused is False
    assert store.rng_state(0) == {"bit_generator": "PCG64"}
    store.finish_generation(
        0,
        [71.5, 0.0],
        {
            "max": 71.5,
            "min": 0.0,
            "mean": 35.75,
            "median": 35.75,
            "std": 35.75,
            "best": "g",
            "best_index": 0,
            "evaluations": 2,
            "reused": 0,
        },
        ev.GenerationFinished(0, 71.5, 0.0, 35.75, 35.75, 35.75, "g"),
    )
    gens = store.generations()
    assert gens[0].gen == 0 and gens[0].max == 71.5 and gens[0].best == "g"
    events = store.events_since(0)
    assert [type(e).__name__ for _, e in events] == ["GenerationStarted", "IndividualEvaluated", "GenerationFinished"]
    assert store.events_since(events[1][0]) == events[2:]
    assert store.status().evaluations_done == 2
    assert store.evaluation_counts() == (2, 0) and store.integrity() == "ok"
    assert store.evaluation_log()[(0, 1)][:2] == ("failed", 0.0)


def test_readonly_store_cannot_write(store, tmp_path):
    reader = RunStore(tmp_path / "run", readonly=True)
    with pytest.raises(UsageError, match="read-only"):
        reader.add_event(ev.GenerationStarted(0, 1))
    reader.close()


def test_status_stopped_without_writer(store, tmp_path):
    store.close()
    with RunStore(tmp_path / "run", readonly=True) as r:
        assert r.status().state == "stopped"


def test_test_accuracy_stored_per_evaluation(store):
    store.add_generation(0, [ROW, {**ROW, "seed": 2}], {"s": 1})
    store.finish_evaluation(0, 0, accuracy=80.0, loss=None, seconds=1.0, device="cpu", test_accuracy=78.5)
    store.finish_evaluation(0, 1, accuracy=81.0, loss=None, seconds=1.0, device="cpu")
    assert [i.test_accuracy for i in store.individuals(0)] == [78.5, None]


def test_event_round_trip():
    e = ev.RunFinished(3, 10, 2, "1-01 0-01-100 0-11-101-0001", 77.2)
    assert ev.from_dict(ev.to_dict(e)) == e
    with pytest.raises(ValueError, match="unknown event type"):
        ev.from_dict({"type": "Nope"})
