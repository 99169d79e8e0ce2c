"""Helpers shared by the subcommand modules (no torch)."""

from __future__ import annotations

import argparse
import json
import os

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.fileio import atomic_write  # noqa: F401  (re-exported for the subcommands)
from genet_lab.training.recipes import PAPER_FULL_EPOCHS


def int_at_least(minimum: int, wanted: str):
    """An argparse type: an integer >= ``minimum``; errors say ``expected <wanted>``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    return parse


positive_int = int_at_least(1, "a positive integer")
nonneg_int = int_at_least(0, "an integer >= 0")


SEED_LIMIT = 2**63
"""Seeds are stored as SQLite integers and fed to numpy and torch: 0 <= seed < 2^63."""


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2^63), got {value}")
    return value


def cpu_threads(text: str, zero_ok: bool = False) -> int:
    """A thread count between 1 (0 with ``zero_ok``) and this machine's CPU count: asking OpenMP
    for 100000 threads exhausted memory with a traceback."""
    most = os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not (0 if zero_ok else 1) <= value <= most:
        low = 0 if zero_ok else 1
        raise argparse.ArgumentTypeError(
            f"expected a thread count from {low} to {most} (this machine's CPUs), got {text!r}"
        )
    return value


def add_input_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in-channels", type=positive_int, help="input channels (default: the preset's)")
    p.add_argument("--image-size", type=positive_int, help="input height and width in pixels (default: the preset's)")
    p.add_argument("--classes", type=positive_int, help="number of classes (default: the preset's)")


def network_config(args, genome: Genome | None = None) -> NetworkConfig:
    config = get_preset(args.preset).with_input(
        getattr(args, "in_channels", None), getattr(args, "image_size", None), getattr(args, "classes", None)
    )
    return config


# -- the paper's process and dry runs (evolve, random-search, train) ------------------------------

PAPER_SEARCH: dict[str, object] = dict(
    dataset="cifar10",
    population=20,
    generations=50,
    stages="3,4,5",
    preset="paper-cifar10",
    init="random",
    recipe="paper",
    schedule="paper-full",
    epochs=PAPER_FULL_EPOCHS,
    pm=0.8,
    qm=0.05,
    pc=0.2,
    qc=0.2,
)
"""What ``--paper`` sets (section 4.1.1: N = 20, T = 50, (K_1, K_2, K_3) = (3, 4, 5), the
revised LeNet, 120/60/40/20 epochs at 1e-2..1e-5, p_M 0.8, q_M 0.05, p_C 0.2, q_C 0.2, random
start). Each is set only where its flag was not given: explicit flags override ``--paper``."""

PAPER_HELP = (
    "the paper's CIFAR-10 process (section 4.1.1): --dataset cifar10 -N 20 -T 50 --stages 3,4,5 "
    "--preset paper-cifar10 --recipe paper --schedule paper-full --epochs 240{ga}; "
    "any of these flags given explicitly overrides --paper"
)
DRY_RUN_HELP = (
    "print the fully resolved configuration as one JSON object and exit without training, "
    "loading data or creating anything"
)


def apply_paper(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with :data:`PAPER_SEARCH` filled in where ``--paper`` was given and the flag was
    not (options the command does not have, such as random-search's --pm, are skipped)."""
    if not getattr(args, "paper", False):
        return args
    for name, value in PAPER_SEARCH.items():
        if hasattr(args, name) and getattr(args, name) is None:
            setattr(args, name, value)
    return args


def default_epochs(schedule: str | None, fallback: int | None) -> int | None:
    """Epochs when none were asked for: the paper's 240 with the paper-full schedule (the only
    length it trains), else ``fallback``."""
    return PAPER_FULL_EPOCHS if schedule == "paper-full" else fallback


def search_train_config(config) -> dict | None:
    """The training config every evaluation of ``config`` (a SearchConfig) runs with, as
    :class:`~genet_lab.evolution.fitness.TrainFitness` builds it; None when the fitness does not
    train. Imports torch (for the TrainConfig), loads no data."""
    if config.fitness != "train":
        return None
    from genet_lab.training.config import default_train_config

    # The same pins as TrainFitness: fp32 and no channels_last unless the search asks otherwise.
    overrides = {
        "precision": "fp32",
        "channels_last": "off",
        "epochs": config.epochs,
        **config.train.to_dict(),
        "eval_test": bool(getattr(config, "eval_test", False)),
    }
    resolved = default_train_config(config.dataset, **overrides).to_dict()
    resolved["seed"] = None  # each evaluation trains with its own seed, drawn by the engine
    return resolved


def print_dry_run(body: dict) -> int:
    """One JSON object on stdout (``dry_run: true`` first); exit status 0."""
    print(json.dumps({"dry_run": True, **body}))
    return 0
