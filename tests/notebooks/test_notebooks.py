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
NAMES = ["01_encoding", "02_hand_design", "03_evolution", "04_paper", "05_whole_space"]


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


@pytest.mark.slow
def test_05_whole_space_executes(tmp_path, monkeypatch):
    import numpy as np

    from genet_lab.bench import estimators as est
    from genet_lab.bench.compare import summarize
    from genet_lab.bench.table import load_table
    from genet_lab.encoding.genome import named
    from genet_lab.evolution.repeats import run_repeats
    from genet_lab.evolution.store import RunStore

    monkeypatch.setenv("GENET_LAB_RUNS", str(tmp_path / "runs"))
    nb = _execute("05_whole_space", tmp_path, monkeypatch)
    text = _text(nb)
    table = load_table("digits-334-e6")
    assert "budget ci; table digits-334-e6" in text
    # the landscape: every named genome's rank and percentile, the table's spread
    for label, name in (("all-zero", "zeros"), ("chain (VGG-like)", "chain"), ("dense", "dense")):
        g = named(name, table.stages)
        row = next(ln for ln in text.splitlines() if ln.startswith(label))
        assert g.notation() in row and f"{table.mean(g):.2f}%" in row, row
        assert f"{table.rank(g):,} of 1,116 {table.percentile(g):9.1f}%" in row, row
    assert "paper-best: " in text and "is not of table digits-334-e6's space" in text
    sp = table.spread()
    assert f"between-structure sd with the noise removed: {sp.between_sd:.2f} points" in text
    assert f"ratio between / noise:                      {sp.ratio:.2f}" in text
    agree = float(re.search(r"in the same order in ([\d.]+)% of the", text)[1])
    assert 50 < agree < 75, agree  # above a coin, far from certain: the table is flat
    # the live run: the paper's N and T on the table, the returned structure placed in the table
    assert "run finished: 1020 evaluations" in text
    with RunStore(tmp_path / "runs" / "ga-table", readonly=True) as store:
        assert [g.gen for g in store.generations()] == list(range(51))
        best = store.status().best
    assert f"its table entry: {table.entry(best).genome.notation()}  mean {table.mean(best):.2f}%" in text
    rich = [o for c in nb.cells for o in c.get("outputs", []) if "data" in o]
    assert any("application/vnd.jupyter.widget-view+json" in o.data for o in rich)  # the monitor
    tables = "\n".join(o.data.get("text/markdown", "") for o in rich)  # the strategies' and estimators'
    # the strategies: 50 repeats at the CI budget, the GA's row what the library computes
    assert "ga        50 repeats in" in text and "random    50 repeats in" in text
    tab, results, _ = run_repeats("digits-334-e6", ["ga"], 50, 1000, seed=0)
    ga = summarize(tab, results, 1000)["strategies"]["ga"]
    r = ga["regret"]
    assert f"| ga | {ga['true']['mean']:.2f} [" in tables
    assert f"| {r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}] | - |" in tables
    for name in ("ga-reuse", "aging", "local", "random"):
        assert re.search(rf"^{name} +regret minus the GA's: [-+][\d.]+ \[", text, re.M), name
    # the estimators: tau of each against the table, as bench estimators computes it
    values, _ = est.estimator_values(table, ["depth"])
    means = np.array([e.mean for e in table.entries])
    assert re.search(rf"^depth +tau {est.kendall_tau(values['depth'][0], means):+.3f}$", text, re.M)
    assert "synflow (60 structures)" in text and "naswot (60 structures)" in text
    measured = {r["name"]: r for r in est.measure(table, ["params", "final"])["estimators"]}
    assert f"| params | size | {measured['params']['tau']:+.3f} |" in tables
    assert f"| final | trained | {measured['final']['tau']:+.3f} |" in tables and "**noise ceiling**" in tables
    pngs = sum("image/png" in o.data for o in rich)
    assert pngs == 4  # the landscape, the run against the truth, the anytime curves, the scatter plots
