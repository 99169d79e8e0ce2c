"""Issue 14's friction items in the terminal lab, one test each: browsing generations, asking
before quitting, the ``g`` dialog, genome files, compare, export path, screenshot, the training
history and the trainer's start-up phases. Pilot-driven with the toy fitness and a fake trainer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tui_helpers import fake_app, run_async, toy_run, until

from genet_lab.encoding import genome as gn
from genet_lab.evolution.config import SearchConfig
from genet_lab.training.events import TrainingPhase, from_dict, to_dict
from genet_lab.tui import history
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.compare import CompareScreen, differing_bits
from genet_lab.tui.dialogs import ConfirmQuit
from genet_lab.tui.evolution import EvolutionPane
from genet_lab.tui.train_panel import TrainPane

# -- 1: browse any generation --------------------------------------------------------------------


@run_async
async def test_a_table1_row_shows_that_generations_population_and_l_returns_to_live(tmp_path):
    run_dir = toy_run(tmp_path, t=3, n=4)
    app = GenetLabApp(run_dir=run_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        await until(pilot, lambda: len(pane.generations) == 4)
        table = pane.query_one("#evo-table")
        pop = pane.query_one("#evo-pop")
        assert "gen 3 (live)" in str(pop.border_title)
        table.focus()
        await pilot.pause()
        await pilot.click("#evo-table", offset=(3, 2))  # the first data row: generation 0
        await until(pilot, lambda: pane.browse_gen == 0)
        assert [i.gen for i in pane.rows] == [0] * 4
        assert "gen 0" in str(pop.border_title) and "browsing" in str(pop.border_title)
        assert pop.get_row_at(0)[5] == pane.rows[0].genome
        await pilot.press("down")  # inspect individual #1 of generation 0 and send it to the editor
        await pilot.pause()
        assert pane.shown is not None and (pane.shown.gen, pane.shown.index) == (0, 1)
        await pilot.press("e")
        await pilot.pause()
        assert app.editor.genome.notation() == pane.rows[1].genome
        table.focus()
        await pilot.press("down", "enter")  # Enter on a row browses too
        await until(pilot, lambda: pane.browse_gen == 1)
        await pilot.press("l")
        await pilot.pause()
        assert pane.browse_gen is None and [i.gen for i in pane.rows] == [3] * 4
        assert "live" in str(pop.border_title)


# -- 2: quitting while something runs asks first -------------------------------------------------------


@run_async
async def test_q_asks_while_a_run_of_this_lab_runs_and_names_the_resume_command(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_TOY_DELAY", "0.5")
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        run_dir = tmp_path / "live"
        pane.start_run(run_dir, SearchConfig(fitness="toy", init="zeros", population=4, generations=50))
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmQuit)
        text = str(app.screen.query_one("#quit-reasons").content)
        assert f"genet-lab evolve --resume {run_dir}" in text and "resumable" in text
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmQuit) and app.is_running
        pane.action_stop()
        await pilot.press("q")  # nothing runs any more: quits at once
        await pilot.pause()
    assert not app.is_running


@run_async
async def test_q_asks_while_a_training_runs(tmp_path):
    app, command = fake_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TrainPane)
        pane.command = command
        await pilot.press("2")
        pane.query_one("#train-extra").value = "--slow"
        await pilot.press("t")
        await until(pilot, lambda: pane.running)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmQuit)
        assert "training is running" in str(app.screen.query_one("#quit-reasons").content)
        await pilot.press("y")
        await pilot.pause()
    assert not app.is_running


# -- 3: the g dialog ---------------------------------------------------------------------------------


@run_async
async def test_g_keeps_the_text_on_an_error_and_accepts_plain_bits_of_the_current_stages():
    app = GenetLabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        inp = app.screen.query_one("Input")
        inp.value = "10" * 9  # 18 bits: the genome has 19
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("Input").value == "10" * 9
        assert "needs 19 bits" in app.screen.error and "got 18" in app.screen.error
        assert "needs 19 bits" in str(app.screen.query_one(".prompt-error").content)
        inp.value = "1" + "0" * 17 + "1"
        await pilot.press("enter")
        await pilot.pause()
        assert app.editor.genome == gn.Genome.from_bits("1" + "0" * 17 + "1", (3, 4, 5))
        await pilot.press("g")
        await pilot.pause()
        app.screen.query_one("Input").value = "bogus"
        await pilot.press("enter")
        await pilot.pause()
        assert "unknown genome name 'bogus'" in app.screen.error
        assert app.screen.query_one("Input").value == "bogus"


# -- 4: save, load, compare, export path, screenshot ----------------------------------------------------


@run_async
async def test_save_and_load_a_genome_file_read_by_init(tmp_path):
    from genet_lab.evolution.operators import read_genome_file

    app = GenetLabApp(genome=gn.paper_best(), export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("Input").value = str(tmp_path / "best.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert read_genome_file(tmp_path / "best.txt") == [gn.paper_best()]
        await pilot.press("n")  # something else in the editor
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("Input").value = str(tmp_path / "missing.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert "does not exist" in app.screen.error
        app.screen.query_one("Input").value = str(tmp_path / "best.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert app.editor.genome == gn.paper_best()


@run_async
async def test_compare_shows_both_genomes_and_highlights_the_differing_bits():
    app = GenetLabApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("v")  # nothing marked yet: a hint, no screen
        assert not isinstance(app.screen, CompareScreen)
        await pilot.press("m", "space", "right", "right", "space")
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        assert differing_bits(app.screen.a, app.screen.b) == [0, 2]
        summary = str(app.screen.query_one("#cmp-summary").content)
        assert "2 bit(s) differ" in summary and "stage 1 1→2" in summary
        a_side = app.screen.query_one("#cmp-a Static").content
        b_side = app.screen.query_one("#cmp-b Static").content
        assert a_side is not b_side
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


@run_async
async def test_export_writes_where_the_user_says_and_f12_writes_a_screenshot(tmp_path):
    from genet_lab.encoding.draw import have_dot

    app = GenetLabApp(export_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert app.screen.query_one("Input").value.startswith(str(tmp_path / "genome-"))
        (tmp_path / "out").mkdir()
        app.screen.query_one("Input").value = str(tmp_path / "out" / "mine.dot")
        await pilot.press("enter")
        await pilot.pause()
        assert (tmp_path / "out" / "mine.dot").read_text().startswith(("digraph", "strict"))
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("Input").value = str(tmp_path / "nowhere" / "x.svg")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.error  # the folder does not exist: said in the dialog
        await pilot.press("escape")
        await pilot.press("f12")
        await pilot.pause()
        shots = list(tmp_path.glob("*.svg"))
        assert len(shots) == 1 and "<svg" in shots[0].read_text()
        assert have_dot() in (True, False)


# -- 5: the history of trainings --------------------------------------------------------------------------


@run_async
async def test_trainings_are_kept_and_a_past_curve_reopens(tmp_path):
    app, command = fake_app(tmp_path, genome=gn.paper_best())
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(TrainPane)
        pane.command = command
        await pilot.press("2", "t")
        await until(pilot, lambda: pane.results and pane.results[-1].state == "done")
    lines = history.history_path().read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["genome"] == gn.TABLE1_BEST
    with history.history_path().open("a") as fh:  # a crash mid-line, then a good line again
        fh.write('{"genome": "1-0\n')
        fh.write(lines[0] + "\n")
    app2 = GenetLabApp()
    async with app2.run_test(size=(100, 30)) as pilot:
        pane = app2.query_one(TrainPane)
        await pilot.press("2")
        await pilot.pause()
        assert [r.past for r in pane.results] == [True, True]
        assert "skipped 1 unreadable line" in pane.history_note
        table = pane.query_one("#train-table")
        table.focus()
        await pilot.press("up")
        await pilot.pause()
        assert "past #1" in str(pane.query_one("#train-label").content)
        assert len(pane.results[0].curve) == 6 and pane.results[0].val_accuracy == pytest.approx(0.8)


# -- 6: start-up phases -----------------------------------------------------------------------------------


def test_train_events_say_what_the_start_up_does():
    assert from_dict(to_dict(TrainingPhase("loading", "the digits data set"))) == TrainingPhase(
        "loading", "the digits data set"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genet_lab",
            "train",
            "1-01",
            "--events",
            "--phases",
            "--epochs",
            "1",
            "--train-size",
            "60",
            "--val-size",
            "20",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    kinds = [(d["type"], d.get("phase")) for d in map(json.loads, proc.stdout.splitlines())]
    assert kinds[:4] == [
        ("TrainingPhase", "importing"),
        ("TrainingPhase", "loading"),
        ("TrainingStarted", None),
        ("TrainingPhase", "measuring"),
    ], kinds
    assert kinds[-1] == ("TrainingFinished", None)


@run_async
async def test_the_train_pane_shows_the_phase_and_uses_a_warm_trainer(tmp_path, monkeypatch):
    monkeypatch.delenv("GENET_LAB_NO_WARM")
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(TrainPane)
        await pilot.press("2")
        await until(pilot, lambda: pane.trainer.warm is not None, timeout=10)
        warm = pane.trainer.warm
        pane.query_one("#train-epochs").value = "1"
        pane.query_one("#train-extra").value = "--train-size 60 --val-size 20 --threads 1"
        labels = []
        pane._set_label = lambda text, f=pane._set_label: (labels.append(text), f(text))
        await pilot.press("t")
        await until(pilot, lambda: pane.results[-1].state != "running" and not pane.running, timeout=240)
        assert warm.proc.poll() is not None and pane.trainer.process.proc is warm.proc  # the warm one trained
        assert pane.trainer.warm is not warm
        assert pane.results[-1].state == "done", pane.results[-1].error
        assert any(t.startswith("loading (") and "the digits data set" in t for t in labels), labels
        assert any(t.startswith("measuring (") for t in labels), labels
