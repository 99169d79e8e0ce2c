"""Issue 13, part B: Table 1 on the test set, single-training statistics, Figure 4 in the paper's
layout, the Pareto view and a penalised objective."""

import json
import math

import pytest
from helpers import assert_rejected, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from genet_lab.errors import UsageError
from genet_lab.evolution import RunStore, SearchConfig, start_run
from genet_lab.evolution.analysis import (
    averaged_table,
    figure4_points,
    front_of,
    pareto,
    pareto_front,
    single_stats,
    structure_points,
)
from genet_lab.evolution.config import apply_objective, parse_objective
from genet_lab.evolution.fitness import make_fitness
from genet_lab.evolution.records import Individual

PNG = b"\x89PNG\r\n\x1a\n"


def _ind(
    gen,
    index,
    acc,
    *,
    bits="0",
    op="init",
    parents=(),
    changed=True,
    params=10,
    macs=100,
    test=None,
    reused=False,
    state="done",
):
    return Individual(
        gen=gen,
        index=index,
        genome=f"g{bits}",
        bits=bits,
        parents=tuple(parents),
        op=op,
        changed=changed,
        fitness=None,
        structure_key=bits,
        params=params,
        macs=macs,
        state=state,
        accuracy=acc,
        loss=None,
        seconds=0.0,
        device="cpu",
        reused=reused,
        error=None,
        seed=0,
        test_accuracy=test,
    )


# -- the Pareto front ----------------------------------------------------------------------------


def _brute_front(points):
    def dominates(a, b):
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=30))
def test_pareto_front_matches_the_definition(points):
    # small integer ranges make ties (equal accuracy, equal cost, equal points) common
    pts = [(float(a), float(c)) for a, c in points]
    assert pareto_front(pts) == _brute_front(pts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100, allow_nan=False), st.floats(1, 1e9, allow_nan=False)), max_size=40))
def test_pareto_front_of_floats(points):
    front = pareto_front(points)
    assert front == _brute_front(points)
    if points:  # the most accurate point, and the cheapest among the most accurate, is always on it
        best = max(range(len(points)), key=lambda k: (points[k][0], -points[k][1]))
        assert best in front


def test_pareto_entries_mark_each_front():
    inds = [
        _ind(0, 0, 90.0, bits="a", params=100, macs=50),  # best, biggest params, cheap macs
        _ind(0, 1, 80.0, bits="b", params=10, macs=500),  # small params, costly macs
        _ind(0, 2, 70.0, bits="c", params=50, macs=600),  # dominated on both
        _ind(1, 0, 70.0, bits="c", params=50, macs=600),
        _ind(1, 1, 85.0, bits="d", params=20, macs=40, reused=True),
    ]  # only a copy: its copy's value counts
    pts = structure_points(inds)
    assert [p.genome for p in pts] == ["ga", "gb", "gc", "gd"] and pts[2].evaluations == 2
    assert [p.genome for p in front_of(pts, "params")] == ["gb", "gd", "ga"]
    assert [p.genome for p in front_of(pts, "macs")] == ["gd", "ga"]
    entries = pareto(pts)
    assert [(e["genome"], e["fronts"]) for e in entries] == [
        ("gb", ["params"]),
        ("gd", ["params", "macs"]),
        ("ga", ["params", "macs"]),
    ]
    assert set(entries[0]) >= {"genome", "accuracy", "params", "macs"}


# -- Figure 4 and the statistics ------------------------------------------------------------------


def test_figure4_points_in_the_papers_layout():
    inds = [
        _ind(0, 0, 70.0, bits="a"),
        _ind(0, 1, 80.0, bits="b"),
        _ind(0, 2, 60.0, bits="c"),
        _ind(1, 0, 75.0, bits="d", op="crossover", parents=(1, 0)),
        _ind(1, 1, 65.0, bits="e", op="mutation", parents=(2,)),
        _ind(1, 2, 70.0, bits="a", op="selection", parents=(0,), changed=False),
        _ind(1, 3, 71.0, bits="a", op="mutation", parents=(0,), changed=False),  # no bit flipped
        _ind(1, 4, 0.0, bits="f", op="mutation", parents=(0,), state="pending"),
    ]
    pts = figure4_points(inds)
    assert [(p.op, p.first, p.second, p.child) for p in pts] == [
        ("crossover", 80.0, 70.0, 75.0),
        ("mutation", 60.0, 0.0, 65.0),
    ]


