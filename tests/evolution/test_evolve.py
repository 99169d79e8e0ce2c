"""The genetic process: lineage, the occurrence-mean fitness, structure reuse, resume (also after kill -9)."""

import json
import os
import signal
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import cli_popen, snapshot

from genet_lab.cli.main import main
from genet_lab.errors import ConfigError, UsageError
from genet_lab.evolution import RunStore, SearchConfig, resume_run, start_run
from genet_lab.evolution import events as ev
from genet_lab.evolution.operators import stage_bounds

BOUNDS = stage_bounds((3, 4, 5))


def toy(**kw):
    base = dict(fitness="toy", population=8, generations=4, seed=5)
    return SearchConfig(**{**base, **kw})


def test_toy_run_lineage_and_statistics(tmp_path):
    seen = []
    status = start_run(tmp_path / "r", toy(generations=6, population=10), listeners=[seen.append])
    assert status.state == "finished" and status.evaluations_done == 70
    gens, inds, _ = snapshot(tmp_path / "r")
    assert [g.gen for g in gens] == list(range(7))
    by_gen = {g: [i for i in inds if i.gen == g] for g in range(7)}
    for g in gens:
        fit = [i.fitness for i in by_gen[g.gen]]
        assert g.max == max(fit) and g.min == min(fit)
        assert g.mean == pytest.approx(statistics.fmean(fit)) and g.std == pytest.approx(np.std(fit))
        assert g.median == pytest.approx(statistics.median(fit))
        assert g.best == by_gen[g.gen][int(np.argmax(fit))].genome
    ops_seen = set()
    for gen in range(1, 7):
        prev = by_gen[gen - 1]
        worst = min(p.fitness for p in prev)
        all_equal = max(p.fitness for p in prev) == worst
        for i in by_gen[gen]:
            ops_seen.add(i.op)
            parents = [prev[p] for p in i.parents]
            if not all_equal:
                assert all(p.fitness > worst for p in parents), "the worst individual was selected"
            child = np.array([int(c) for c in i.bits])
            pbits = [np.array([int(c) for c in p.bits]) for p in parents]
            if i.op == "selection":
                assert len(parents) == 1 and np.array_equal(child, pbits[0]) and not i.changed
            elif i.op == "mutation":
                assert len(parents) == 1 and i.changed == (not np.array_equal(child, pbits[0]))
            else:
                assert i.op == "crossover" and len(parents) == 2
                for s in range(3):
                    seg = slice(BOUNDS[s], BOUNDS[s + 1])
                    assert any(np.array_equal(child[seg], p[seg]) for p in pbits)
    assert {"selection", "mutation"} <= ops_seen
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("GenerationFinished") == 7 and kinds.count("IndividualEvaluated") == 70
    with RunStore(tmp_path / "r", readonly=True) as st:
        assert [e for _, e in st.events_since(0)] == seen  # the same events, persisted for other processes


def test_fitness_is_the_mean_over_all_occurrences(tmp_path):
    # Low mutation keeps many repeated individuals, so the rule is exercised.
    start_run(tmp_path / "r", toy(generations=6, population=10, pm=0.2))
    _, inds, _ = snapshot(tmp_path / "r")
    repeats = 0
    for i in inds:
        same = [j.accuracy for j in inds if j.bits == i.bits and j.gen <= i.gen]
        repeats += len(same) > 1
        assert i.fitness == pytest.approx(statistics.fmean(same))
    assert repeats > 10


def test_reuse_structures_trains_each_structure_once(tmp_path):
    seen = []
    start_run(tmp_path / "r", toy(generations=5, population=10, pm=0.3, reuse_structures=True), listeners=[seen.append])
    _, inds, _ = snapshot(tmp_path / "r")
    trained = [i for i in inds if not i.reused]
    reused = [i for i in inds if i.reused]
    assert len({i.structure_key for i in trained}) == len(trained)  # never trained twice
    assert len(reused) > 10 and len(trained) + len(reused) == 60
    for i in inds:
        same = [j.accuracy for j in trained if j.structure_key == i.structure_key]
        assert i.fitness == pytest.approx(statistics.fmean(same))
    done = seen[-1]
    assert isinstance(done, ev.RunFinished) and (done.evaluations, done.reused) == (len(trained), len(reused))


