"""Fixtures of the tabular benchmark's tests (genet_lab.bench): a tiny space trained for one epoch
on a small subset of the embedded digits, and a finished build of it.

Shared helper functions are in tests/helpers.py; fixtures used by one module stay in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from genet_lab.bench.build import build
from genet_lab.bench.settings import BenchSettings

TINY_ARGS = ("--stages", "2,3", "--epochs", "1", "--train-size", "200", "--seeds", "2", "--workers", "1")
"""The CLI flags of :func:`tiny_settings`."""


@pytest.fixture(scope="session")
def tiny_settings() -> BenchSettings:
    """Stages (2,3): 12 structures, 2 seeds, 1 epoch on 200 digits."""
    return BenchSettings((2, 3), epochs=1, train_size=200, seeds=(0, 1)).resolved()


@pytest.fixture(scope="session")
def tiny_build(tiny_settings: BenchSettings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished uninterrupted build of :func:`tiny_settings` (one thread, in this process)."""
    out = tmp_path_factory.mktemp("bench") / "tiny"
    build(out, tiny_settings, workers=1)
    return out


@pytest.fixture
def tiny_args() -> tuple[str, ...]:
    return TINY_ARGS
