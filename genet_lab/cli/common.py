"""Helpers shared by the subcommand modules (no torch)."""
from __future__ import annotations

import argparse
import os

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.fileio import atomic_write  # noqa: F401  (re-exported for the subcommands)


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
        raise argparse.ArgumentTypeError(f"expected a thread count from {low} to {most} (this machine's CPUs), "
                                         f"got {text!r}")
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
