"""Fixtures of the TUI tests: every test gets its own training history and no warm trainer."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_lab(tmp_path, monkeypatch):
    """The training history in a temporary folder, and no warm trainer (a torch import per test)."""
    monkeypatch.setenv("GENET_LAB_DATA_DIR", str(tmp_path / "lab-data"))
    monkeypatch.setenv("GENET_LAB_NO_WARM", "1")
