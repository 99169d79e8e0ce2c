"""Helpers shared by the subcommand modules (no torch)."""

from __future__ import annotations

import argparse
import json

from genet_lab.cli.options import (  # noqa: F401  (re-exported: the subcommands' parsers and flag())
    SEED_LIMIT,
    cpu_threads,
    flag,
    int_at_least,
    nonneg_int,
    number,
    positive_int,
    seed_int,
)
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.fileio import atomic_write  # noqa: F401  (re-exported for the subcommands)


def add_input_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in-channels", type=positive_int, help="input channels (default: the preset's)")
    p.add_argument("--image-size", type=positive_int, help="input height and width in pixels (default: the preset's)")
    p.add_argument("--classes", type=positive_int, help="number of classes (default: the preset's)")


def network_config(args, genome: Genome | None = None) -> NetworkConfig:
    config = get_preset(args.preset).with_input(
        getattr(args, "in_channels", None), getattr(args, "image_size", None), getattr(args, "classes", None)
    )
    return config


# -- dry runs (evolve, random-search, train) ---------------------------------------------------------


def search_train_config(config) -> dict | None:
    """The training config every evaluation of ``config`` (a SearchConfig) runs with, as
    :class:`~genet_lab.evolution.fitness.TrainFitness` builds it; None when the fitness does not
    train. Loads no data, imports no torch."""
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
