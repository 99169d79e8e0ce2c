"""The teaching notebooks execute top to bottom under nbclient with the CI budget.

Each notebook reads GENET_LAB_BUDGET; "ci" shrinks every training and search
budget. The notebooks are committed without outputs; this test checks that,
runs each one in a fresh python3 kernel (the .venv's own), and fails on the
first cell that raises.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genet_lab.encoding.draw import have_dot

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["01_encoding", "02_hand_design", "03_evolution", "04_paper"]


def _read(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} has outputs"
    assert any("GENET_LAB_BUDGET" in c.source for c in code), f"{name} ignores the CI budget"


def _execute(name: str, tmp_path: Path, monkeypatch):
    nb = _read(name)
    monkeypatch.setenv("GENET_LAB_BUDGET", "ci")  # the kernel inherits this process's environment
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    return nb


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out:
                parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.slow
def test_01_encoding_executes(tmp_path, monkeypatch):
    nb = _execute("01_encoding", tmp_path, monkeypatch)
    text = _text(nb)
    assert "524,288 strings, 56,172 distinct networks" in text
    assert "dropped [2]" in text  # Figure 1's B2
    assert "same network: True" in text
    if have_dot():  # graphviz drawings; the notebook prints the text drawing without `dot`
        assert any("image/svg+xml" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    else:
        assert "Stage 2  K=5  0-10-000-0011" in text and "dropped (isolated): 2" in text  # Figure 1


@pytest.mark.slow
def test_02_hand_design_executes(tmp_path, monkeypatch):
    nb = _execute("02_hand_design", tmp_path, monkeypatch)
    text = _text(nb)
    assert "budget ci" in text
    lines = [ln for ln in text.splitlines() if "validation accuracy" in ln and "%" in ln]
    assert len(lines) == 7, lines  # every design trained once
    assert not any("failed" in ln for ln in lines)
    assert "one edge per stage" in text and "best: " in text


@pytest.mark.slow
def test_03_evolution_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_RUNS", str(tmp_path / "runs"))
    nb = _execute("03_evolution", tmp_path, monkeypatch)
    text = _text(nb)
    assert "has probability 0.000, drawn 0 times" in text  # the worst is never selected
    assert "stages exchanged:" in text and "after mutation" in text and "bits flipped (1-based)" in text
    assert "run finished: 12 evaluations" in text  # N=4, T=2 under the CI budget
    from genet_lab.evolution.store import RunStore

    with RunStore(tmp_path / "runs" / "ga-digits", readonly=True) as store:
        assert [g.gen for g in store.generations()] == [0, 1, 2]


@pytest.mark.slow
def test_04_paper_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_RUNS", str(tmp_path / "runs"))
    nb = _execute("04_paper", tmp_path, monkeypatch)
    text = _text(nb)
    for name in ("ga-random", "ga-zeros", "random-search"):
        assert f"{name}: 12 evaluations" in text
    assert "GA ahead on" in text and "of 1 paired seed(s)" in text
    # even at the CI budget the networks learn: every generation's mean well above chance (10%)
    means = [float(m) for m in re.findall(r"gen +\d+: mean +([\d.]+)", text)]
    assert len(means) == 9 and min(means) > 50, means
    # the paper's CIFAR-10 process, resolved by --dry-run: N = 20, T = 50, 240 epochs, its recipe
    assert "genet-lab evolve --paper --data-dir /path/to/cifar10 --device cuda --eval-test" in text
    assert (
        "search: {'population': 20, 'generations': 50, 'dataset': 'cifar10', 'epochs': 240, 'pm': 0.8, "
        "'qm': 0.05, 'pc': 0.2, 'qc': 0.2, 'eval_test': True}"
    ) in text
    assert "training: {'recipe': 'paper', 'schedule': 'paper-full', 'lr': 0.01, 'dropout': 0.5" in text
    pngs = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert pngs == 3  # Figure 3, Figure 4, GA vs random search