def test_single_stats_and_averaged_table():
    inds = [
        _ind(0, 0, 60.0, test=50.0),
        _ind(0, 1, 70.0, test=52.0),  # the same bits twice
        _ind(1, 0, 80.0, test=54.0),
        _ind(1, 1, 0.0, bits="1", state="failed"),
    ]
    single = single_stats(inds)
    assert [(r["gen"], r["n"], r["std"]) for r in single] == [(0, 2, 5.0), (1, 2, 40.0)]
    table = averaged_table(inds)
    assert table[0]["std"] == 0.0 and table[0]["mean"] == 65.0  # copies share one averaged value
    assert table[1]["max"] == 70.0 and table[1]["min"] == 0.0  # (60 + 70 + 80) / 3
    test = averaged_table(inds, "test")
    assert test[1]["n"] == 1 and test[1]["max"] == pytest.approx(52.0)  # the failed one has no test score
    with pytest.raises(ValueError, match="source"):
        single_stats(inds, "train")


# -- runs ------------------------------------------------------------------------------------------


def _selection(run):
    with RunStore(run, readonly=True) as s:
        return [(i.gen, i.bits, i.op, i.parents, i.fitness, i.accuracy) for i in s.individuals()], [
            i.test_accuracy for i in s.individuals()
        ]


def test_eval_test_is_stored_and_never_seen_by_selection(tmp_path):
    base = dict(fitness="toy", population=8, generations=4, seed=11)
    start_run(tmp_path / "plain", SearchConfig(**base))
    start_run(tmp_path / "test", SearchConfig(**base, eval_test=True))
    plain, plain_test = _selection(tmp_path / "plain")
    tested, tests = _selection(tmp_path / "test")
    assert plain == tested  # identical breeding, fitness and accuracy
    assert all(t is None for t in plain_test) and all(t is not None for t in tests)
    assert any(t != a[-1] for t, a in zip(tests, tested))  # the toy's test score differs from its fitness
    with RunStore(tmp_path / "test", readonly=True) as s:
        assert s.config()["eval_test"] is True


def test_all_zero_start_has_a_spread_in_single_trainings(tmp_path, capsys):
    start_run(
        tmp_path / "z", SearchConfig(fitness="toy", population=6, generations=2, seed=3, init="zeros", eval_test=True)
    )
    rc, out, _ = run_cli(["report", str(tmp_path / "z"), "--json", "--out", str(tmp_path / "o")])
    assert rc == 0
    s = json.loads(out)
    assert s["generations"][0]["std"] == 0.0  # the averaged fitness of six copies
    single = s["single_evaluations"]
    assert single["validation"][0]["std"] > 0 and single["validation"][0]["n"] == 6
    assert single["test"][0]["std"] > 0
    # Table 1 recomputed from validation equals the stored one when the objective is accuracy
    for stored, again in zip(s["generations"], s["table1"]["validation"]):
        for k in ("max", "min", "mean", "median", "std"):
            assert again[k] == pytest.approx(stored[k])
        assert again["best"] == stored["best"]
    assert [r["gen"] for r in s["table1"]["test"]] == [0, 1, 2]
    assert s["pareto"] and all(set(e) >= {"genome", "accuracy", "params", "macs"} for e in s["pareto"])
    files = {p.split("/")[-1] for p in s["files"]}
    assert {
        "fig4_paper.png",
        "fig_parent_child.png",
        "fig_pareto.png",
        "table1_test.csv",
        "single_evaluations.csv",
    } <= files
    for name in ("fig4_paper.png", "fig_pareto.png"):
        assert (tmp_path / "o" / name).read_bytes().startswith(PNG)
    md = (tmp_path / "o" / "report.md").read_text()
    assert "### Table 1 (test accuracy" in md and "### Single trainings (test)" in md and "### Pareto view" in md
    rows = (tmp_path / "o" / "single_evaluations.csv").read_text().splitlines()
    assert rows[0].startswith("source,gen,n,") and sum(r.startswith("test,") for r in rows) == 3


# -- the objective ---------------------------------------------------------------------------------


def test_objective_grammar():
    assert parse_objective("accuracy") == ("accuracy", 0.0)
    assert parse_objective("params:0.5") == ("params", 0.5)
    assert parse_objective(" macs:2 ") == ("macs", 2.0)
    for bad in (
        "accuracy-0.5*log10(params)",
        "params",
        "params:",
        "params:-1",
        "params:nan",
        "params:inf",
        "flops:1",
        "__import__('os')",
        "",
    ):
        with pytest.raises(UsageError, match="unknown objective"):
            parse_objective(bad)
    assert apply_objective("params:2", 80.0, 1000, 5) == pytest.approx(74.0)
    assert apply_objective("macs:1", 80.0, 1000, 10**6) == pytest.approx(74.0)
    assert apply_objective("accuracy", 80.0, None, None) == 80.0


