"""The static checks as tests: ruff on the code, tests and benchmarks, mypy on the configured packages.

Both read their settings from pyproject.toml ([tool.ruff], [tool.mypy]); these tests only run
them from the repository root and fail with what they printed. They are skipped, saying why,
when the tool is not installed (``pip install -e ".[test]"`` installs both).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CODE = ("genet_lab", "tests", "benchmarks", "docs")
"""What ruff checks and formats (the notebooks are excluded in pyproject.toml)."""


def _tool(name: str) -> list[str]:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed in this environment (pip install -e '.[test]' installs it)")
    return [sys.executable, "-m", name]


def _run(command: list[str]) -> None:
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(command[2:])} failed (exit {out.returncode}):\n{out.stdout}{out.stderr}"


def test_ruff_finds_nothing():
    _run([*_tool("ruff"), "check", "--no-cache", "--output-format", "concise", *CODE])


def test_ruff_format_changes_nothing():
    # the formatter's settings come from [tool.ruff]; run `ruff format genet_lab tests benchmarks docs` to apply
    _run([*_tool("ruff"), "format", "--check", "--no-cache", *CODE])


@pytest.mark.slow
def test_mypy_finds_nothing():
    # the files and per-module settings come from [tool.mypy]; the cache keeps reruns to seconds
    _run([*_tool("mypy")])
