"""What every test folder shares: an isolated cache folder for the session and the order of the
browser tests. Each layer's fixtures are in its own folder's conftest.py; shared helper functions
(not fixtures) are in helpers.py."""

from __future__ import annotations

import os

import pytest


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


def pytest_collection_modifyitems(config, items):
    """The browser tests run last: Playwright's sync API keeps an asyncio loop running in the main
    thread while its browser is open, and a test after them that calls asyncio.run (Textual's
    Pilot tests do) would fail with "cannot be called from a running event loop"."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
