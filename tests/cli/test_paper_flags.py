"""The paper as written (issue 13, part A): paper-full means the paper's 240 epochs, ``--paper``
sets the CIFAR-10 process of section 4.1.1, ``--dry-run`` shows what a command would run
without making anything, and the 40-layer residual genome is no longer called ``wrn``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import assert_one_line_error, run_cli

from genet_lab.cli.common import flag
from genet_lab.encoding import genome as gn
from genet_lab.errors import ConfigError, UsageError
from genet_lab.evolution import RunStore, start_run
from genet_lab.evolution.config import SearchConfig
from genet_lab.training import config as T
from genet_lab.training.recipes import check_paper_full

# Section 4.1.1: "120 training epochs with a learning rate of 1e-2, followed by 60 epochs with
# 1e-3, 40 epochs with 1e-4 and another 20 epochs with 1e-5".
PAPER_LR = {
    **{e: 1e-2 for e in range(1, 121)},
    **{e: 1e-3 for e in range(121, 181)},
    **{e: 1e-4 for e in range(181, 221)},
    **{e: 1e-5 for e in range(221, 241)},
}


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """Work in an empty folder, and fail the test if anything loads a data set."""
    import genet_lab.training.data as data

    def refuse(*_a, **_k):
        raise AssertionError("a dry run loaded a data set")

    monkeypatch.setattr(data, "load_dataset", refuse)
    monkeypatch.setenv("GENET_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def dry(*argv: str) -> dict:
    rc, out, err = run_cli(list(argv))
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out  # one JSON object, nothing else on stdout
    body = json.loads(lines[0])
    assert body["dry_run"] is True
    return body


# -- paper-full ------------------------------------------------------------------------------


def test_paper_full_learning_rate_at_every_step_of_every_epoch():
    cfg = T.default_train_config("cifar10", recipe="paper", schedule="paper-full")
    assert (cfg.epochs, cfg.lr, cfg.schedule) == (240, 0.01, "paper-full")
    steps = 3  # the loop asks lr_factor at epoch + i / steps for every step i (training/loop.py)
    for epoch, want in PAPER_LR.items():
        got = [cfg.lr * T.lr_factor(cfg.schedule, epoch - 1 + i / steps, cfg.epochs) for i in range(steps)]
        assert got == pytest.approx([want] * steps, rel=1e-12), epoch
    # the scaled schedule at 240 epochs is the same schedule
    assert [0.01 * T.lr_factor("paper", e - 1, 240) for e in PAPER_LR] == pytest.approx(list(PAPER_LR.values()))


def test_paper_full_means_240_epochs_unless_told_otherwise():
    assert T.default_train_config("digits", schedule="paper-full").epochs == 240
    assert T.default_train_config("cifar10", recipe="paper", schedule="paper-full", epochs=240).epochs == 240
    assert SearchConfig(train={"schedule": "paper-full"}).resolve().epochs == 240
    # otherwise the data set's budget (digits: 6), whatever the schedule
    assert SearchConfig().resolve().epochs == 6 and SearchConfig(train={"schedule": "paper"}).resolve().epochs == 6
    stored = SearchConfig(train={"schedule": "paper-full", "recipe": "paper"}).resolve().to_dict()
    assert stored["epochs"] == 240 and SearchConfig.from_dict(stored).epochs == 240


@pytest.mark.parametrize("epochs", [1, 6, 20, 239, 241])
def test_paper_full_with_other_epochs_is_refused(epochs):
    # the core names the fields (epochs, schedule); the CLI words them as flags
    with pytest.raises(ConfigError, match=f"got {epochs} epochs: use schedule paper .* or epochs 240") as info:
        T.default_train_config("cifar10", schedule="paper-full", epochs=epochs)
    assert re.search(f"got {epochs} epochs: use --schedule paper .* or --epochs 240", info.value.format(flag))
    with pytest.raises(UsageError, match="paper-full"):
        SearchConfig(epochs=epochs, train={"schedule": "paper-full"}).resolve()
    check_paper_full("paper", epochs)  # the scaled schedule takes any length
    assert T.default_train_config("cifar10", recipe="paper", epochs=epochs).schedule == "paper"


def test_cli_refuses_paper_full_with_other_epochs(no_data):
    for argv in (
        ["train", "paper-best", "--schedule", "paper-full", "--epochs", "20"],
        ["evolve", "--schedule", "paper-full", "--epochs", "20", "--fitness", "toy"],
        ["evolve", "--paper", "--epochs", "20"],
        ["random-search", "--schedule", "paper-full", "--epochs", "6", "--dry-run"],
    ):
        rc, _out, err = run_cli(argv)
        assert_one_line_error(rc, err, "paper-full", "--schedule paper", "--epochs 240")
    assert list(no_data.iterdir()) == []


def test_cli_resolves_240_epochs_for_paper_full(no_data):
    for command in ("evolve", "random-search"):
        body = dry(command, "--schedule", "paper-full", "--dry-run")
        assert body["search"]["epochs"] == 240 and body["train"]["epochs"] == 240
        assert (body["train"]["schedule"], body["train"]["lr"]) == ("paper-full", 0.01)
    assert dry("evolve", "--dry-run")["search"]["epochs"] == 6  # the command's short default otherwise
    body = dry("train", "paper-best", "--schedule", "paper-full", "--dry-run")
    assert (body["train"]["epochs"], body["train"]["lr"]) == (240, 0.01)


def test_a_stored_short_paper_full_run_is_not_resumed():
    stored = SearchConfig(fitness="toy").to_dict()
    stored.update(epochs=6, train={"schedule": "paper-full", "recipe": "fast"})
    with pytest.raises(UsageError, match="stored with schedule paper-full and 6 epochs.*cannot be resumed"):
        SearchConfig.from_stored(stored)


# -- --paper ----------------------------------------------------------------------------------


def test_evolve_paper_dry_run_is_section_4_1_1(no_data):
    body = dry("evolve", "--paper", "--dry-run")
    s, t = body["search"], body["train"]
    assert (body["command"], body["resume"]) == ("evolve", False)
    assert (s["kind"], s["population"], s["generations"], s["stages"], s["dataset"], s["preset"]) == (
        "ga",
        20,
        50,
        [3, 4, 5],
        "cifar10",
        "paper-cifar10",
    )
    assert (s["pm"], s["qm"], s["pc"], s["qc"], s["init"], s["init_p"], s["fitness"]) == (
        0.8,
        0.05,
        0.2,
        0.2,
        "random",
        0.5,
        "train",
    )
    assert s["epochs"] == 240 and s["train"] == {"schedule": "paper-full", "recipe": "paper", "batch_size": 128}
    assert (t["epochs"], t["recipe"], t["schedule"], t["lr"], t["dropout"], t["batch_size"]) == (
        240,
        "paper",
        "paper-full",
        0.01,
        0.5,
        128,
    )
    assert (t["momentum"], t["weight_decay"], t["nesterov"], t["label_smoothing"]) == (0.9, 5e-4, False, 0.0)
    assert t["seed"] is None  # each evaluation's own
    assert not Path(body["run_dir"]).exists() and list(no_data.iterdir()) == []


def test_explicit_flags_override_paper(no_data):
    s = dry("evolve", "--paper", "-N", "4", "--dataset", "digits", "--pm", "0.5", "--init", "zeros", "--dry-run")[
        "search"
    ]
    assert (s["population"], s["dataset"], s["pm"], s["init"]) == (4, "digits", 0.5, "zeros")
    assert (s["generations"], s["qm"], s["epochs"], s["train"]["recipe"]) == (50, 0.05, 240, "paper")
    s = dry("evolve", "--paper", "--schedule", "paper", "--epochs", "24", "--dry-run")["search"]
    assert (s["epochs"], s["train"]["schedule"], s["train"]["recipe"]) == (24, "paper", "paper")
    body = dry("random-search", "--paper", "--dry-run")
    assert body["command"] == "random-search"
    s = body["search"]
    assert (s["kind"], s["population"], s["generations"], s["epochs"], s["dataset"]) == (
        "random",
        20,
        50,
        240,
        "cifar10",
    )


def test_paper_is_refused_with_resume(tmp_path):
    rc, _out, err = run_cli(["evolve", "--resume", str(tmp_path), "--paper"])
    assert_one_line_error(rc, err, "--paper")


# -- --dry-run ----------------------------------------------------------------------------------


def test_dry_run_creates_nothing_and_loads_no_data(no_data, tmp_path):
    target = tmp_path / "run"
    body = dry(
        "evolve",
        "--run-dir",
        str(target),
        "--dataset",
        "cifar10",
        "--data-dir",
        str(tmp_path / "nowhere"),
        "-N",
        "4",
        "-T",
        "2",
        "--workers",
        "2",
        "--dry-run",
    )
    assert body["run_dir"] == str(target) and not target.exists()
    assert body["execution"]["workers"] == 2 and body["search"]["data_dir"] == str(tmp_path / "nowhere")
    assert body["train"]["precision"] == "fp32" and body["train"]["channels_last"] == "off"  # the fitness's pins
    toy = dry("random-search", "--fitness", "toy", "--run-dir", str(target), "--dry-run")
    assert toy["train"] is None and toy["search"]["kind"] == "random" and not target.exists()
    save = tmp_path / "best.pt"
    body = dry("train", "chain", "--dataset", "cifar10", "--epochs", "3", "--save", str(save), "--dry-run")
    assert (body["genome"], body["dataset"], body["train"]["epochs"], body["train"]["recipe"]) == (
        "1-01 1-01-001 1-01-001-0001",
        "cifar10",
        3,
        "fast",
    )
    assert body["network"]["widths"] == [8, 8, 16] and not save.exists()
    for gone in ("data", "cache", "run", "best.pt"):
        assert not (tmp_path / gone).exists()
    assert list(no_data.iterdir()) == []


def test_dry_run_of_a_resume_shows_the_stored_config(tmp_path):
    run = tmp_path / "run"
    start_run(run, SearchConfig(fitness="toy", population=4, generations=1, init="residual-40"))
    files = lambda: sorted(p.name for p in run.iterdir() if not p.name.endswith(("-shm", "-wal")))  # noqa: E731
    before = files()  # (SQLite's own -shm and -wal come and go with any reader)
    body = dry("evolve", "--resume", str(run), "-T", "3", "--dry-run")
    assert body["resume"] is True and body["search"]["generations"] == 3 and body["search"]["init"] == "residual-40"
    assert files() == before
    with RunStore(run, readonly=True) as store:
        assert store.config()["generations"] == 1  # nothing written


# -- the 40-layer residual genome, honestly named -------------------------------------------------


def test_residual_40_is_the_residual_genome_at_forty_layers():
    g = gn.named("residual-40")
    assert g == gn.residual_40() == gn.residual((11, 11, 11)) == gn.resolve("residual-40")
    assert "residual-40" in gn.NAMED and "wrn" not in gn.NAMED


def test_the_old_name_is_a_clear_error_for_new_input(tmp_path):
    for call in (lambda: gn.named("wrn"), lambda: gn.resolve("WRN"), lambda: gn.resolve("wrn", "3,4,5")):
        with pytest.raises(ValueError, match="'wrn' is now called 'residual-40'.*not its residual structure"):
            call()
    with pytest.raises(UsageError, match="residual-40"):
        SearchConfig(init="wrn").resolve()
    rc, _out, err = run_cli(["show", "wrn"])
    assert_one_line_error(rc, err, "residual-40")
    rc, _out, err = run_cli(["evolve", "--init", "wrn", "--fitness", "toy", "--run-dir", str(tmp_path / "r")])
    assert_one_line_error(rc, err, "residual-40")
    assert not (tmp_path / "r").exists()
    genomes = tmp_path / "genomes.txt"
    genomes.write_text("wrn\n")
    rc, _out, err = run_cli(["evolve", "--init", str(genomes), "--fitness", "toy", "--dry-run"])
    assert_one_line_error(rc, err, "genomes.txt:1", "residual-40")


def test_a_stored_run_with_init_wrn_still_resumes(tmp_path):
    # stored as genet-lab wrote it before the rename, killed before generation 0 was drawn:
    # resuming must draw generation 0 from the same base genome
    run = tmp_path / "run"
    config = SearchConfig(fitness="toy", population=4, generations=1, init="residual-40", init_flips=3).resolve()
    stored = {**config.to_dict(), "init": "wrn", "stages": [3, 4, 5], "epochs": 1}  # as genet-lab 0.1 stored it
    with RunStore.create(run, "ga", 0, stored):
        pass
    assert SearchConfig.from_stored(stored).init == "residual-40"
    rc, _out, err = run_cli(["evolve", "--resume", str(run), "--json"])
    assert rc == 0, err
    with RunStore(run, readonly=True) as store:
        gen0 = [gn.parse(r.genome) for r in store.individuals(0)]
        assert store.generations()[-1].gen == 1
    base = gn.residual_40((3, 4, 5))
    assert len(gen0) == 4 and all(sum(a != b for a, b in zip(g.bits, base.bits)) == 3 for g in gen0)


def test_widgets_seeder_uses_the_new_name():
    pytest.importorskip("ipywidgets")
    from genet_lab.widgets.seeder import MODES, seed_population

    assert "residual-40" in MODES and "wrn" not in MODES
    pop = seed_population("residual-40", 3, (11, 11, 11), flips=1)
    assert all(sum(a != b for a, b in zip(g.bits, gn.residual_40().bits)) == 1 for g in pop)
    with pytest.raises(ValueError, match="residual-40"):
        seed_population("wrn", 3)


@pytest.mark.parametrize(("dataset", "batch"), [("digits", 32), ("fashion-mnist", 32), ("mnist", 32), ("cifar10", 128)])
def test_the_short_budget_batch_follows_the_data_set(no_data, dataset, batch):
    # 32 where the fitness benchmark measured it against 128 (Fashion-MNIST: within-genome sd 4.4
    # against 11.4); the trainer's own batch for larger images; an explicit --batch-size wins
    assert dry("evolve", "--dataset", dataset, "--dry-run")["train"]["batch_size"] == batch
    assert dry("random-search", "--dataset", dataset, "--dry-run")["train"]["batch_size"] == batch
    assert dry("evolve", "--dataset", dataset, "--batch-size", "64", "--dry-run")["train"]["batch_size"] == 64
