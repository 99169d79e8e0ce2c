"""Hardening, round 2: data, training and workers (issue 16, items 9 to 13, 15 and two of 17).

Each test is the regression test of one finding of the adversarial tester: a ``--save`` target
that fails only after training, data sets with one class or labels out of range, an empty idx
set, CPU out of memory, checkpoints whose contents are wrong, worker processes that outlive a
killed parent, and ``space`` enumerating K = 7 in silence.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO, assert_one_line_error, assert_rejected, benchmark_script, run_cli

from genet_lab.errors import UsageError
from genet_lab.evolution import SearchConfig, start_run
from genet_lab.training.data import load_dataset

TINY = [
    "--dataset",
    "digits",
    "--train-size",
    "60",
    "--val-size",
    "40",
    "--epochs",
    "1",
    "--batch-size",
    "30",
    "--threads",
    "1",
    "--precision",
    "fp32",
    "--channels-last",
    "off",
]


def _no_training(monkeypatch):
    """Make any training fail the test: a refusal must come before it."""
    import genet_lab.training.trainer as trainer

    def boom(*a, **k):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(trainer, "train_genome", boom)


# -- 9: train --save: check the target before training, keep the result after a late failure ------


def test_save_target_problems_are_refused_before_training(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    for target, needle in (
        (tmp_path / "adir", "is a folder"),
        (tmp_path / "no" / "x.pt", "does not exist"),
        (tmp_path / "fifo", "not a regular file"),
    ):
        assert_rejected(["train", "chain", *TINY, "--save", str(target)], str(target), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "fifo"]


def test_read_only_save_folder_is_refused_before_training(tmp_path, monkeypatch):
    import tempfile

    _no_training(monkeypatch)

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)  # root ignores chmod: simulate the mount
    assert_rejected(
        ["train", "chain", *TINY, "--save", str(tmp_path / "c.pt")], "Read-only file system", "writable folder"
    )


def test_too_little_free_space_is_refused_before_training(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    _no_training(monkeypatch)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 4096, 4096))
    assert_rejected(["train", "chain", *TINY, "--save", str(tmp_path / "c.pt")], "MiB free", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fallback_works", [True, False])
def test_a_late_save_failure_keeps_the_result(tmp_path, monkeypatch, fallback_works):
    import tempfile

    import genet_lab.training.checkpoint as ckpt

    real, target = ckpt.save_checkpoint, tmp_path / "c.pt"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def disk_full(path, *a, **k):  # the disk fills up while training
        if Path(path) == target or not fallback_works:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *a, **k)

    monkeypatch.setattr(ckpt, "save_checkpoint", disk_full)
    rc, out, err = run_cli(["train", "chain", *TINY, "--save", str(target), "--json"])
    line = assert_one_line_error(rc, err, "training finished", str(target), "No space left on device")
    result = json.loads(out.strip().splitlines()[-1])  # the result is printed all the same
    assert result["val_accuracy"] > 0 and not target.exists()
    saved = list((tmp_path / "tmp").glob("genet-lab-unsaved-*"))
    if fallback_works:
        assert len(saved) == 1 and str(saved[0]) in line and result["checkpoint"] == str(saved[0])
        assert ckpt.load_checkpoint(saved[0]).genome.notation() == result["genome"]
    else:
        assert saved == [] and "rerun" in line and result["checkpoint"] is None


# -- 10 and 11: fewer than 2 classes, labels out of range, an empty idx set ------------------------


def _image_folder(root: Path, classes=("cat",), n=6, test_classes=()) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, names in (("train", classes), ("test", test_classes)):
        for c in names:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_one_class_image_folder_is_refused(tmp_path, own_cache):
    data = _image_folder(tmp_path / "one")
    with pytest.raises(UsageError, match=r"only 1 class \(cat\) of 1; classification needs images of at least 2"):
        load_dataset("imagefolder", data)
    assert not own_cache.exists(), "nothing is decoded or cached for a refused folder"
    assert_rejected(["train", "chain", "--dataset", "imagefolder", "--data-dir", str(data)], "at least 2")
    run = tmp_path / "run"
    assert_rejected(
        [
            "evolve",
            "--fitness",
            "proxy",
            "--dataset",
            "imagefolder",
            "--data-dir",
            str(data),
            "-N",
            "2",
            "-T",
            "1",
            "--run-dir",
            str(run),
        ],
        "at least 2",
    )
    assert not run.exists()
    assert_rejected(["train", "chain", "--dataset", "imagefolder", "--data-dir", str(data), "--stream"], "only 1 class")


def test_image_folder_with_an_empty_second_class_is_refused(tmp_path, own_cache):
    data = _image_folder(tmp_path / "d")
    (data / "train" / "dog").mkdir()
    with pytest.raises(UsageError, match=r"only 1 class \(cat\) of 2"):
        load_dataset("imagefolder", data)
    from genet_lab.training.data.splits import make_splits

    x = torch.zeros(12, 3, 8, 8, dtype=torch.uint8)  # the same check after loading, for every data set
    with pytest.raises(UsageError, match="only 1 of its 2 classes"):
        make_splits("imagefolder", ["cat", "dog"], (x, torch.zeros(12, dtype=torch.int64)), None, 0, None, 2, "d")


def _write_idx(folder: Path, n: int, labels=None, test_labels=None) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count, labs in (("train", n, labels), ("t10k", n // 2, test_labels)):
        imgs = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labs = (np.arange(count) % 10).astype(np.uint8) if labs is None else np.asarray(labs, dtype=np.uint8)
        for stem, arr, magic in ((f"{prefix}-images-idx3-ubyte", imgs, 3), (f"{prefix}-labels-idx1-ubyte", labs, 1)):
            head = bytes([0, 0, 8, magic]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
            (folder / (stem + ".gz")).write_bytes(gzip.compress(head + arr.tobytes()))
    return folder


@pytest.mark.parametrize("where", ["train", "validation", "test"])
def test_idx_labels_out_of_range_are_refused_on_load(tmp_path, where):
    labels, test = np.arange(60) % 10, np.arange(30) % 10
    if where == "test":
        test[7] = 200
    else:
        labels[3] = 200
    data = _write_idx(tmp_path / "idx", 60, labels, test)
    # val_size 20 of 60: the bad image lands in one split or the other; the check must not care
    val = 20 if where == "validation" else 5
    with pytest.raises(
        UsageError, match="1 (training|test) label out of range .e.g. 200.; labels must be class indices 0..9"
    ) as info:
        load_dataset("mnist", data, val_size=val, with_test=True)
    assert "\n" not in str(info.value)
    if where != "test":
        run = tmp_path / "run"
        assert_rejected(
            [
                "evolve",
                "--fitness",
                "proxy",
                "--dataset",
                "mnist",
                "--data-dir",
                str(data),
                "-N",
                "2",
                "-T",
                "1",
                "--run-dir",
                str(run),
            ],
            "out of range",
        )
        assert not run.exists()
        assert_rejected(["train", "chain", "--dataset", "mnist", "--data-dir", str(data)], "200")
    else:  # the test split is read only when asked for
        assert_rejected(["train", "chain", "--dataset", "mnist", "--data-dir", str(data), "--eval-test"], "test label")


def test_empty_idx_set_is_one_clear_line(tmp_path):
    data = _write_idx(tmp_path / "idx", 0)
    line = assert_rejected(
        ["train", "chain", "--dataset", "fashion-mnist", "--data-dir", str(data)], "holds no training images"
    )
    assert "val_size" not in line


def test_svhn_style_labels_are_checked_too():
    from genet_lab.training.data.splits import make_splits

    x = torch.zeros(20, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(UsageError, match="out of range .e.g. -1."):
        make_splits("toy", ["a", "b"], (x, torch.tensor([0, 1] * 9 + [-1, 1])), None, 0, None, 5, "here")


# -- 12: CPU out of memory fails the individual -----------------------------------------------------

CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 400000000000 bytes. Error code 12 (Cannot allocate memory)"
)


def _tiny_train(**kw) -> SearchConfig:
    return SearchConfig(
        **{
            **dict(
                fitness="train",
                population=3,
                generations=1,
                seed=2,
                epochs=1,
                train_size=60,
                train={"batch_size": 30, "threads": 1},
            ),
            **kw,
        }
    )


@pytest.mark.parametrize("error", ["cpu-allocator", "memory-error", "torch-oom-outside-the-loop"])
def test_cpu_out_of_memory_fails_the_individual(tmp_path, monkeypatch, error):
    import genet_lab.training.trainer as trainer

    real_loop, real_build, loops, builds = trainer._loop, trainer.build_network, [], []

    def loop(*a, **k):
        loops.append(1)
        if len(loops) == 3 and error == "cpu-allocator":
            raise RuntimeError(CPU_OOM)
        if len(loops) == 3 and error == "memory-error":
            raise MemoryError()
        return real_loop(*a, **k)

    def build(*a, **k):  # before the loop: the fitness catches it
        builds.append(1)
        if len(builds) == 3 and error == "torch-oom-outside-the-loop":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_build(*a, **k)

    monkeypatch.setattr(trainer, "_loop", loop)
    monkeypatch.setattr(trainer, "build_network", build)
    status = start_run(tmp_path / "r", _tiny_train())
    assert status.state == "finished" and status.evaluations_done == 6
    from genet_lab.evolution import RunStore

    with RunStore(tmp_path / "r", readonly=True) as st:
        failed = [i for i in st.individuals() if i.state == "failed"]
    assert len(failed) == 1 and failed[0].accuracy == 0.0 and failed[0].error.startswith("out of memory")


def test_proxy_fitness_out_of_memory_fails_the_individual(monkeypatch):
    import genet_lab.training.network as network
    from genet_lab.encoding.genome import chain
    from genet_lab.evolution.fitness import ProxyFitness

    fit = ProxyFitness("digits")
    monkeypatch.setattr(network, "build_network", lambda *a, **k: (_ for _ in ()).throw(RuntimeError(CPU_OOM)))
    ev = fit.evaluate(chain(), 1)
    assert ev.failed and ev.accuracy == 0.0 and "can't allocate memory" in ev.error
    monkeypatch.setattr(network, "build_network", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        fit.evaluate(chain(), 1)


def test_out_of_memory_recognition():
    from genet_lab.training.loop import out_of_memory

    assert out_of_memory(RuntimeError(CPU_OOM)) and out_of_memory(MemoryError())
    assert out_of_memory(torch.OutOfMemoryError("x")) and out_of_memory(RuntimeError("CUDA out of memory."))
    assert not out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not out_of_memory(ValueError("out of memory"))


# -- 13: checkpoints that load safely but hold wrong contents ---------------------------------------


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    from genet_lab.encoding.genome import chain
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training.checkpoint import save_checkpoint
    from genet_lab.training.network import build_network

    net = get_preset("paper-cifar10").with_input(1, 8, 10)
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    d = load_dataset("digits")
    save_checkpoint(
        path,
        build_network(chain(), net),
        chain(),
        net,
        {"epochs": 1},
        {"val_accuracy": 0.5},
        {
            "name": "digits",
            "classes": d.classes,
            "mean": list(d.mean),
            "std": list(d.std),
            "seed": 0,
            "val_size": len(d.val_y),
            "train_size": None,
            "data_dir": None,
        },
    )
    return path


def _tamper(src: Path, dst: Path, change) -> Path:
    data = torch.load(src, weights_only=True)
    change(data)
    torch.save(data, dst)
    return dst


def _first_conv(sd: dict) -> str:
    return next(k for k, v in sd.items() if v.dim() == 4)


TAMPERED = {
    "wrong shape": (
        lambda d: d["state_dict"].__setitem__(_first_conv(d["state_dict"]), torch.zeros(3, 3, 3, 3)),
        "wrong shape",
    ),
    "missing key": (lambda d: d["state_dict"].pop(_first_conv(d["state_dict"])), "1 missing"),
    "extra key": (lambda d: d["state_dict"].__setitem__("evil.weight", torch.zeros(1)), "1 unexpected"),
    "metrics a list": (lambda d: d.__setitem__("metrics", [1, 2]), "'metrics' must be a dict, got list"),
    "metrics an int": (lambda d: d.__setitem__("metrics", 7), "'metrics' must be a dict, got int"),
    "dataset None": (lambda d: d.__setitem__("dataset", None), "'dataset' must be a dict, got NoneType"),
    "dataset name None": (lambda d: d["dataset"].__setitem__("name", None), "dataset name is NoneType"),
    "dataset seed a string": (lambda d: d["dataset"].__setitem__("seed", "0; rm"), "dataset seed is str"),
    "mean of 3 channels": (lambda d: d["dataset"].__setitem__("mean", [0.1, 0.2, 0.3]), "one per channel"),
    "huge widths": (lambda d: d["network"].__setitem__("widths", [2**30, 8, 16]), "width 1073741824 is above"),
    "huge fc": (lambda d: d["network"].__setitem__("fc", [10**9]), "above the supported"),
    "huge image": (lambda d: d["network"].__setitem__("image_size", 10**6), "image_size 1000000"),
    "train a string": (lambda d: d.__setitem__("train", "x"), "'train' must be a dict, got str"),
    "no state_dict": (lambda d: d.pop("state_dict"), "no 'state_dict' entry"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_checkpoint_contents_are_validated_before_building(tmp_path, good_checkpoint, monkeypatch, case):
    import genet_lab.training.network as network
    from genet_lab.training.checkpoint import load_checkpoint

    change, needle = TAMPERED[case]
    bad = _tamper(good_checkpoint, tmp_path / "bad.pt", change)
    real, built = network.build_network, []
    monkeypatch.setattr(network, "build_network", lambda *a, **k: built.append(torch.empty(0).device) or real(*a, **k))
    with pytest.raises(UsageError, match="damaged genet-lab checkpoint") as info:
        load_checkpoint(bad)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert all(d is None or str(d) == "meta" for d in built), "a network was built for real"
    assert_rejected(["evaluate", str(bad)], "damaged genet-lab checkpoint", needle)


def test_a_good_checkpoint_still_evaluates(good_checkpoint):
    rc, out, err = run_cli(["evaluate", str(good_checkpoint), "--json"])
    assert rc == 0, err
    assert json.loads(out)["genome"]


# -- 15: workers exit when their parent dies --------------------------------------------------------


def _children(pid: int) -> set[int]:
    """Every living descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p}
        todo += list(kids - found)
        found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the workers")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    env = {**os.environ, "GENET_LAB_TOY_DELAY": "0.3", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genet_lab",
            "evolve",
            "--fitness",
            "toy",
            "--workers",
            "2",
            "-N",
            "4",
            "-T",
            "40",
            "--run-dir",
            str(tmp_path / "r"),
            "--json",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, kids = time.time() + 60, set()
        while time.time() < deadline and len(kids) < 2:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
            kids = {k for k in _children(proc.pid) if _alive(k)}
        assert len(kids) >= 2, "the workers never started"
        time.sleep(1.0)  # let the workers reach their jobs
        kids = {k for k in _children(proc.pid) if _alive(k)}  # workers and the resource tracker
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.time() + 5
        while time.time() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.1)
        left = [k for k in kids if _alive(k)]
        assert not left, f"still alive 5 s after the parent's kill -9: {left}"
    finally:
        for k in _children(proc.pid):
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()


