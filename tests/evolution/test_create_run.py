"""create_run (issue 20): a front end stores a resolved config as a new run without loading data
or importing torch, then continues it in a process of its own with ``evolve --resume``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import run_cli

from genet_lab.evolution import RunStore
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.run import create_run
from genet_lab.evolution.store import RunExists


def test_create_run_loads_nothing_and_imports_no_torch(tmp_path):
    code = (
        "import sys\n"
        "from genet_lab.evolution.config import SearchConfig\n"
        "from genet_lab.evolution.run import create_run\n"
        f"print(create_run({str(tmp_path / 'r')!r}, SearchConfig(dataset='cifar10', data_dir='nowhere')))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == [str(tmp_path / "r"), "False"]
    with RunStore(tmp_path / "r", readonly=True) as store:
        stored = store.config()
        assert store.data_fingerprint() is None and store.generations() == []
    assert (stored["epochs"], stored["train"]["batch_size"], stored["data_dir"]) == (20, 128, str(tmp_path / "nowhere"))


def test_a_created_run_runs_with_resume_and_a_second_create_is_refused(tmp_path):
    run = tmp_path / "r"
    config = SearchConfig(fitness="toy", population=4, generations=2, seed=3)
    assert create_run(run, config) == run
    with pytest.raises(RunExists) as info:
        create_run(run, config)
    assert info.value.directory == run and "--" not in str(info.value)
    rc, out, err = run_cli(["evolve", "--resume", str(run), "--json"])
    assert rc == 0, err
    assert json.loads(out)["status"]["state"] == "finished"
    rc, _out, err = run_cli(["evolve", "--fitness", "toy", "--run-dir", str(run)])
    assert rc == 2 and f"already holds a run; use --resume {run} or another --run-dir" in err


def test_a_bad_config_creates_nothing(tmp_path):
    with pytest.raises(ValueError):
        create_run(tmp_path / "r", SearchConfig(init="residual-40", stages=(3, 4, 5)))
    assert not (tmp_path / "r").exists()
