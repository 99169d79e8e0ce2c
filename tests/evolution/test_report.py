"""`genet-lab report`: Table 1, CSVs, Figures 3-5, GA vs random search side by side."""

import csv
import json

import pytest

from genet_lab.cli.main import main
from genet_lab.evolution import SearchConfig, start_run
from genet_lab.evolution.report import compare, find_runs, run_summary, table1

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for seed in (1, 2):
        start_run(root / f"ga{seed}", SearchConfig(fitness="toy", population=8, generations=5, seed=seed))
        start_run(
            root / f"rs{seed}", SearchConfig(kind="random", fitness="toy", population=8, generations=5, seed=seed)
        )
    return root


def test_json_report_of_one_run(runs, capsys, tmp_path):
    assert main(["report", str(runs / "ga1"), "--json", "--out", str(tmp_path / "o")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evaluations"] == 48 and out["kind"] == "ga" and out["state"] == "finished"
    assert [g["gen"] for g in out["generations"]] == list(range(6))
    assert set(out["generations"][0]) == {"gen", "max", "min", "mean", "median", "std", "best"}
    for g in out["generations"]:
        assert g["min"] <= g["median"] <= g["max"] and g["min"] <= g["mean"] <= g["max"]
    files = {p.split("/")[-1] for p in out["files"]}
    assert {"table1.csv", "individuals.csv", "fig3_mean_fitness.png", "fig_parent_child.png", "report.md"} <= files
    for name in ("fig3_mean_fitness.png", "fig_parent_child.png"):
        assert (tmp_path / "o" / name).read_bytes().startswith(PNG)
    assert any(f.startswith("fig5_") for f in files)


def test_table1_markdown_and_csv(runs, tmp_path):
    s = run_summary(runs / "ga1")
    md = table1(s)
    lines = [ln for ln in md.splitlines() if ln.startswith("| 0")]
    assert len(lines) == 6 and s["generations"][-1]["best"] in lines[-1]
    assert main(["report", str(runs / "ga1"), "--out", str(tmp_path), "--no-plots"]) == 0
    rows = list(csv.DictReader((tmp_path / "table1.csv").open()))
    assert [int(r["gen"]) for r in rows] == list(range(6))
    assert float(rows[0]["max"]) == pytest.approx(s["generations"][0]["max"])
    inds = list(csv.DictReader((tmp_path / "individuals.csv").open()))
    assert len(inds) == 48 and {r["op"] for r in inds} >= {"init", "mutation"}


def test_ga_and_random_side_by_side(runs, tmp_path, capsys):
    found = find_runs([runs])
    assert [p.name for p in found] == ["ga1", "ga2", "rs1", "rs2"]
    cmp = compare(found)
    assert cmp["paired_seeds"] == 2 and 0 <= cmp["ga_wins"] <= 2
    assert {r["evaluations"] for r in cmp["runs"]} == {48}
    assert main(["report", str(runs), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "## GA vs random search" in text and f"on {cmp['ga_wins']} of 2 paired seeds" in text
    assert (tmp_path / "fig_ga_vs_random.png").read_bytes().startswith(PNG)
    assert compare([runs / "ga1"]) is None


def test_report_errors(tmp_path, capsys, runs):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "neither a run directory" in capsys.readouterr().err
    assert main(["report", str(runs / "ga1"), str(runs / "rs1")]) == 2
    assert "need --out" in capsys.readouterr().err


@pytest.mark.parametrize("reuse", [False, True])
def test_the_engine_and_the_report_average_and_summarise_alike(tmp_path, reuse):
    """One averaging rule and one Table 1 function: the report's Table 1 of validation accuracy,
    recomputed from the evaluations, is the engine's stored Table 1 (objective accuracy)."""
    config = SearchConfig(fitness="toy", population=8, generations=4, seed=3, pm=0.3, reuse_structures=reuse)
    start_run(tmp_path / "r", config)
    s = run_summary(tmp_path / "r")
    recomputed = [{k: row[k] for k in g} for row, g in zip(s["table1"]["validation"], s["generations"])]
    assert recomputed == s["generations"] and len(recomputed) == 5
