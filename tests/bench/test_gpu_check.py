"""benchmarks/gpu_check.py keeps working between the rare times a GPU is lent: run in CPU mode
(CUDA hidden) at its tiny budget, every CUDA part is skipped with one line, the CPU parts
measure, and the JSON and the markdown say the same; a failing or overrunning part is one
line of the summary, never the end of the check."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import benchmark_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
CUDA_PARTS = ("population", "devices", "ray", "streamed", "checkpoint", "bench_build")
CPU_PARTS = ("versions", "data", "paper_best", "projection")


def _module():
    return benchmark_script("gpu_check")


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory) -> tuple[dict, str, Path]:
    """(the JSON report, stdout, the out folder) of one tiny run with CUDA hidden."""
    if not _module().TARBALL.is_file():
        pytest.skip("the CIFAR-10 JPEGs are not in ../shared/data")
    out = tmp_path_factory.mktemp("gpu-check")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "GENET_LAB_CACHE": str(out / "cache")}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), "--tiny"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout, out


def test_every_cuda_part_is_skipped_with_one_line_that_says_so(cpu_run):
    report, _, _ = cpu_run
    assert set(report["parts"]) == set(CUDA_PARTS) | set(CPU_PARTS)
    for name in CUDA_PARTS:
        part = report["parts"][name]
        assert part["status"] == "skipped", (name, part)
        assert part["line"].startswith("no CUDA device") and "\n" not in part["line"]
    assert report["parts"]["versions"]["gpu"] is None
    assert report["device_line"].startswith("no CUDA device")


def test_the_cpu_parts_measure_paper_best_and_project_from_it(cpu_run):
    report, _, _ = cpu_run
    for name in CPU_PARTS:
        assert report["parts"][name]["status"] == "ok", report["parts"][name]
    rows = report["parts"]["paper_best"]["rows"]
    assert set(rows) == {f"cpu/{p}/cl-{c}" for p in ("fp32", "bf16") for c in ("off", "on")}
    for row in rows.values():
        assert row["images_per_second"] > 0 and 0 <= row["val_accuracy"] <= 100 and row["failed"] is None
    proj = report["parts"]["projection"]
    assert proj["device"] == "cpu" and proj["individuals"] == 20 * 51
    per_epoch = 40_000 / rows["cpu/fp32/cl-off"]["images_per_second"]
    assert proj["seconds_per_epoch"] == pytest.approx(per_epoch, rel=1e-3)
    assert proj["days"] == pytest.approx(1020 * 240 * per_epoch / 86400, rel=1e-2)
    assert report["parts"]["data"]["train"] + report["parts"]["data"]["val"] == 8 * 10


def test_the_markdown_is_printed_written_and_has_a_row_per_part(cpu_run):
    report, stdout, out = cpu_run
    md = (out / "gpu_check.md").read_text()
    assert md in stdout
    assert json.loads((out / "gpu_check.json").read_text())["parts"].keys() == report["parts"].keys()
    table = [line for line in md.splitlines() if line.startswith("| ")]
    for name, part in report["parts"].items():
        assert any(line.startswith(f"| {name} | {part['status']} |") for line in table), name
    for key, row in report["parts"]["paper_best"]["rows"].items():
        assert f"| {key} | {row['images_per_second']:.0f} |" in md


def test_a_failing_part_is_one_line_and_an_overrunning_one_is_stopped():
    mod = _module()
    report: dict = {"parts": {}}

    def broken() -> dict:
        raise ValueError("bad\nthing")

    assert mod.run_part(report, "broken", broken, 5) is None
    line = report["parts"]["broken"]["line"]
    assert report["parts"]["broken"]["status"] == "failed" and "\n" not in line and line.startswith("ValueError: bad")
    t0 = time.perf_counter()
    mod.run_part(report, "slow", lambda: time.sleep(5) or {}, 0.2)
    assert time.perf_counter() - t0 < 2
    assert report["parts"]["slow"]["status"] == "failed" and "time budget" in report["parts"]["slow"]["line"]
    assert mod.run_part(report, "fine", lambda: {"line": "x"}, 5) == report["parts"]["fine"]


@pytest.mark.parametrize("n", [1, 8, 10, 50, 123, 300])
def test_the_tar_wildcards_select_exactly_the_first_n_images(n):
    pats = _module().glob_patterns("train", n)
    names = [f"train/cat/{i:04d}.jpg" for i in range(5000)]
    picked = [x for x in names if any(fnmatch.fnmatch(x, p) for p in pats)]
    assert picked == names[:n] and len(pats) <= 30


def test_a_rehearsal_runs_a_cuda_part_on_the_cpu_and_says_it_is_one(tmp_path):
    """--rehearse checks the CUDA parts' own code before a GPU is lent (here the cheapest one)."""
    if not _module().TARBALL.is_file():
        pytest.skip("the CIFAR-10 JPEGs are not in ../shared/data")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "GENET_LAB_CACHE": str(tmp_path / "cache")}
    argv = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--tiny", "--rehearse", "--only", "checkpoint"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(report["parts"]) == {"versions", "data", "checkpoint"} and report["rehearsal"] is True
    part = report["parts"]["checkpoint"]
    assert part["status"] == "ok" and part["same"] is True and part["gpu_accuracy"] == part["cpu_accuracy"]
    assert "REHEARSAL" in (tmp_path / "gpu_check.md").read_text().splitlines()[0]


def test_an_unknown_part_is_refused_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", "checkpoint,warp"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown part(s) warp; accepted: paper_best" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "gpu_check.json").exists()
