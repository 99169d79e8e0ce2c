"""``genet-lab bench``: build (dry run, resume, refusals), export, list."""

from __future__ import annotations

import json

from helpers import assert_rejected, run_cli


def test_dry_run_prints_the_projected_cost_and_creates_nothing(tmp_path):
    out = tmp_path / "b"
    rc, stdout, _ = run_cli(["bench", "build", "--dry-run", "--json", "--workers", "2", "--out", str(out)])
    plan = json.loads(stdout)
    assert rc == 0 and not out.exists()
    assert (plan["structures"], plan["trainings"], plan["workers"]) == (1116, 4464, 2)
    assert plan["settings"]["epochs"] == 6 and plan["settings"]["batch_size"] == 32
    assert plan["settings"]["recipe"] == "fast" and plan["seconds"] > 0
    rc, stdout, _ = run_cli(["bench", "build", "--dry-run", "--stages", "3,3,3"])
    assert rc == 0 and "216 structures x 4 seeds = 864 trainings" in stdout


def test_build_export_and_a_refused_change(tiny_build, tiny_args, tmp_path):
    rc, stdout, _ = run_cli(["bench", "build", *tiny_args, "--out", str(tiny_build), "--json"])
    assert rc == 0 and json.loads(stdout)["done"] == 24
    changed = [a if a != "2,3" else "3,3" for a in tiny_args]
    assert_rejected(["bench", "build", *changed, "--out", str(tiny_build)], "other settings", "stages")
    rc, stdout, _ = run_cli(["bench", "export", str(tiny_build), "-o", str(tmp_path / "t.json.gz"), "--json"])
    info = json.loads(stdout)
    assert rc == 0 and info["complete"] and info["structures"] == 12 and info["bytes"] < 10_000


def test_bad_input_is_one_line(tmp_path):
    assert_rejected(["bench", "build", "--stages", "3,x", "--dry-run"], "stage")
    assert_rejected(["bench", "build", "--seeds", "0", "--dry-run"], "--seeds")
    assert_rejected(["bench", "build", "--dataset", "nope", "--dry-run"], "--dataset")
    assert_rejected(["bench", "export", str(tmp_path), "-o", str(tmp_path / "t.json.gz")], "no bench build")


def test_list_names_the_shipped_tables():
    rc, stdout, _ = run_cli(["bench", "list", "--json"])
    rows = json.loads(stdout)
    assert rc == 0 and isinstance(rows, list)
    for row in rows:
        assert {"name", "space", "dataset", "epochs", "seeds", "bytes", "complete"} <= set(row)
