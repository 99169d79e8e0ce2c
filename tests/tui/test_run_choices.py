"""The New-run dialog's strategies and fitnesses (issue 21 item 4): every search kind with aging
evolution's P and S, the zero-cost proxies and each shipped benchmark table (choosing one takes its
space, data set and budget), and a table run started from the dialog shown by the evolution pane."""

from __future__ import annotations

import pytest
from tui_helpers import run_async, until

from genet_lab.bench.table import list_tables, load_table
from genet_lab.evolution.config import FITNESS_KINDS, SearchConfig
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.evolution.store import RunStore
from genet_lab.evolution.strategies import KINDS
from genet_lab.training import proxies
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.evolution import EvolutionPane
from genet_lab.tui.population import TABLE_FIXED

TABLES = [row["name"] for row in list_tables()]
TABLE = TABLES[0]


def _options(screen, wid: str) -> list[str]:
    return [str(value) for _, value in screen.query_one(f"#{wid}")._options]


async def _dialog(pilot):
    await pilot.press("3", "s")
    await pilot.pause()
    return pilot.app.screen


@run_async
async def test_the_dialog_offers_every_strategy_proxy_and_shipped_table():
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await _dialog(pilot)
        assert _options(screen, "seed-kind") == list(KINDS)
        tables = [f"table:{row['name']}" for row in list_tables()]
        assert _options(screen, "seed-fitness") == [*FITNESS_KINDS, *proxies.FITNESSES, *tables]
        screen.query_one("#seed-fitness").value = "proxy:synflow"
        await pilot.pause()
        assert screen.error == "" and screen.resolved.fitness == "proxy:synflow"
        title = screen.query_one("#seed-preview").content.renderables[0]  # the preview's first line
        assert "synflow score (no training)" in title.plain


@pytest.mark.parametrize("name", TABLES)
@run_async
async def test_choosing_a_table_takes_its_space_and_data_set_and_previews_generation_0(name):
    table = load_table(name)
    space = ",".join(map(str, table.stages))
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await _dialog(pilot)
        screen.query_one("#seed-dataset").value = "mnist"  # another data set: the table's replaces it
        screen.query_one("#seed-epochs").value = "2"
        screen.query_one("#seed-stages").value = "3,4,5,5"
        await pilot.pause()
        screen.query_one("#seed-fitness").value = f"table:{name}"
        await pilot.pause()
        assert screen.error == ""
        assert screen.query_one("#seed-stages").value == space
        assert screen.query_one("#seed-dataset").value == table.settings.dataset  # imagefolder too
        assert all(screen.query_one(f"#{wid}").disabled for wid in TABLE_FIXED)  # the table's own
        assert screen.query_one("#seed-epochs").value == ""
        assert screen.query_one("#seed-epochs").placeholder.startswith(f"{table.settings.epochs} ")
        config = screen.resolved
        assert (config.stages, config.dataset, config.epochs) == (
            table.stages,
            table.settings.dataset,
            table.settings.epochs,
        )
        assert config == SearchConfig(fitness=f"table:{name}", stages=table.stages).resolve()
        assert screen.genomes == initial_population(config, initial_rng(config))
        assert all(g.stages == table.stages for g in screen.genomes)
        # another space typed afterwards: one line naming the table's space, nothing previewed
        screen.query_one("#seed-stages").value = "3,4,5"
        await pilot.pause()
        assert screen.resolved is None and screen.genomes == []
        assert f"stages {space}" in screen.error and name in screen.error


@run_async
async def test_aging_evolution_takes_p_and_s_and_the_other_strategies_leave_them_off():
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        screen = await _dialog(pilot)
        p, s = screen.query_one("#seed-aging-p"), screen.query_one("#seed-sample-s")
        assert screen.resolved.kind == "ga" and p.disabled and s.disabled
        screen.query_one("#seed-kind").value = "aging"
        p.value, s.value = "8", "3"
        screen.query_one("#seed-reuse").value = True
        await pilot.pause()
        assert not p.disabled and not s.disabled
        config = screen.resolved
        assert (config.kind, config.aging_population, config.sample_size, config.reuse_structures) == (
            "aging",
            8,
            3,
            True,
        )
        s.value = "9"  # S > P: the core's one line
        await pilot.pause()
        assert screen.resolved is None and "(S)" in screen.error and "9" in screen.error
        for kind in ("random", "local"):
            screen.query_one("#seed-kind").value = kind
            await pilot.pause()
            assert screen.error == "" and screen.resolved.kind == kind and p.disabled
        assert screen.values["seed-kind"] == "local" and screen.values["seed-reuse"] is True


@run_async
async def test_a_local_search_on_a_table_runs_from_the_dialog_and_shows_table_1(tmp_path):
    run_dir = tmp_path / "run"
    app = GenetLabApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(EvolutionPane)
        screen = await _dialog(pilot)
        screen.query_one("#seed-kind").value = "local"
        screen.query_one("#seed-fitness").value = f"table:{TABLE}"
        screen.query_one("#seed-n").value = "20"
        screen.query_one("#seed-t").value = "50"
        screen.query_one("#seed-dir").value = str(run_dir)
        await pilot.pause()
        assert screen.error == ""
        await pilot.press("ctrl+s")
        app._dbg = lambda: (pane.status, pane.error, pane.control and pane.control.process)
        await until(pilot, lambda: pane.status is not None and pane.status.state == "finished", timeout=120)
        await until(pilot, lambda: len(pane.generations) == 51)
        with RunStore(run_dir, readonly=True) as store:
            assert store.config()["kind"] == "local" and store.config()["fitness"] == f"table:{TABLE}"
            stored = store.generations()
        table = pane.query_one("#evo-table")
        assert table.row_count == 51
        assert table.get_row_at(50)[1] == f"{stored[50].max:.2f}"
        assert pane.control.command == "evolve"
        plot = pane.query_one("#evo-plot")
        assert plot.view.generations == tuple(stored)
        await pilot.press("f")  # the Pareto view of the table's structures
        await pilot.pause()
        assert plot.view.figure == "params" and plot.view.points