def test_the_parent_watchdog_alone_ends_an_orphan():
    """Where PR_SET_PDEATHSIG is not available, the watchdog thread ends the orphaned worker."""
    script = textwrap.dedent("""
        import os, sys, time
        child = os.fork()
        if child == 0:
            parent = os.getppid()
            sys.platform = "darwin"  # no prctl: only the watchdog is left
            from genet_lab.processes import exit_with_parent
            exit_with_parent(parent, poll=0.05)
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        time.sleep(0.5)
        os._exit(0)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    child = int(out.stdout.split()[0])
    deadline = time.time() + 5
    while time.time() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


# -- 17: space --stages 7 says what it is doing -----------------------------------------------------


def test_space_announces_and_reports_progress_on_large_stages(monkeypatch):
    import genet_lab.encoding.space as space

    monkeypatch.setattr(space, "stage_classes", space._StageClasses())  # nothing cached

    def fake_enumerate(k, progress):  # the real K=6 takes seconds: replay its progress calls
        total = 2 ** (k * (k - 1) // 2)
        for tenth in range(11):
            if progress:
                progress(k, total * tenth // 10, total)
        return {i: 1 for i in range(k)}

    monkeypatch.setattr(space, "_enumerate", fake_enumerate)
    rc, out, err = run_cli(["space", "--stages", "3,6", "--json"])
    assert rc == 0 and json.loads(out)["stages"][1]["K"] == 6
    lines = err.strip().splitlines()
    assert "K=6 stage enumerates all 32,768 of its bit strings" in lines[0]
    assert any("s left" in line for line in lines) and "100%" in lines[-1] and "K=3" not in err
    rc, out, err = run_cli(["space", "--stages", "3,6"])  # counted now: nothing more to say
    assert rc == 0 and err == ""


# -- the soak test, short: random kill -9 / SIGTERM / Ctrl-C, creation included ----------------------


@pytest.mark.slow
def test_stops_at_random_moments_leave_a_resumable_or_absent_run():
    """A few trials of benchmarks/kill_trials.py (the long run is 52 trials): every stopped run is
    either resumable to the uninterrupted result or cleanly absent and started again."""
    kt = benchmark_script("kill_trials")
    s = kt.run_trials(4, seed=5, modes=("create", "db"), quiet=True, signals=("kill", "term", "int"))
    assert s["trials"] == 4 and s["kills"] >= 4
    assert s["failed_trials"] == 0, [r["problems"] for r in s["results"] if not r["ok"]]
