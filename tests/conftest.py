"""Shared fixtures: an isolated cache folder for every test session, small digits splits and a
small CIFAR-10 slice. Shared helper functions are in helpers.py."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

CIFAR_TARBALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Point genet-lab's caches (imagefolder tensors, execution probes, downloads) at a temp folder."""
    root = tmp_path_factory.mktemp("genet-cache")
    old = {k: os.environ.get(k) for k in ("GENET_LAB_CACHE", "GENET_LAB_DATA")}
    os.environ["GENET_LAB_CACHE"] = str(root / "cache")
    os.environ["GENET_LAB_DATA"] = str(root / "data")
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


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
    subprocess.run(["tar", "xzf", str(CIFAR_TARBALL), "-C", str(root), "--wildcards",
                    "train/*/00[01]?.jpg", "test/*/000[0-4].jpg"], check=True)
    return root


def pytest_collection_modifyitems(config, items):
    """The browser tests run last: Playwright's sync API keeps an asyncio loop running in the main
    thread while its browser is open, and a test after them that calls asyncio.run (Textual's
    Pilot tests do) would fail with "cannot be called from a running event loop"."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