def test_random_search_has_the_same_budget(tmp_path):
    start_run(tmp_path / "r", toy(kind="random", generations=3, population=6))
    gens, inds, status = snapshot(tmp_path / "r")
    assert len(inds) == 6 * 4 and {i.op for i in inds} == {"random"}
    assert status.kind == "random" and len(gens) == 4


def test_zero_start(tmp_path):
    start_run(tmp_path / "r", toy(init="zeros", generations=1))
    _, inds, _ = snapshot(tmp_path / "r")
    assert all(set(i.bits) == {"0"} for i in inds if i.gen == 0)
    assert all(i.op == "init" for i in inds if i.gen == 0)


@pytest.mark.parametrize("stop_after", [1, 9, 17, 30])
def test_resume_after_stop_equals_uninterrupted(tmp_path, stop_after):
    start_run(tmp_path / "full", toy())
    count = []

    def should_stop():
        return len(count) >= stop_after

    status = start_run(
        tmp_path / "cut",
        toy(),
        listeners=[lambda e: count.append(e) if isinstance(e, ev.IndividualEvaluated) else None],
        should_stop=should_stop,
    )
    assert status.state == "stopped" or status.state == "running"
    before = snapshot(tmp_path / "cut")[1]
    resume_run(tmp_path / "cut")
    after = snapshot(tmp_path / "cut")
    full = snapshot(tmp_path / "full")
    assert after[0] == full[0] and after[1] == full[1]
    done_before = [i for i in before if i.state == "done"]
    assert len(done_before) >= stop_after
    for i in done_before:  # nothing finished was lost or redone
        assert after[1][i.gen * 8 + i.index].accuracy == i.accuracy


def test_resume_extends_a_finished_run(tmp_path):
    start_run(tmp_path / "a", toy(generations=2))
    resume_run(tmp_path / "a", generations=4)
    start_run(tmp_path / "b", toy(generations=4))
    assert snapshot(tmp_path / "a")[0] == snapshot(tmp_path / "b")[0]
    with pytest.raises(ValueError, match="must be >= 4"):
        resume_run(tmp_path / "a", generations=1)


@pytest.mark.slow
def test_proxy_fitness_resume_is_exact(tmp_path):
    cfg = SearchConfig(fitness="proxy", population=3, generations=1, seed=1)
    start_run(tmp_path / "full", cfg)
    n = []
    start_run(
        tmp_path / "cut",
        cfg,
        listeners=[lambda e: n.append(1) if isinstance(e, ev.IndividualEvaluated) else None],
        should_stop=lambda: len(n) >= 4,
    )
    resume_run(tmp_path / "cut")
    full, cut = snapshot(tmp_path / "full"), snapshot(tmp_path / "cut")
    assert cut[0] == full[0] and cut[1] == full[1]
    assert full[0][0].max > 100  # a NASWOT log-determinant, not an accuracy


def _wait_done(run_dir, at_least, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (run_dir / "run.sqlite").exists():
            try:
                with RunStore(run_dir, readonly=True) as st:
                    if st.status().evaluations_done >= at_least:
                        return
            except Exception:
                pass
        time.sleep(0.05)
    raise AssertionError("the run did not progress")


@pytest.mark.slow
def test_kill_9_then_resume_loses_nothing(tmp_path):
    args = ["evolve", "--fitness", "toy", "-N", "6", "-T", "5", "--seed", "3"]
    env = {**os.environ, "GENET_LAB_TOY_DELAY": "0.15"}
    run = tmp_path / "killed"
    proc = cli_popen(*args, "--run-dir", str(run), env=env)
    _wait_done(run, 2)
    # a second writer is refused while the first one runs
    second = cli_popen("evolve", "--resume", str(run))
    _, err = second.communicate(timeout=60)
    _wait_done(run, 9)
    assert second.returncode == 2 and err.startswith("error: run directory") and "being written by pid" in err
    assert len(err.strip().splitlines()) == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = snapshot(run)[1]
    finished = [i for i in before if i.state == "done"]
    assert 9 <= len(finished) < 36
    res = cli_popen("evolve", "--resume", str(run), "--json")
    out, err = res.communicate(timeout=60)
    assert res.returncode == 0, err
    report = json.loads(out)
    assert report["status"]["state"] == "finished" and report["evaluations"] == 36
    assert main([*args, "--run-dir", str(tmp_path / "clean"), "--json"]) == 0
    a, b = snapshot(run), snapshot(tmp_path / "clean")
    assert a[0] == b[0] and a[1] == b[1]
    for i in finished:
        assert a[1][i.gen * 6 + i.index].accuracy == i.accuracy


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["evolve", "--fitness", "toy", "-N", "2", "-T", "0", "--run-dir", str(tmp_path / "r"), "--json"]) == 0
    capsys.readouterr()
    cases = [
        (["evolve", "--resume", str(tmp_path / "r"), "--population", "3"], "drop --population"),
        (["evolve", "--resume", str(tmp_path / "nope")], "not a genet-lab run directory"),
        (["evolve", "--fitness", "toy", "--run-dir", str(tmp_path / "r")], "already holds a run"),
        (["random-search", "--resume", str(tmp_path / "r")], "holds a run of kind ga"),
        (["evolve", "--fitness", "toy", "-N", "1"], "population must be at least 2"),
        (["evolve", "--fitness", "toy", "--init", str(tmp_path / "missing.txt")], "does not exist"),
        (["evolve", "--fitness", "toy", "--stages", "3,x"], "stage sizes must be integers"),
    ]
    for argv, msg in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error:") and msg in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit) as exc:
        main(["evolve", "--pm", "1.5"])
    assert exc.value.code == 2
    assert "expected a probability" in capsys.readouterr().err


