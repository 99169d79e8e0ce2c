"""One set of defaults (issue 20): every front end trains a data set with the same epochs, batch
size, recipe and network preset unless told otherwise, because each resolves them from the
catalog (genet_lab.training.catalog) through the core.

Each front end is one function in FRONT_ENDS: data set -> the training settings it resolves. A
new front end (the TUI, the widgets) adds its function and is compared with the others."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from helpers import run_cli

from genet_lab.training import catalog

SETTINGS = ("epochs", "batch_size", "recipe", "preset")
"""What decides a result and must not depend on the front end."""

FRONT_ENDS: dict[str, Callable[..., dict]] = {}


def front_end(name: str):
    def register(fn: Callable[..., dict]) -> Callable[..., dict]:
        FRONT_ENDS[name] = fn
        return fn

    return register


def _dry(*argv: str) -> dict:
    rc, out, err = run_cli([*argv, "--dry-run"])
    assert rc == 0, err
    return json.loads(out)


@front_end("train")
def train_settings(dataset: str, *flags: str) -> dict:
    body = _dry("train", "chain", "--dataset", dataset, *flags)
    return {**{k: body["train"][k] for k in ("epochs", "batch_size", "recipe")}, "preset": body["preset"]}


def _search(command: str, dataset: str, *flags: str) -> dict:
    body = _dry(command, "--dataset", dataset, *flags)
    train, search = body["train"], body["search"]
    assert (search["epochs"], search["train"]["batch_size"]) == (train["epochs"], train["batch_size"])  # stored
    return {**{k: train[k] for k in ("epochs", "batch_size", "recipe")}, "preset": search["preset"]}


@front_end("evolve")
def evolve_settings(dataset: str, *flags: str) -> dict:
    return _search("evolve", dataset, *flags)


@front_end("random-search")
def random_search_settings(dataset: str, *flags: str) -> dict:
    return _search("random-search", dataset, *flags)


@pytest.fixture(autouse=True)
def _empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a dry run makes nothing; if one did, it would land here
    yield
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset", catalog.list_datasets())
def test_every_front_end_resolves_the_data_sets_budget(dataset):
    budget = catalog.dataset(dataset)
    want = {
        "epochs": budget.epochs,
        "batch_size": budget.batch_size,
        "recipe": catalog.DEFAULT_RECIPE,
        "preset": catalog.DEFAULT_PRESET,
    }
    for name, settings in FRONT_ENDS.items():
        assert settings(dataset) == want, name


@pytest.mark.parametrize(
    ("flags", "want"),
    [
        (("--epochs", "3", "--batch-size", "16"), {"epochs": 3, "batch_size": 16}),
        (("--recipe", "paper", "--preset", "wide"), {"recipe": "paper", "preset": "wide"}),
        (("--schedule", "paper-full"), {"epochs": 240}),
    ],
)
def test_every_front_end_takes_the_same_choices_the_same_way(flags, want):
    for name, settings in FRONT_ENDS.items():
        got = settings("fashion-mnist", *flags)
        assert {k: got[k] for k in want} == want, name
        assert got["batch_size"] == want.get("batch_size", catalog.dataset("fashion-mnist").batch_size), name
