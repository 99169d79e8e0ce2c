"""The TUI's training and evolution panes, with a fake trainer and the toy fitness."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tui_helpers import fake_app, run_async, toy_run, until

from genet_lab.encoding import genome as gn
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.evolution import EvolutionPane
from genet_lab.tui.train_panel import TrainPane


@run_async
async def test_training_streams_progress_and_keeps_a_session_list(tmp_path):
    app, command = fake_app(tmp_path, genome=gn.paper_best())
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(TrainPane)
        pane.command = command
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("t")
        await until(pilot, lambda: pane.results and pane.results[-1].state != "running")
        r = pane.results[0]
        assert r.state == "done" and r.genome == gn.TABLE1_BEST
        assert abs(r.val_accuracy - 0.8) < 1e-9
        assert len(r.curve) == 6  # 3 epochs x 2 steps streamed as they came
        assert r.epochs == 3  # the epochs box was empty: the trainer's default, read from TrainingStarted
        # a second design, edited in the editor, trains into a second row
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("space", "2")
        await pilot.pause()
        await pilot.press("t")
        await until(pilot, lambda: len(pane.results) == 2 and pane.results[-1].state != "running")
        table = pane.query_one("#train-table")
        assert table.row_count == 2
        assert table.get_row_at(1)[7] == "0-01 0-01-100 0-11-101-0001"
        assert table.get_row_at(0)[2] == "0.8000"


@run_async
async def test_training_cancel_and_failure(tmp_path):
    app, command = fake_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TrainPane)
        pane.command = command
        await pilot.press("2")
        await pilot.pause()
        pane.query_one("#train-extra").value = "--slow"
        app._dbg = lambda: (pane.results, pane.trainer.process, app.focused, pane.query_one("#train-label").content)
        await pilot.press("t")
        await until(pilot, lambda: pane.results and pane.results[-1].curve)  # first progress line arrived
        proc = pane.trainer.process.proc
        await pilot.press("k")
        await until(pilot, lambda: pane.results and pane.results[-1].state != "running")
        assert pane.results[-1].state == "cancelled" and proc.poll() is not None
        pane.query_one("#train-extra").value = "--crash"
        await pilot.press("t")
        await until(pilot, lambda: len(pane.results) == 2 and pane.results[-1].state != "running")
        assert pane.results[-1].state == "failed"
        assert "told to fail" in pane.results[-1].error


@pytest.mark.parametrize(
    "init,fields",
    [
        ("random", {"seed-p": "0.2", "seed-seed": "1"}),
        ("zeros", {}),
        ("residual-40", {"seed-flips": "3"}),
        ("file", {}),
    ],
)
@run_async
async def test_the_dialog_previews_the_cores_generation_0(tmp_path, init, fields):
    f = tmp_path / "g.txt"
    f.write_text("chain\n# comment\ndense\n")
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.press("3", "s")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#seed-init").value = init
        screen.query_one("#seed-file").value = str(f)
        for wid, value in fields.items():
            screen.query_one(f"#{wid}").value = value
        await pilot.pause()
        assert screen.error == ""
        config = screen.resolved
        assert screen.genomes == initial_population(config, initial_rng(config))
    if init == "zeros":
        assert all(g == gn.zeros() for g in screen.genomes)
    elif init == "residual-40":
        base = gn.residual_40()
        assert all(
            g.stages == (11, 11, 11) and sum(a != b for a, b in zip(g.bits, base.bits)) == 3 for g in screen.genomes
        )
    elif init == "file":
        assert screen.genomes == [gn.chain(), gn.dense()] and config.population == 2
    else:
        ones = sum(sum(g.bits) for g in screen.genomes) / (len(screen.genomes) * 19)
        assert 0.0 < ones < 0.5


@run_async
async def test_whole_evolution_with_toy_fitness_fills_table_and_population(tmp_path):
    run_dir = tmp_path / "run"
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#seed-dir").value = str(run_dir)
        screen.query_one("#seed-n").value = "6"
        screen.query_one("#seed-t").value = "3"
        screen.query_one("#seed-fitness").value = "toy"  # the dialog's default is train, as the CLI's
        await pilot.pause()
        previewed = list(screen.genomes)
        assert len(previewed) == 6
        await pilot.press("ctrl+s")
        app._dbg = lambda: (pane.status, app.screen, app.focused, pane.run_dir, pane.control.process)
        await until(
            pilot, lambda: pane.status is not None and pane.status.state == "finished" and len(pane.generations) == 4
        )
        await pilot.pause(0.2)
        from genet_lab.evolution.store import RunStore

        with RunStore(run_dir, readonly=True) as store:
            stored = store.generations()
            assert [i.genome for i in store.individuals(0)] == [g.notation() for g in previewed]
        table = pane.query_one("#evo-table")
        assert table.row_count == 4
        for row, gen in zip(range(4), stored):
            assert table.get_row_at(row)[1] == f"{gen.max:.2f}"
            assert table.get_row_at(row)[3] == f"{gen.mean:.2f}"
        assert pane.query_one("#evo-pop").row_count == 6
        pane.select_individual(2)
        await pilot.pause()
        title = pane.query_one("#evo-detail-box").border_title
        assert title.startswith("gen 3 #2: ")


def _state(pane) -> str | None:
    return None if pane.status is None else pane.status.state


@run_async
async def test_stop_and_resume_and_open_existing_run(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    # a finished run written by another process, opened with --run
    subprocess.run(
        [
            sys.executable,
            "-m",
            "genet_lab",
            "evolve",
            "--fitness",
            "toy",
            "-N",
            "4",
            "-T",
            "2",
            "--run-dir",
            str(run_dir),
            "--json",
        ],
        check=True,
        capture_output=True,
    )
    app = GenetLabApp(run_dir=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(EvolutionPane)
        app._dbg = lambda: (
            pane.status,
            pane.run_dir,
            pane.running,
            pane.paused,
            pane.error,
            str(pane.query_one("#evo-status").content),
        )
        await until(pilot, lambda: len(pane.generations) == 3)
        assert _state(pane) == "finished"
        assert app.query_one("#tabs").active == "evolution"
        pane.select_individual(1)
        await pilot.pause()
        assert "gen 2 #1" in pane.query_one("#evo-detail-box").border_title
        await pilot.press("e")  # load it into the editor
        assert app.editor.genome.notation() == pane.population[1].genome
        # pause and stop a run this session started, then resume it. The run cannot end by
        # itself while the test runs: 100,000 generations (the most evolve takes) at 10 ms an evaluation.
        monkeypatch.setenv("GENET_LAB_TOY_DELAY", "0.01")
        pane.start_run(tmp_path / "run2", SearchConfig(fitness="toy", init="zeros", population=4, generations=100_000))
        await until(pilot, lambda: len(pane.generations) >= 2)
        await pilot.press("p")
        assert pane.paused
        await pilot.press("k")
        await until(pilot, lambda: _state(pane) == "stopped")
        assert not pane.running and not pane.error  # a stop is not a failure
        stopped_at = pane.status.gen
        await pilot.press("r")
        await until(pilot, lambda: pane.status.gen > stopped_at + 1)
        await pilot.press("k")
        await until(pilot, lambda: _state(pane) == "stopped")


@run_async
async def test_a_failing_run_is_reported_and_the_pane_stays_usable(tmp_path):
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        app._dbg = lambda: (
            pane.status,
            pane.run_dir,
            pane.running,
            pane.error,
            list(app._notifications),
            str(pane.query_one("#evo-status").content),
        )
        await pilot.press("3")
        await pilot.pause()
        # the run is created, then its process fails (a stand-in for python that says why, as the CLI does)
        fake = tmp_path / "fake-python"
        fake.write_text("#!/bin/sh\necho 'error: the fake evolve was told to fail' >&2\nexit 2\n")
        fake.chmod(0o755)
        pane.python = str(fake)
        pane.start_run(tmp_path / "bad", SearchConfig(fitness="toy", population=2, generations=2))
        await until(pilot, lambda: pane.error)
        assert pane.error == "the run process exited with status 2: error: the fake evolve was told to fail"
        # a notification is a message: it reaches the app a moment after pane.error is set
        await until(pilot, lambda: any(n.severity == "error" and "status 2" in n.message for n in app._notifications))
        assert "status 2" in str(pane.query_one("#evo-status").content)
        assert not pane.running
        await pilot.press("k")  # still answers
        await until(pilot, lambda: any("no run of this session" in n.message for n in app._notifications))


def test_train_argv_leaves_the_budget_to_the_trainer_unless_told():
    from genet_lab.supervisor import train_argv

    argv = train_argv("py", gn.paper_best(), "digits", "paper-cifar10", None)
    assert "--epochs" not in argv and "--recipe" not in argv and "--batch-size" not in argv
    argv = train_argv("py", gn.paper_best(), "digits", "paper-cifar10", 5, "--train-size 100", "paper")
    assert argv[-6:] == ["--recipe", "paper", "--epochs", "5", "--train-size", "100"]


@run_async
async def test_the_run_widgets_redraw_only_what_a_poll_changed(tmp_path, monkeypatch):
    from genet_lab.tui.run_widgets import GenerationTable, PopulationTable, RunPlot

    drawn: list[str] = []
    table_watch, population_watch, plot_watch = (
        GenerationTable.watch_generations,
        PopulationTable.watch_view,
        RunPlot.watch_view,
    )

    def table(self, old, new):  # Textual passes what the watcher's signature asks for
        drawn.append("GenerationTable")
        table_watch(self, old, new)

    def population(self, view):
        drawn.append("PopulationTable")
        population_watch(self, view)

    def plot(self, view):
        drawn.append("RunPlot")
        plot_watch(self, view)

    monkeypatch.setattr(GenerationTable, "watch_generations", table)
    monkeypatch.setattr(PopulationTable, "watch_view", population)
    monkeypatch.setattr(RunPlot, "watch_view", plot)
    app = GenetLabApp(run_dir=toy_run(tmp_path, t=2, n=4))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        await until(pilot, lambda: len(pane.generations) == 3)
        await pilot.pause(0.2)
        assert {"GenerationTable", "PopulationTable", "RunPlot"} <= set(drawn)  # the first poll drew each
        drawn.clear()
        for _ in range(3):
            pane.poll()  # nothing new in a finished run
        await pilot.pause()
        assert drawn == []
        pane.select_individual(1)  # the detail shows another individual: only it changes
        await pilot.pause()
        assert drawn == [] and pane.shown is not None and pane.shown.index == 1
        await pilot.press("f")  # the figure only
        await pilot.pause()
        assert drawn == ["RunPlot"]
