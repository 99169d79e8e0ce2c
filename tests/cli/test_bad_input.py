"""Hardening: bad input on the command line ends in one ``error:`` line and exit status 2.

Regression tests for each input bug found while fuzzing (tests/cli/test_fuzz.py
does the fuzzing), run in-process through ``genet_lab.cli.main.main``.
"""

from __future__ import annotations

import os

import pytest
from helpers import assert_one_line_error, assert_rejected, run_cli

from genet_lab.cli.main import build_parser
from genet_lab.cli.options import flag


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999999", "9223372036854775808"])
def test_evolve_bad_seed_rejected_before_the_run_dir_exists(tmp_path, seed):
    # Was: -1 left a half-made run dir behind; 2^70 crashed with OverflowError inside SQLite.
    run = tmp_path / "r"
    assert_rejected(
        ["evolve", "--fitness", "toy", "--seed", seed, "--run-dir", str(run), "-N", "2", "-T", "0"], "--seed"
    )
    assert not run.exists()


def test_train_bad_seed_names_the_option():
    assert_rejected(["train", "chain", "--seed", "-3"], "--seed", "2^63")


def test_search_config_rejects_seed_outside_sqlite_range(tmp_path):
    from genet_lab.evolution import SearchConfig, start_run

    for seed in (-1, 2**63):
        with pytest.raises(ValueError, match="seed"):
            start_run(tmp_path / "r", SearchConfig(fitness="toy", population=2, generations=0, seed=seed))
    assert not (tmp_path / "r").exists()
    assert SearchConfig(fitness="toy", seed=2**63 - 1).resolve().seed == 2**63 - 1


@pytest.mark.parametrize(
    "argv", [["train", "chain", "--threads", "100000"], ["evolve", "--threads", "100000"], ["evolve", "--threads", "0"]]
)
def test_thread_count_is_bounded_by_the_cpus(argv):
    # Was: --threads 100000 reached torch.set_num_threads and died of memory exhaustion with a traceback.
    assert_rejected(argv, "--threads", str(os.cpu_count()))


def test_evolve_unavailable_device_leaves_no_run_dir(tmp_path):
    # Was: the device was first resolved inside the first training, after the run dir was made.
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    run = tmp_path / "r"
    assert_rejected(
        [
            "evolve",
            "--device",
            "cuda",
            "--run-dir",
            str(run),
            "-N",
            "2",
            "-T",
            "0",
            "--epochs",
            "1",
            "--train-size",
            "50",
        ],
        "cuda",
    )
    assert not run.exists()


def test_init_file_that_is_binary_or_a_folder_is_named_in_the_error(tmp_path):
    # Was: "'utf-8' codec can't decode byte ..." without the file's name; a folder "does not exist".
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\xd0\xff" * 50)
    assert_rejected(
        ["evolve", "--fitness", "toy", "--init", str(blob), "--run-dir", str(tmp_path / "r")], str(blob), "not UTF-8"
    )
    assert_rejected(
        ["evolve", "--fitness", "toy", "--init", str(tmp_path), "--run-dir", str(tmp_path / "r")], "is a folder"
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_train_weight_decay_must_be_finite(value):
    # Was: nan and inf were accepted and every training diverged.
    assert_rejected(["train", "chain", "--weight-decay", value, "--epochs", "1", "--train-size", "50"], "weight_decay")


@pytest.mark.parametrize("dataset", ["fashion-mnist", "mnist"])
def test_a_failed_download_leaves_no_folders_in_the_data_dir(tmp_path, dataset):
    # Was: torchvision's FashionMNIST/raw (empty) stayed behind in the user's --data-dir.
    (tmp_path / "mine").mkdir()
    assert_rejected(
        ["train", "chain", "--dataset", dataset, "--data-dir", str(tmp_path), "--epochs", "1"],
        "not found or unreadable",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_report_out_that_is_a_file(tmp_path):
    # Was: FileExistsError traceback from mkdir (found by tests/cli/test_fuzz.py).
    from genet_lab.evolution import SearchConfig, start_run

    start_run(tmp_path / "run", SearchConfig(fitness="toy", population=2, generations=0))
    (tmp_path / "taken").write_text("keep")
    assert_rejected(["report", str(tmp_path / "run"), "--out", str(tmp_path / "taken"), "--no-plots"], "is a file")
    assert (tmp_path / "taken").read_text() == "keep"


def test_ctrl_c_while_the_subcommands_are_imported_is_one_line(monkeypatch, capsys):
    # a Ctrl-C that lands before main() reached its command (found by the kill soak test) is one
    # line and exit status 130, not Python's traceback
    from genet_lab.cli import main as cli_main

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "build_parser", interrupted)
    assert cli_main.main(["space"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("error: interrupted before the command started") and err.count("\n") == 1


def test_the_cores_config_errors_are_worded_with_flags(tmp_path):
    # the core says "init ... stages 3,4,5"; the command line names the flags a user typed
    run = tmp_path / "r"
    rc, _out, err = run_cli(
        ["evolve", "--fitness", "toy", "--init", "residual-40", "--stages", "3,4,5", "--run-dir", str(run)]
    )
    assert_one_line_error(rc, err, "--init residual-40 has its own stages 11,11,11, but --stages 3,4,5 were given")
    assert not run.exists()
    build_parser()  # learns every command's flags (report's --out)
    assert (flag("train_size"), flag("population"), flag("out"), flag("init_genomes")) == (
        "--train-size",
        "--population",
        "--out",
        "init_genomes",
    )


@pytest.mark.parametrize("n", ["10", "4"])
def test_a_genome_file_and_another_n_given_is_refused_even_when_n_is_the_default(tmp_path, n):
    # -N 10 is also SearchConfig's default: the command line still knows it was given
    genomes = tmp_path / "three.txt"
    genomes.write_text("0-00 0-00-000 0-00-000-0000\n1-00 0-00-000 0-00-000-0000\n1-11 0-00-000 0-00-000-0000\n")
    run = tmp_path / "run"
    assert_rejected(
        ["evolve", "--fitness", "toy", "--init", str(genomes), "-N", n, "--run-dir", str(run)],
        f"lists 3 genomes but --population is {n}",
    )
    assert not run.exists()
