"""Fixtures of the training tests: small digits splits and a small CIFAR-10 slice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CIFAR_TARBALL = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits, small: 240 training, 120 validation images and the held-out test split."""
    from genet_lab.training.data import load_dataset

    return load_dataset("digits", train_size=240, val_size=120, seed=0)


@pytest.fixture(scope="session")
def cifar_slice(tmp_path_factory) -> Path:
    """An ImageFolder tree of CIFAR-10 JPEGs: 20 train and 5 test images per class."""
    if not CIFAR_TARBALL.is_file():
        pytest.skip(f"{CIFAR_TARBALL} not present")
    root = tmp_path_factory.mktemp("cifar-slice")
    subprocess.run(
        [
            "tar",
            "xzf",
            str(CIFAR_TARBALL),
            "-C",
            str(root),
            "--wildcards",
            "train/*/00[01]?.jpg",
            "test/*/000[0-4].jpg",
        ],
        check=True,
    )
    return root
