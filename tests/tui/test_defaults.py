"""The TUI trains and evolves a data set with the CLI's settings (issue 20, one set of defaults).

For every data set a menu lists, the New-run dialog's resolved SearchConfig and the Train pane's
training resolve the same epochs, batch size, recipe and preset as ``genet-lab evolve`` and
``genet-lab train`` (their ``--dry-run``), untouched and with the same choices made; both panes
list the catalog's data sets, presets and recipes. (tests/cli/test_defaults.py compares the
commands with each other.)
"""

from __future__ import annotations

import json

import pytest
from helpers import run_cli
from tui_helpers import run_async

from genet_lab.training import catalog
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.train_panel import TrainPane

DATASETS = catalog.list_datasets(listed_only=True)
CHOICES = [
    ((), {}),
    (("--epochs", "3", "--recipe", "paper", "--preset", "wide"), {"epochs": "3", "recipe": "paper", "preset": "wide"}),
]
"""(CLI flags, the same choices in the panes' fields)."""


def _dry(*argv: str) -> dict:
    rc, out, err = run_cli([*argv, "--dry-run"])
    assert rc == 0, err
    return json.loads(out)


def cli_train(dataset: str, flags: tuple[str, ...]) -> dict:
    body = _dry("train", "chain", "--dataset", dataset, *flags)
    return {**{k: body["train"][k] for k in ("epochs", "batch_size", "recipe")}, "preset": body["preset"]}


def cli_evolve(dataset: str, flags: tuple[str, ...]) -> dict:
    search = _dry("evolve", "--dataset", dataset, *flags)["search"]
    return {
        "epochs": search["epochs"],
        "batch_size": search["train"]["batch_size"],
        "recipe": search["train"]["recipe"],
        "preset": search["preset"],
    }


async def tui_settings(pilot, dataset: str, fields: dict[str, str]) -> tuple[dict, dict]:
    """(the New-run dialog's resolved settings, the Train pane's) for ``dataset`` with ``fields`` chosen."""
    app = pilot.app
    pane = app.query_one(TrainPane)
    pane.query_one("#train-dataset").value = dataset
    pane.query_one("#train-epochs").value = fields.get("epochs", "")
    pane.query_one("#train-recipe").value = fields.get("recipe", catalog.DEFAULT_RECIPE)
    pane.query_one("#train-preset").value = fields.get("preset", catalog.DEFAULT_PRESET)
    await pilot.press("3", "s")
    await pilot.pause()
    screen = app.screen
    screen.query_one("#seed-dataset").value = dataset
    screen.query_one("#seed-epochs").value = fields.get("epochs", "")
    screen.query_one("#seed-recipe").value = fields.get("recipe", catalog.DEFAULT_RECIPE)
    screen.query_one("#seed-preset").value = fields.get("preset", catalog.DEFAULT_PRESET)
    await pilot.pause()
    config = screen.resolved
    assert config is not None, screen.error
    await pilot.press("escape")
    await pilot.pause()
    run = {
        "epochs": config.epochs,
        "batch_size": config.train.batch_size,
        "recipe": config.train.recipe,
        "preset": config.preset,
    }
    return run, pane.settings()


@pytest.mark.parametrize("flags,fields", CHOICES, ids=["defaults", "chosen"])
@run_async
async def test_the_tuis_runs_and_trainings_resolve_as_the_cli(flags, fields, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        for dataset in DATASETS:
            run, train = await tui_settings(pilot, dataset, fields)
            assert run == cli_evolve(dataset, flags), dataset
            assert train == cli_train(dataset, flags), dataset
            if not flags:
                budget = catalog.dataset(dataset)
                assert (train["epochs"], train["batch_size"]) == (budget.epochs, budget.batch_size)


@run_async
async def test_the_panes_list_the_catalog():
    app = GenetLabApp()
    async with app.run_test(size=(100, 34)) as pilot:
        pane = app.query_one(TrainPane)
        await pilot.press("3", "s")
        await pilot.pause()
        for owner, prefix in ((pane, "train"), (app.screen, "seed")):
            for field, names in (
                ("dataset", catalog.list_datasets(listed_only=True)),
                ("preset", catalog.list_presets()),
                ("recipe", catalog.list_recipes()),
            ):
                options = [str(value) for _, value in owner.query_one(f"#{prefix}-{field}")._options]
                assert options == names, (prefix, field)
