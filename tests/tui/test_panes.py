"""Issue 14's bugs in the terminal lab, one test each, and the New-run dialog's fields.

Driven through Textual's Pilot with the toy fitness and a fake trainer; no torch.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest
from rich.console import Console
from tui_helpers import fake_app, run_async, toy_run, until

from genet_lab.encoding import genome as gn
from genet_lab.errors import UsageError
from genet_lab.evolution.config import SearchConfig
from genet_lab.training import catalog
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.bits import BitGrid
from genet_lab.tui.evolution import EvolutionPane
from genet_lab.tui.help import HELP
from genet_lab.tui.run_widgets import generation_ticks
from genet_lab.tui.train_panel import TrainPane


def _plain(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


def _footer(app) -> list[str]:
    from textual.widgets._footer import FooterKey

    width = app.size.width
    return [k.description for k in app.query(FooterKey) if k.region.right <= width]


# -- 1: long stages -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@run_async
async def test_1_a_long_stage_wraps_and_every_bit_stays_visible(size):
    genome = gn.zeros((16, 3))
    app = GenetLabApp(genome=genome)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        grid = app.query_one(BitGrid)
        width = grid.size.width
        rows = grid.rows(width)
        assert all(sum(len(t) for t, _, _ in line) <= width for line in rows)
        shown = [i for line in rows for _, _, i in line if i is not None]
        assert shown == list(range(genome.length))  # every bit once, in order
        assert grid.size.height == len(rows) > genome.num_stages
        # the last bit of the K=16 stage can be seen and toggled by a click where it is drawn
        ((x, y),) = [xy for xy, i in grid._hit.items() if i == 119]
        await pilot.click(BitGrid, offset=(grid.styles.padding.left + x, y))
        assert app.editor.genome.bits[119] == 1
        notation = _plain(app.query_one("#notation").content, size[0] - 2)
        assert app.editor.genome.notation().replace(" ", "") in "".join(notation.split())


# -- 2: help and footer ---------------------------------------------------------------------------


@run_async
async def test_2_help_and_footer_name_the_real_keys():
    assert "| space | pause" not in HELP
    for row in (
        "| p | pause",
        "| r | resume",
        "| b |",
        "| e | send the shown individual",
        "| e | load the genome of the selected row",
    ):
        assert row in HELP
    app = GenetLabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for tab, keys in (
            ("1", ["Toggle", "Undo"]),
            ("2", ["Train", "Edit row"]),
            ("3", ["Pause", "Resume", "Best", "Edit"]),
        ):
            await pilot.press(tab)
            await pilot.pause(0.2)
            shown = _footer(app)
            assert set(keys + ["Help", "Quit"]) <= set(shown), (tab, shown)


# -- 3: the Train pane's inputs -----------------------------------------------------------------


@run_async
async def test_3_epochs_box_shows_what_is_typed_and_enter_or_t_trains(tmp_path):
    app, command = fake_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TrainPane)
        pane.command = command
        await pilot.press("2")
        await pilot.pause()
        epochs = pane.query_one("#train-epochs")
        epochs.focus()
        await pilot.press("1", "0")
        await pilot.pause()
        assert epochs.value == "10" and epochs.content_region.width >= 4
        await pilot.press("enter")  # Enter in an input trains
        await until(pilot, lambda: pane.results and pane.results[-1].state != "running")
        assert len(pane.results) == 1 and pane.results[0].epochs == 10
        epochs.focus()
        await pilot.press("t")  # t cannot be typed in the epochs box: it trains
        await until(pilot, lambda: len(pane.results) == 2 and pane.results[-1].state != "running")
        assert epochs.value == "10"
        pane.query_one("#train-extra").focus()
        await pilot.press("t")  # in the options box t is text
        assert pane.query_one("#train-extra").value == "t" and len(pane.results) == 2


# -- 4: stale state ------------------------------------------------------------------------------


@run_async
async def test_4_rows_say_paused_or_stopped_and_a_new_run_starts_blank(tmp_path, monkeypatch):
    run_dir = toy_run(tmp_path)
    app = GenetLabApp(run_dir=run_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        await until(pilot, lambda: len(pane.generations) == 4)
        assert "generation 3" in str(pane.query_one("#evo-progress-label").content)
        # a new run: nothing of the finished one stays on screen before its generation 0
        monkeypatch.setenv("GENET_LAB_TOY_DELAY", "0.2")
        pane.start_run(tmp_path / "new", SearchConfig(fitness="toy", init="zeros", population=4, generations=100))
        assert pane.query_one("#evo-table").row_count == 0
        assert str(pane.query_one("#evo-progress-label").content) == ""
        assert pane.query_one("#evo-progress").progress == 0
        assert "no finished generation" in str(pane.query_one("#evo-detail").content)
        pop = pane.query_one("#evo-pop")

        def states():
            return [pop.get_row_at(r)[2] for r in range(pop.row_count)]

        await until(pilot, lambda: "running" in states())
        await pilot.press("p")
        await pilot.pause(0.2)
        assert "running" not in states() and "paused" in states()
        await pilot.press("k")
        await until(pilot, lambda: pane.status is not None and pane.status.state == "stopped")
        await pilot.pause(0.6)
        assert "running" not in states()
        pane.open_run(tmp_path / "new")  # reopening the stopped run
        await until(pilot, lambda: pop.row_count == 4)
        assert "running" not in states()


# -- 5: Figure 3 with one generation ---------------------------------------------------------------


def test_5_generation_ticks_are_whole_numbers():
    assert generation_ticks(0, 0) == [0]
    assert generation_ticks(0, 3) == [0, 1, 2, 3]
    ticks = generation_ticks(0, 50)
    assert ticks[0] == 0 and len(ticks) <= 9 and all(isinstance(t, int) for t in ticks)


@run_async
async def test_5_figure3_of_one_generation_has_integer_ticks_and_a_legend_off_the_lines(tmp_path):
    run_dir = toy_run(tmp_path, t=0)
    app = GenetLabApp(run_dir=run_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        await until(pilot, lambda: len(pane.generations) == 1)
        plot = pane.query_one("#evo-plot")
        drawn = plot.plt.build()
        assert "-1.00" not in drawn and "0.50" not in drawn
        assert "max" not in drawn  # no legend inside the plot ...
        assert "max" in plot.border_subtitle and "min" in plot.border_subtitle  # ... it is on the border


# -- 6: truncations ---------------------------------------------------------------------------------


@run_async
async def test_6_cells_and_labels_are_not_cut(tmp_path):
    app, command = fake_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TrainPane)
        pane.command = command
        await pilot.press("2")
        pane.query_one("#train-extra").value = "--slow"
        await pilot.press("t")
        await until(pilot, lambda: pane.results and pane.results[-1].curve)
        await pilot.press("k")
        await until(pilot, lambda: pane.results[-1].state == "cancelled")
        table = pane.query_one("#train-table")
        assert table.columns[table.ordered_columns[1].key].content_width >= len("cancelled")
        assert table.get_row_at(0)[1] == "cancelled"
        label = str(pane.query_one("#train-label").content)
        assert label.startswith("cancelled: ") and len(label) > len("cancelled: ")
        await pilot.press("1", "g")  # the genome prompt names every genome
        await pilot.pause()
        prompt = app.screen.query_one("Label")
        assert "paper-best" in _plain(prompt.content, prompt.content_region.width)
        assert prompt.content_region.height >= 2 and prompt.region.right <= 80


@run_async
async def test_6_population_and_status_line_at_80_columns(tmp_path):
    run_dir = toy_run(tmp_path, t=2, n=6)
    app = GenetLabApp(run_dir=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(EvolutionPane)
        await until(pilot, lambda: len(pane.generations) == 3)
        pop = pane.query_one("#evo-pop")
        status = pane.query_one("#evo-status")
        # the table, status and footer redraw a moment after the store is read: wait for them
        await until(
            pilot,
            lambda: (
                pop.row_count == 6
                and pane.status is not None
                and f"best {pane.status.best_fitness:.2f}" in _plain(status.content, 200)
            ),
        )
        await pilot.pause(0.2)
        ops = {pop.get_row_at(r)[3] for r in range(pop.row_count)}
        assert ops <= {"selection", "crossover", "mutation", "init"}
        assert [str(c.label) for c in pop.ordered_columns][:3] == ["#", "fitness", "state"]
        first_line = _plain(status.content, status.content_region.width).splitlines()[0]
        assert f"best {pane.status.best_fitness:.2f}" in first_line
        assert {"Help", "Quit"} <= set(_footer(app))


# -- 7: a bad --genome --------------------------------------------------------------------------------


def test_7_a_bad_genome_is_quoted_as_typed_and_the_names_listed():
    out = subprocess.run(
        [sys.executable, "-m", "genet_lab", "tui", "--genome", "bogus"], capture_output=True, text=True
    )
    assert out.returncode == 2
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and "'bogus'" in line and "bgosu" not in line
    for name in gn.NAMED:
        assert name in line
    out = subprocess.run([sys.executable, "-m", "genet_lab", "tui", "--genome", "wrn"], capture_output=True, text=True)
    assert out.returncode == 2 and "residual-40" in out.stderr  # the renamed genome keeps its pointer


# -- 8: the sharing figure -----------------------------------------------------------------------------


@run_async
async def test_8_sharing_shows_work_while_counting_and_na_for_residual_40(monkeypatch):
    from genet_lab.encoding import space
    from genet_lab.encoding.graph import decode_stage

    def slow_classes(k):  # the real K=6 count takes seconds: a stand-in that takes 1.5 s
        time.sleep(1.5)
        return Counter({decode_stage(k, (0,) * gn.stage_length(k)).canonical: 7})

    monkeypatch.setattr(space, "stage_classes", slow_classes)
    app = GenetLabApp(genome=gn.zeros((6,)))
    async with app.run_test(size=(100, 30)) as pilot:
        figures = app.query_one("#figures")
        await pilot.pause(0.2)
        first = _plain(figures.content, 60)
        assert "counting K=6" in first and figures.counting
        await pilot.pause(0.5)
        assert _plain(figures.content, 60) != first  # the spinner turns and the seconds count
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "sharing   7 strings" in _plain(figures.content, 60) and not figures.counting
        app.editor.set_genome(gn.residual_40())
        await pilot.pause()
        text = _plain(figures.content, 60)
        assert "n/a: K > 6" in text and "n/a·n/a" not in text and not figures.counting


# -- the New-run dialog -----------------------------------------------------------------------------


async def _open_dialog(pilot):
    await pilot.press("3")
    await pilot.pause()
    await pilot.press("s")
    await pilot.pause()
    return pilot.app.screen


@run_async
async def test_new_run_dialog_defaults_are_the_search_configs_and_it_remembers_them(tmp_path, monkeypatch):
    started = []

    def create(run_dir, config, python=None):  # records the run the dialog would create
        started.append((run_dir, config))
        raise UsageError("not created in this test")

    monkeypatch.setattr("genet_lab.tui.evolution.RunControl.create", create)
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await _open_dialog(pilot)
        value = lambda wid: str(screen.query_one(f"#{wid}").value)  # noqa: E731
        base = SearchConfig()
        assert value("seed-fitness") == base.fitness and value("seed-dataset") == catalog.DEFAULT_DATASET
        assert (value("seed-n"), value("seed-t")) == (str(base.population), str(base.generations))
        assert value("seed-epochs") == "" and value("seed-recipe") == catalog.DEFAULT_RECIPE
        assert value("seed-preset") == catalog.DEFAULT_PRESET
        # untouched, the dialog's config is SearchConfig's defaults, resolved: the data set's budget
        assert screen.resolved == SearchConfig().resolve()
        assert screen.resolved.epochs == catalog.dataset("digits").epochs
        assert screen.resolved.train.batch_size == catalog.dataset("digits").batch_size
        datasets = [str(o) for o, _ in screen.query_one("#seed-dataset")._options]
        assert datasets == catalog.list_datasets(listed_only=True)
        labels = [str(lbl.content) for lbl in screen.query("#seed-form Label")]
        for name in ("fitness", "data set", "data dir", "preset", "epochs", "recipe", "objective", "eval-test"):
            assert name in labels
        screen.query_one("#seed-dir").value = str(tmp_path / "r")
        screen.query_one("#seed-fitness").value = "toy"
        screen.query_one("#seed-dataset").value = "mnist"
        screen.query_one("#seed-data-dir").value = str(tmp_path)
        screen.query_one("#seed-preset").value = "wide"
        screen.query_one("#seed-epochs").value = "3"
        screen.query_one("#seed-recipe").value = "paper"
        screen.query_one("#seed-objective").value = "params:0.5"
        screen.query_one("#seed-eval-test").value = True
        await pilot.pause()
        assert screen.error == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        run_dir, config = started[-1]
        assert run_dir == tmp_path / "r"
        assert (
            config.dataset,
            config.data_dir,
            config.preset,
            config.epochs,
            config.train.recipe,
            config.eval_test,
            config.objective,
            config.fitness,
        ) == ("mnist", str(tmp_path), "wide", 3, "paper", True, "params:0.5", "toy")
        assert config == config.resolve()  # what the run stores
        # reopened: the last settings, not toy-by-default nor reset
        screen = await _open_dialog(pilot)
        assert str(screen.query_one("#seed-fitness").value) == "toy"
        assert str(screen.query_one("#seed-preset").value) == "wide"


@run_async
async def test_new_run_dialog_says_the_editor_start_as_the_editors_genome():
    app = GenetLabApp(genome=gn.paper_best())
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await _open_dialog(pilot)
        screen.query_one("#seed-init").value = "editor"
        screen.query_one("#seed-flips").value = "1"
        await pilot.pause()
        assert screen.error == "" and screen.resolved.init == gn.paper_best().notation()
        base = gn.paper_best().bits
        assert all(sum(a != b for a, b in zip(g.bits, base)) == 1 for g in screen.genomes)


@run_async
async def test_new_run_dialog_stages_follow_the_named_genome_and_wrap_aligned():
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await _open_dialog(pilot)
        stages = screen.query_one("#seed-stages")
        screen.query_one("#seed-init").value = "residual-40"
        await pilot.pause()
        assert stages.value == "11,11,11" and stages.disabled
        preview = screen.query_one("#seed-preview")
        lines = _plain(preview.content, preview.content_region.width).splitlines()
        lines = lines[next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["0"]) :]  # under the title
        start = lines[0].index("1-")  # the notation column
        assert all(ln[:start].strip() == "" or ln[:start].strip().isdigit() for ln in lines)
        assert all(ln[start] in "01" for ln in lines if ln.strip())  # continuation lines under the genome
        screen.query_one("#seed-init").value = "random"
        await pilot.pause()
        assert stages.value == "3,4,5" and not stages.disabled


@pytest.mark.parametrize(
    "field,value,error",
    [
        ("seed-n", "1", "N must be at least 2"),
        ("seed-epochs", "0", "epochs must be at least 1"),
        ("seed-stages", "3,x", "stage"),
        ("seed-objective", "speed", "unknown objective"),
        ("seed-data-dir", "/no/such/dir", "does not exist"),
    ],
)
@run_async
async def test_new_run_dialog_shows_one_line_errors_and_does_not_start(field, value, error):
    app = GenetLabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_dialog(pilot)
        screen.query_one(f"#{field}").value = value
        await pilot.pause()
        assert error in screen.error and "\n" not in screen.error
        assert error in str(screen.query_one("#seed-error").content)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen  # not dismissed, no crash


@run_async
async def test_new_run_dialog_refuses_eval_test_with_the_proxy_fitness():
    app = GenetLabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_dialog(pilot)
        screen.query_one("#seed-fitness").value = "proxy"
        screen.query_one("#seed-eval-test").value = True
        await pilot.pause()
        assert "eval-test" in screen.error