def test_cli_init_file_sets_population(tmp_path, capsys):
    f = tmp_path / "pop.txt"
    f.write_text("paper-best\nzeros\nchain\n")
    assert (
        main(["evolve", "--fitness", "toy", "--init", str(f), "-T", "1", "--run-dir", str(tmp_path / "r"), "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["population"] == 3 and out["config"]["init"] == "file"
    assert out["generations"][0]["best"] == "1-01 0-01-100 0-11-101-0001"


def test_train_fitness_tiny_budget(tmp_path, capsys):
    assert (
        main(
            [
                "evolve",
                "-N",
                "2",
                "-T",
                "1",
                "--epochs",
                "1",
                "--train-size",
                "100",
                "--val-size",
                "60",
                "--run-dir",
                str(tmp_path / "t"),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["evaluations"] == 4 and out["fitness"] == "train"
    for g in out["generations"]:
        assert 0.0 <= g["min"] <= g["max"] <= 100.0
    with RunStore(tmp_path / "t", readonly=True) as st:
        inds = st.individuals()
    assert all(i.state in ("done", "failed") and i.seconds > 0 and i.device for i in inds)


def test_cli_init_p_and_schedule_reach_the_run(tmp_path, capsys):
    assert (
        main(
            [
                "evolve",
                "--fitness",
                "toy",
                "-N",
                "4",
                "-T",
                "0",
                "--init-p",
                "0",
                "--schedule",
                "paper",
                "--run-dir",
                str(tmp_path / "r"),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["init_p"] == 0.0 and out["config"]["train"]["schedule"] == "paper"
    with RunStore(tmp_path / "r", readonly=True) as st:
        assert {i.genome for i in st.individuals(0)} == {"0-00 0-00-000 0-00-000-0000"}


def test_workers_give_the_same_run_as_the_serial_loop(tmp_path, capsys):
    args = ["evolve", "--fitness", "toy", "-N", "8", "-T", "3", "--seed", "3", "--reuse-structures", "--json"]
    assert main([*args, "--run-dir", str(tmp_path / "serial")]) == 0
    assert main([*args, "--run-dir", str(tmp_path / "workers"), "--workers", "2"]) == 0
    capsys.readouterr()
    serial, workers = snapshot(tmp_path / "serial"), snapshot(tmp_path / "workers")
    assert serial[0] == workers[0]  # per-generation statistics
    assert serial[1] == workers[1]


def test_batched_generation_with_the_trainer_and_resume(tmp_path, capsys):
    run = tmp_path / "b"
    base = ["-N", "4", "--epochs", "1", "--train-size", "100", "--val-size", "60", "--json"]
    assert main(["evolve", *base, "-T", "0", "--batched", "on", "--run-dir", str(run)]) == 0
    assert main(["evolve", "--resume", str(run), "-T", "1", "--batched", "on", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["evaluations"] == 8 and [g["gen"] for g in out["generations"]] == [0, 1]
    with RunStore(run, readonly=True) as st:
        assert all(i.state in ("done", "failed") and 0 <= i.accuracy <= 100 for i in st.individuals())


def test_one_execution_choice_at_a_time(capsys):
    assert main(["evolve", "--fitness", "toy", "--workers", "2", "--ray", "local"]) == 2
    assert "choose one of" in capsys.readouterr().err


# -- the Python entry point, the config and the fitness protocols ----------------------------------


def test_evolve_runs_to_the_end_and_matches_start_run(tmp_path):
    from genet_lab.evolution import RunStatus, evolve

    status = evolve(tmp_path / "a", fitness="toy", population=6, generations=2, seed=4)
    assert isinstance(status, RunStatus) and status.state == "finished" and status.evaluations_done == 18
    start_run(tmp_path / "b", SearchConfig(fitness="toy", population=6, generations=2, seed=4))
    assert snapshot(tmp_path / "a")[:2] == snapshot(tmp_path / "b")[:2]
    base = toy(generations=1)
    assert evolve(tmp_path / "c", base, population=4).evaluations_total == 8  # overrides replace config fields
    with pytest.raises(UsageError, match="unknown search config keys: populaton"):
        evolve(tmp_path / "d", fitness="toy", populaton=4)
    assert not (tmp_path / "d").exists()


def test_search_config_round_trip_and_unknown_keys():
    from genet_lab.evolution import TrainOverrides

    cfg = toy(train={"lr": 0.05, "batch_size": 16})
    assert cfg.train == TrainOverrides(lr=0.05, batch_size=16, recipe="fast")  # the default recipe, named
    d = cfg.to_dict()
    assert d["train"] == {"lr": 0.05, "batch_size": 16, "recipe": "fast"} and json.loads(json.dumps(d)) == d
    assert SearchConfig.from_dict(d) == cfg and hash(SearchConfig.from_dict(d)) == hash(cfg)
    empty = SearchConfig.from_dict({"fitness": "toy", "stages": [3, 4, 5], "train": None})
    assert empty.train == TrainOverrides(recipe="fast")
    with pytest.raises(UsageError, match=r"^unknown search config keys: bogus, other$"):
        SearchConfig.from_dict({**d, "bogus": 1, "other": 2})
    with pytest.raises(UsageError, match="unknown training option.*: lrr; known: augment, batch_size"):
        SearchConfig.from_dict({**d, "train": {"lrr": 0.1}})
    with pytest.raises(UsageError, match="unknown training option.*: epochs"):
        toy(train={"epochs": 3})  # SearchConfig.epochs says that
    with pytest.raises(UsageError, match="batch_size must be an integer, got '32'"):
        TrainOverrides(batch_size="32")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="lr must be a number"):
        TrainOverrides.from_dict({"lr": True})
    with pytest.raises(UsageError, match="nesterov must be true or false"):
        TrainOverrides.from_dict({"nesterov": 1})


def test_train_overrides_are_train_config_fields():
    """Every override is a TrainConfig field of the same type, and TrainConfig takes each one."""
    import typing
    from dataclasses import fields

    from genet_lab.evolution import TrainOverrides
    from genet_lab.training.config import TrainConfig, default_train_config

    train_types = typing.get_type_hints(TrainConfig)
    over_types = typing.get_type_hints(TrainOverrides)
    for f in fields(TrainOverrides):
        assert f.name in train_types, f.name
        assert over_types[f.name] == train_types[f.name] | None, f.name
    # A new TrainConfig field belongs in TrainOverrides (or here, with the reason it is not).
    assert {f.name for f in fields(TrainConfig)} - set(over_types) == {"epochs", "seed", "eval_test"}
    sample = TrainOverrides(
        batch_size=8,
        lr=0.1,
        momentum=0.5,
        weight_decay=0.0,
        schedule="constant",
        device="cpu",
        precision="fp32",
        channels_last="off",
        augment="none",
        nesterov=True,
        label_smoothing=0.1,
        dropout=0.2,
        ema=0.9,
        recipe="paper",
        threads=1,
    )
    assert {k for k, v in vars(sample).items() if v is None} == set()
    cfg = default_train_config("digits", **sample.to_dict())
    assert all(getattr(cfg, k) == v for k, v in sample.to_dict().items())


def test_fitness_and_executor_protocols():
    """A fitness only evaluates; every way of running a generation is an Executor (one map)."""
    from genet_lab.evolution import Executor, Fitness
    from genet_lab.evolution.executors import (
        BatchedExecutor,
        ProcessExecutor,
        SerialExecutor,
        fitness_from_search,
        make_executor,
    )
    from genet_lab.evolution.fitness import ToyFitness, TrainFitness

    f = ToyFitness((3, 4, 5))
    assert isinstance(f, Fitness) and not isinstance(f, Executor)
    assert hasattr(TrainFitness, "evaluate_population")
    config = SearchConfig(fitness="toy")
    assert isinstance(make_executor(f, config), SerialExecutor) and isinstance(make_executor(f, config, {}), Executor)
    workers = make_executor(f, config, {"workers": 2, "batched": "off"})
    assert isinstance(workers, ProcessExecutor) and isinstance(workers, Executor) and workers.workers == 2
    assert workers.factory is fitness_from_search
    with pytest.raises(UsageError, match="needs the train fitness"):
        BatchedExecutor(f)
    with pytest.raises(UsageError, match="needs the train fitness"):
        make_executor(f, config, {"batched": "on"})
    for bad, option in (({"workers": 2, "ray": "local"}, "ray"), ({"batched": "x"}, "batched"), ({"gpus": 1}, "gpus")):
        with pytest.raises(ConfigError) as err:
            make_executor(f, config, bad)
        assert err.value.option == option and "--" not in str(err.value)
    assert "choose one of --workers, --devices, --ray and --batched; got --workers and --ray" == ConfigError.format(
        _raised(lambda: make_executor(f, config, {"workers": 2, "ray": "local"})), lambda o: "--" + o
    )


def _raised(fn):
    try:
        fn()
    except ConfigError as exc:
        return exc
    raise AssertionError("no ConfigError")


def test_evolution_modules_import_no_cycle_and_executors_do_not_know_the_engine():
    """Function-level imports count: the import graph of genet_lab.evolution has no cycle."""
    import ast

    root = Path(__file__).parents[2] / "genet_lab" / "evolution"
    graph = {}
    for path in root.glob("*.py"):
        mod = f"genet_lab.evolution.{path.stem}"
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("genet_lab.evolution"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                deps |= {n for n in names if (root / f"{n.rsplit('.', 1)[-1]}.py").exists() and n.count(".") == 2}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("genet_lab.evolution.")}
        graph[mod] = deps - {mod, "genet_lab.evolution"}
    assert "genet_lab.evolution.engine" not in graph["genet_lab.evolution.executors"]
    state: dict = {}

    def visit(m, trail):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", " -> ".join(trail + [m])
        state[m] = "open"
        for d in graph.get(m, ()):
            visit(d, trail + [m])
        state[m] = "done"

    for m in graph:
        visit(m, [])


def test_store_reads_are_records_and_no_sql_outside_the_store(tmp_path):
    from genet_lab.evolution import GenerationStats, Individual, RunStatus

    start_run(tmp_path / "r", toy(generations=1))
    with RunStore(tmp_path / "r", readonly=True) as st:
        inds, gens, status = st.individuals(), st.generations(), st.status()
    assert all(isinstance(i, Individual) and isinstance(i.parents, tuple) for i in inds)
    assert all(isinstance(g, GenerationStats) for g in gens) and isinstance(status, RunStatus)
    root = Path(__file__).parents[2] / "genet_lab"
    offenders = [
        str(p)
        for p in root.rglob("*.py")
        # fileio.connect_reader only probes sqlite_master when it opens a database, no run data
        if p.name not in ("store.py", "queries.py", "fileio.py")
        and any(s in p.read_text() for s in (".conn.", 'execute("SELECT', "execute('SELECT"))
    ]
    assert offenders == []


def test_the_recipe_is_stored_and_an_old_run_resumes_with_the_legacy_one(tmp_path, capsys):
    assert main(["evolve", "--fitness", "toy", "-N", "4", "-T", "0", "--run-dir", str(tmp_path / "new"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["train"]["recipe"] == "fast"
    assert (
        main(
            [
                "evolve",
                "--fitness",
                "toy",
                "-N",
                "4",
                "-T",
                "0",
                "--recipe",
                "paper",
                "--run-dir",
                str(tmp_path / "paper"),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["config"]["train"]["recipe"] == "paper"
    # a run stored before recipes existed names none: it was trained, and resumes, with legacy
    stored = {**toy().resolve().to_dict(), "train": {"batch_size": 32}}
    assert SearchConfig.from_stored(stored).train.recipe == "legacy"
    assert SearchConfig.from_dict(stored).train.recipe == "fast"
    with pytest.raises(UsageError, match="unknown recipe 'slow'; accepted: fast, paper, legacy"):
        SearchConfig.from_dict({**stored, "train": {"recipe": "slow"}})
