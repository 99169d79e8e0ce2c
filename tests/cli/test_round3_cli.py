"""Hardening, round 3 (issue 22): the command line around runs and reports.

Items 2 (``report`` never writes through a link planted in a run), 6 (``--dry-run`` refuses what
the real command refuses), 13 (``--workers 2`` under ``ulimit -n 16``; torch that cannot be
loaded) and 19 (``report --out`` onto another file system, temporaries left by kill -9, what a
failed write says, control characters in printed paths). docs/reliability.md, "Round 3".
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, assert_one_line_error, assert_process_rejected, assert_rejected, cli_process, run_cli

from genet_lab.evolution import SearchConfig, start_run
from genet_lab.evolution import report as report_mod
from genet_lab.fileio import atomic_write


def _toy(run: Path) -> Path:
    start_run(run, SearchConfig(fitness="toy", population=4, generations=2, seed=5))
    return run


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- 2. a link planted in a run --------------------------------------------------------------------------


def test_report_refuses_a_link_out_of_the_run(tmp_path):
    run = _toy(tmp_path / "run")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "report.md").write_text("precious\n")
    (run / "report").symlink_to("../victim")
    before = _files(tmp_path)
    assert_rejected(["report", str(run), "--no-plots"], "symbolic link", "outside the run")
    assert (victim / "report.md").read_text() == "precious\n"
    assert _files(tmp_path) == before
    # the same through --out, and a link deeper inside the run
    assert_rejected(["report", str(run), "--no-plots", "--out", str(run / "report" / "sub")], "outside the run")


def test_report_follows_a_link_that_stays_inside_the_run_or_one_given_elsewhere(tmp_path):
    run = _toy(tmp_path / "run")
    (run / "mine").mkdir()
    (run / "report").symlink_to("mine")
    rc, _, err = run_cli(["report", str(run), "--no-plots"])
    assert rc == 0, err
    assert (run / "mine" / "report.md").is_file()
    elsewhere = tmp_path / "reports"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to("reports")
    rc, _, err = run_cli(["report", str(run), "--no-plots", "--out", str(tmp_path / "link")])
    assert rc == 0, err
    assert (elsewhere / "report.md").is_file()


# -- 6. --dry-run refuses what the real command refuses -----------------------------------------------------

PAIRS = [
    (["--workers", "2", "--ray", "local"], "choose one of --workers"),
    (["--workers", "2", "--batched", "on"], "choose one of --workers"),
    (["--batched", "on"], "--batched evaluation needs the train fitness"),
    (["--devices", "tpu"], "tpu"),
    (["--init", "residual-40", "--stages", "3,4,5"], "own stages 11,11,11"),
    (["--objective", "macs:1e308"], "unknown objective"),
]


@pytest.mark.parametrize("extra,needle", PAIRS, ids=[" ".join(p[0]) for p in PAIRS])
def test_dry_run_and_real_command_refuse_alike(tmp_path, extra, needle):
    base = ["evolve", "--fitness", "toy", "-N", "2", "-T", "1", "--run-dir", str(tmp_path / "run"), *extra]
    real = assert_rejected(base, needle)
    dry = assert_rejected([*base, "--dry-run"], needle)
    assert real == dry
    assert not (tmp_path / "run").exists()


def test_dry_run_refuses_a_device_this_machine_lacks(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    base = ["evolve", "--device", "cuda", "-N", "2", "-T", "1", "--run-dir", str(tmp_path / "run")]
    assert assert_rejected([*base, "--dry-run"], "no CUDA") == assert_rejected(base, "no CUDA")


def test_dry_run_refuses_a_resume_below_the_last_generation(tmp_path):
    run = _toy(tmp_path / "run")
    real = assert_rejected(["evolve", "--resume", str(run), "-T", "1"], "must be >= 2")
    assert assert_rejected(["evolve", "--resume", str(run), "-T", "1", "--dry-run"]) == real
    rc, out, err = run_cli(["evolve", "--resume", str(run), "-T", "3", "--dry-run"])
    assert rc == 0 and '"generations": 3' in out, err


def test_dry_run_of_a_resume_refuses_what_opening_for_writing_refuses(tmp_path):
    from genet_lab.evolution import RunStore

    run = _toy(tmp_path / "run")
    argv = ["evolve", "--resume", str(run), "-T", "3"]
    with RunStore(run):  # another writer holds it
        real = assert_rejected(argv, "being written by pid")
        assert assert_rejected([*argv, "--dry-run"]) == real
    (run / "run.lock").unlink()
    (run / "run.lock").symlink_to(tmp_path / "elsewhere")
    real = assert_rejected(argv, "symbolic link")
    assert assert_rejected([*argv, "--dry-run"]) == real


def test_dry_run_refuses_a_directory_that_holds_a_run(tmp_path):
    run = _toy(tmp_path / "run")
    argv = ["evolve", "--fitness", "toy", "--run-dir", str(run)]
    assert assert_rejected([*argv, "--dry-run"], "already holds a run") == assert_rejected(argv)


# -- 13. too many open files; torch that cannot be loaded ----------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ulimit -n as on Linux")
def test_workers_under_a_low_open_files_limit_is_one_line(tmp_path):
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16)); "
        "from genet_lab.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", script, "evolve", "--fitness", "toy", "-N", "2", "-T", "1", "--workers", "2",
         "--run-dir", str(run)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    line = assert_process_rejected(proc, "open files", "ulimit -n")
    assert "free some space" not in line
    if run.exists():  # what was made stays resumable with a higher limit
        rc, _, err = run_cli(["evolve", "--resume", str(run)])
        assert rc == 0, err


def test_torch_that_cannot_be_loaded_is_one_line(tmp_path):
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ImportError('libtorch_cpu.so: failed to map segment from shared object')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = cli_process("train", "chain", "--epochs", "1", env=env, cwd=tmp_path)
    assert_process_rejected(proc, "torch could not be loaded", "failed to map segment", "ulimit -v")


# -- 19. report --out onto another mount, stale temporaries, words, control characters ----------------------


def test_report_into_an_existing_folder_on_another_file_system(tmp_path, monkeypatch):
    """A rename that crosses into ``mount`` fails with EXDEV, as onto a mount point."""
    run = _toy(tmp_path / "run")
    mount = tmp_path / "mount"
    mount.mkdir()
    real_replace, real_rename = os.replace, os.rename

    def crossing(fn):
        def move(src, dst, *a, **kw):
            inside = mount in Path(dst).parents or Path(dst) == mount
            if inside and mount not in Path(src).parents:
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            return fn(src, dst, *a, **kw)

        return move

    monkeypatch.setattr(report_mod.os, "replace", crossing(real_replace))
    monkeypatch.setattr(report_mod.os, "rename", crossing(real_rename))
    rc, _, err = run_cli(["report", str(run), "--no-plots", "--out", str(mount)])
    assert rc == 0, err
    names = sorted(p.name for p in mount.iterdir())
    assert "report.md" in names and "table1.csv" in names
    assert not [n for n in names if n.startswith(".")]  # the temporary folder is gone


def test_temporaries_of_killed_writers_are_cleaned(tmp_path):
    run = _toy(tmp_path / "run")
    dead, live = _dead_pid(), os.getpid()
    stale_dir = run / f".report.{dead}.abcd.tmp"
    stale_dir.mkdir()
    (stale_dir / "report.md").write_text("half\n")
    live_dir = run / f".report.{live}.efgh.tmp"
    live_dir.mkdir()
    rc, _, err = run_cli(["report", str(run), "--no-plots"])
    assert rc == 0, err
    assert not stale_dir.exists() and live_dir.exists()
    # atomic_write's files likewise
    (tmp_path / f".out.txt.{dead}.x1.tmp").write_text("half")
    atomic_write(tmp_path / "out.txt", b"whole")
    assert (tmp_path / "out.txt").read_bytes() == b"whole"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.txt.")]


@pytest.mark.parametrize(
    "code,said,unsaid",
    [(errno.EMFILE, "ulimit -n", "free some space"), (errno.ENOSPC, "free some space", "ulimit"),
     (errno.EACCES, "a folder you may write", "free some space")],
)  # fmt: skip
def test_a_failed_report_write_says_why(tmp_path, monkeypatch, code, said, unsaid):
    run = _toy(tmp_path / "run")

    def fail(*a, **kw):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(report_mod.tempfile, "mkdtemp", fail)
    line = assert_rejected(["report", str(run), "--no-plots", "--out", str(tmp_path / "out")], said)
    assert unsaid not in line
    assert not (tmp_path / "out").exists()


def test_control_characters_in_paths_are_shown_escaped(tmp_path):
    odd = tmp_path / "a\x1b[31mred"
    rc, _, err = run_cli(["report", str(odd)])
    line = assert_one_line_error(rc, err, "does not exist")
    assert "\x1b" not in err and "\\x1b" in line
    rc, _, err = run_cli(["evolve", "--resume", str(odd)])
    assert rc == 2 and "\x1b" not in err


# -- 11. the execution probe under a memory limit ------------------------------------------------------------


class _OutOfMemory:
    """A stand-in network whose every step meets the CPU allocator's limit (or another error)."""

    def __init__(self, message: str):
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.zeros(1))

            def forward(self, x):
                raise RuntimeError(message)

        self.net = Net()


@pytest.mark.parametrize(
    "message,stored",
    [("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123 bytes", False),
     ("bf16 not supported here", True)],
)  # fmt: skip
def test_the_execution_probe_falls_back_instead_of_crashing(message, stored):
    import dataclasses

    import torch

    from genet_lab.encoding.presets import get_preset
    from genet_lab.training import autotune
    from genet_lab.training.config import default_train_config

    cfg = dataclasses.replace(default_train_config("digits"), precision="auto", channels_last="auto", batch_size=7)
    net_config = get_preset("paper-cifar10").with_input(1, 8, 10)
    before = dict(autotune._PROBES)
    prec, cl, times = autotune.choose_execution(
        _OutOfMemory(message).net, torch.zeros(1, 1, 8, 8), cfg, torch.device("cpu"), net_config
    )
    assert (prec, cl, times) == ("fp32", False, {})  # the reference choice, no "no median for empty data"
    assert (len(autotune._PROBES) > len(before)) == stored  # an out-of-memory probe is measured again next time