def test_penalised_objective_drives_selection_and_keeps_accuracy(tmp_path):
    run = tmp_path / "pen"
    start_run(run, SearchConfig(fitness="toy", population=6, generations=2, seed=4, objective="params:3"))
    with RunStore(run, readonly=True) as s:
        assert s.config()["objective"] == "params:3"
        inds = s.individuals(0)
    for i in inds:  # generation 0 of a random start: distinct genomes, each evaluated once
        assert i.fitness == pytest.approx(i.accuracy - 3 * math.log10(i.params))
    rc, out, _ = run_cli(["report", str(run), "--json", "--no-plots", "--out", str(tmp_path / "o")])
    s = json.loads(out)
    assert s["objective"] == "params:3" and "log10(parameters)" in s["fitness_label"]
    assert s["table1"]["validation"][0]["max"] > s["generations"][0]["max"]  # accuracy shown unpenalised
    assert "### Table 1 (validation accuracy, no penalty)" in (tmp_path / "o" / "report.md").read_text()


def test_cli_options_recorded_and_refused(tmp_path):
    rc, out, _ = run_cli(
        [
            "evolve",
            "--fitness",
            "toy",
            "-N",
            "4",
            "-T",
            "1",
            "--eval-test",
            "--objective",
            "macs:0.5",
            "--run-dir",
            str(tmp_path / "r"),
            "--json",
        ]
    )
    assert rc == 0
    cfg = json.loads(out)["config"]
    assert cfg["eval_test"] is True and cfg["objective"] == "macs:0.5"
    rc, out, _ = run_cli(
        [
            "random-search",
            "--fitness",
            "toy",
            "-N",
            "4",
            "-T",
            "1",
            "--objective",
            "params:1",
            "--run-dir",
            str(tmp_path / "rs"),
            "--json",
        ]
    )
    assert rc == 0 and json.loads(out)["config"]["objective"] == "params:1"
    assert_rejected(
        ["evolve", "--fitness", "toy", "--objective", "accuracy-0.5*log10(params)", "--run-dir", str(tmp_path / "bad")],
        "unknown objective",
        "params:LAMBDA",
    )
    assert_rejected(["evolve", "--fitness", "proxy", "--eval-test", "--run-dir", str(tmp_path / "bad2")], "--eval-test")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()
    assert_rejected(["evolve", "--resume", str(tmp_path / "r"), "--objective", "accuracy"], "--objective")


@pytest.mark.slow
def test_train_fitness_measures_test_only_when_asked():
    base = dict(
        fitness="train",
        dataset="digits",
        train_size=64,
        val_size=64,
        epochs=1,
        train={"batch_size": 32, "threads": 1, "device": "cpu"},
    )
    plain = make_fitness(SearchConfig(**base))
    assert plain.data.test_x is None  # the test split is not even loaded
    tested = make_fitness(SearchConfig(**base, eval_test=True))
    from genet_lab.encoding.genome import chain

    g = chain((3, 4, 5))
    a, b = plain.evaluate(g, 1), tested.evaluate(g, 1)
    assert a.test_accuracy is None and b.test_accuracy is not None and 0.0 <= b.test_accuracy <= 100.0
    assert a.accuracy == pytest.approx(b.accuracy)  # the fitness does not change


# -- front ends ------------------------------------------------------------------------------------


def test_tui_evolution_pane_shows_the_pareto_view(tmp_path):
    import asyncio

    from genet_lab.tui.app import GenetLabApp
    from genet_lab.tui.evolution import EvolutionPane

    run = tmp_path / "run"
    start_run(run, SearchConfig(fitness="toy", population=6, generations=3, seed=2))
    with RunStore(run, readonly=True) as s:
        expected = structure_points(s.individuals())

    async def go():
        app = GenetLabApp(run_dir=run)
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(EvolutionPane)
            while len(pane.generations) < 4:
                await pilot.pause(0.1)
            pane.query_one("#evo-pop").focus()
            assert pane.figure == "fig3"
            await pilot.press("f")
            assert pane.figure == "params"
            assert pane.structure_points() == expected
            await pilot.press("f")
            assert pane.figure == "macs"
            await pilot.press("f")
            assert pane.figure == "genes"  # the population's genes over time (issue 23)
            await pilot.press("f")
            assert pane.figure == "fig3"

    asyncio.run(go())


def test_monitor_draws_the_pareto_figure(tmp_path):
    from genet_lab.widgets import EvolutionMonitor

    run = tmp_path / "run"
    start_run(run, SearchConfig(fitness="toy", population=6, generations=2, seed=2))
    mon = EvolutionMonitor(run)
    try:
        assert bytes(mon.pareto_plot.value).startswith(PNG)
        with RunStore(run, readonly=True) as s:
            assert mon.structure_points() == structure_points(s.individuals())
        fig = mon.figure_pareto(mon.structure_points())
        assert len(fig.axes) == 2
    finally:
        mon.close()
