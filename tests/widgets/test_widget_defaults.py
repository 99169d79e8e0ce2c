"""The widgets train and evolve a data set with the CLI's settings (issue 20, one set of defaults).

For every data set of the catalog, the PopulationSeeder's resolved SearchConfig is exactly the
config ``genet-lab evolve`` resolves (its ``--dry-run``), and the TrainPanel's training config is
exactly the one ``genet-lab train`` resolves, untouched and with the same choices made.
(tests/cli/test_command_defaults.py compares the commands with each other, tests/tui/test_defaults.py
the TUI with them.)
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from helpers import run_cli

from genet_lab.evolution.config import SearchConfig
from genet_lab.training import catalog
from genet_lab.widgets import PopulationSeeder, TrainPanel

CHOICES = [
    ((), {}),
    (
        ("--epochs", "3", "--batch-size", "16", "--recipe", "paper", "--preset", "wide"),
        {"epochs": 3, "batch_size": 16, "recipe": "paper", "preset": "wide"},
    ),
    (("--schedule", "paper-full"), {"schedule": "paper-full"}),
]
"""(CLI flags, the same choices as the widgets' arguments)."""


def _dry(*argv: str) -> dict:
    rc, out, err = run_cli([*argv, "--dry-run"])
    assert rc == 0, err
    return json.loads(out)


def seeder_config(dataset: str, fields: dict) -> SearchConfig:
    """The seeder's resolved config for ``dataset`` with ``fields`` chosen (its controls untouched)."""
    train = {k: fields[k] for k in ("batch_size", "recipe", "schedule") if k in fields}
    other = {k: fields[k] for k in ("epochs", "preset") if k in fields}
    config = PopulationSeeder(config=SearchConfig(dataset=dataset, train=train, **other), use_dot=False).resolved
    assert config is not None
    return config


def train_panel(dataset: str, fields: dict) -> TrainPanel:
    options = {"schedule": fields["schedule"]} if "schedule" in fields else {}
    chosen = {k: fields.get(k) for k in ("epochs", "batch_size", "recipe")}
    net = fields.get("preset", catalog.DEFAULT_PRESET)
    return TrainPanel("chain", dataset=dataset, net_config=net, train_options=options, **chosen)


@pytest.fixture(autouse=True)
def _empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a dry run makes nothing; if one did, it would land here
    yield
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags,fields", CHOICES, ids=["defaults", "chosen", "paper-full"])
@pytest.mark.parametrize("dataset", catalog.list_datasets())
def test_the_seeder_resolves_the_config_evolve_resolves(dataset, flags, fields):
    cli = _dry("evolve", "--dataset", dataset, *flags)["search"]
    assert seeder_config(dataset, fields).to_dict() == cli


@pytest.mark.parametrize("flags,fields", CHOICES, ids=["defaults", "chosen", "paper-full"])
@pytest.mark.parametrize("dataset", catalog.list_datasets())
def test_the_train_panel_trains_with_what_train_resolves(dataset, flags, fields):
    cli = _dry("train", "chain", "--dataset", dataset, *flags)
    panel = train_panel(dataset, fields)
    assert asdict(panel.train_config()) == cli["train"]
    assert panel.net_config.name == cli["preset"]
    budget = catalog.dataset(dataset)  # and what the panel shows is what it trains with
    want = (fields.get("epochs", 240 if fields.get("schedule") else budget.epochs), fields.get("batch_size"))
    assert (panel.epochs.value, panel.batch_size.value) == (want[0], want[1] or budget.batch_size)
