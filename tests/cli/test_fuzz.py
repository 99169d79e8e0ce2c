"""Hardening: fuzz the genome parser and every CLI subcommand with hypothesis.

Properties:
* the parser returns a genome that round-trips through its notation, or raises ValueError;
* every CLI call returns 0 (done), 1 (``train`` of an individual that failed) or 2 (rejected);
  a rejection is exactly one stderr line starting with ``error:``, there is never a traceback,
  and a rejected call leaves no new or changed file behind.

The CLI runs in-process (``genet_lab.cli.main.main``) in a fresh folder per example, with
the slow parts replaced by fast stand-ins *after* all validation: ``evolve`` is always the
toy fitness with small N and T, ``train``'s inner loop returns at once, the TUI does not
open. ``test_subprocess_smoke`` runs a few of the same rejections as real processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genet_lab.encoding.genome import Genome, parse, parse_stages, resolve, stage_length

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
ROOT = Path(__file__).resolve().parents[2]

# -- the genome parser ------------------------------------------------------------------------

genome_text = st.one_of(
    st.text(alphabet="01- \t\n", max_size=40),
    st.text(max_size=20),
    st.lists(
        st.lists(st.text(alphabet="01", min_size=0, max_size=5), min_size=1, max_size=5).map("-".join),
        min_size=1,
        max_size=4,
    ).map(" ".join),
)
stage_arg = st.one_of(
    st.none(), st.lists(st.integers(-3, 70), max_size=4), st.text(alphabet="0123456789, -x", max_size=10)
)


@settings(max_examples=3000, **SETTINGS)
@given(genome_text, stage_arg)
def test_parse_accepts_or_raises_value_error(text, stages):
    try:
        g = parse(text, stages)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(g, Genome) and parse(g.notation()) == g
    assert g.length == sum(stage_length(k) for k in g.stages)


@settings(max_examples=1000, **SETTINGS)
@given(st.text(max_size=16), st.one_of(st.none(), st.text(alphabet="0123456789, ", max_size=8)))
def test_resolve_and_parse_stages(text, stages):
    try:
        g = resolve(text, stages)
        assert parse(g.notation()) == g
    except ValueError:
        pass
    if stages is not None:
        try:
            out = parse_stages(stages)
            assert all(2 <= k <= 64 for k in out)
        except ValueError:
            pass


@settings(max_examples=500, **SETTINGS)
@given(
    st.lists(st.integers(2, 9), min_size=1, max_size=4).flatmap(
        lambda ks: st.tuples(
            st.just(tuple(ks)),
            st.lists(
                st.integers(0, 1), min_size=sum(stage_length(k) for k in ks), max_size=sum(stage_length(k) for k in ks)
            ),
        )
    )
)
def test_every_genome_round_trips(case):
    stages, bits = case
    g = Genome(stages, tuple(bits))
    assert parse(g.notation()) == g and parse(g.bitstring(), stages) == g


# -- the command line -------------------------------------------------------------------------

GARBAGE = st.one_of(
    st.sampled_from(
        [
            "",
            "-1",
            "0",
            "1",
            "2",
            "3",
            "nan",
            "inf",
            "-inf",
            "1e309",
            "0.5",
            "abc",
            "3,4,5",
            "2,2",
            "99999999999999999999",
            " ",
            "-",
            "ü",
            "1-01",
            "1-01 0-01-100 0-11-101-0001",
            "chain",
            "paper-best",
            "digits",
            "cpu",
            "cuda",
            "toy",
            "paper",
            "@DIR/run",
            "@DIR/none",
            "@DIR/text.txt",
            "@DIR/genomes.txt",
            "@DIR/blob.bin",
            "@DIR/ckpt.pt",
            "@DIR",
            "@DIR/out.svg",
            "/dev/null",
            "../x",
        ]
    ),
    st.text(max_size=6),
    st.integers(-3, 12).map(str),
)
FLAG = object()


def _opts(spec: dict) -> st.SearchStrategy:
    """A list of (option, value) pairs drawn from ``spec`` {option: value strategy or FLAG}."""

    def one(name):
        v = spec[name]
        return st.just([name]) if v is FLAG else v.map(lambda x, n=name: [n, x])

    return st.lists(st.sampled_from(sorted(spec)).flatmap(one), max_size=6).map(lambda ps: [a for p in ps for a in p])


small = st.one_of(st.integers(0, 4).map(str), GARBAGE)
COMMANDS = {
    "decode": (
        st.lists(st.one_of(genome_text, GARBAGE), min_size=1, max_size=3),
        {"--stages": GARBAGE, "--json": FLAG},
    ),
    "show": (
        genome_text | GARBAGE,
        {
            "--stages": GARBAGE,
            "--preset": GARBAGE | st.sampled_from(["wide", "imagenet"]),
            "--in-channels": GARBAGE,
            "--image-size": GARBAGE,
            "--classes": GARBAGE,
            "--json": FLAG,
            "--format": GARBAGE | st.just("dot"),
            "--output": GARBAGE,
        },
    ),
    "space": (None, {"--stages": GARBAGE | st.sampled_from(["3", "3,4", "2,3,4,5"]), "--json": FLAG}),
    "train": (
        genome_text | GARBAGE,
        {
            "--stages": GARBAGE,
            "--dataset": GARBAGE | st.just("imagefolder"),
            "--data-dir": GARBAGE,
            "--train-size": small,
            "--val-size": small,
            "--epochs": small,
            "--batch-size": small,
            "--lr": GARBAGE,
            "--momentum": GARBAGE,
            "--weight-decay": GARBAGE,
            "--schedule": GARBAGE,
            "--seed": GARBAGE,
            "--precision": GARBAGE,
            "--channels-last": GARBAGE,
            "--augment": GARBAGE,
            "--threads": small,
            "--eval-test": FLAG,
            "--save": GARBAGE,
            "--json": FLAG,
            "--events": FLAG,
            "--device": GARBAGE,
            "--preset": GARBAGE,
        },
    ),
    "evaluate": (
        GARBAGE,
        {"--dataset": GARBAGE, "--data-dir": GARBAGE, "--json": FLAG, "--device": GARBAGE, "--precision": GARBAGE},
    ),
    "evolve": (
        None,
        {
            "--population": small,
            "--generations": small,
            "--stages": GARBAGE,
            "--seed": GARBAGE,
            "--init": GARBAGE | st.sampled_from(["zeros", "residual-40", "residual"]),
            "--init-p": GARBAGE,
            "--init-flips": small,
            "--pm": GARBAGE,
            "--qm": GARBAGE,
            "--pc": GARBAGE,
            "--qc": GARBAGE,
            "--preset": GARBAGE,
            "--reuse-structures": FLAG,
            "--resume": GARBAGE,
            "--run-dir": GARBAGE | st.just("@DIR/new"),
            "--threads": small,
            "--epochs": small,
            "--dataset": GARBAGE,
            "--batch-size": small,
            "--lr": GARBAGE,
            "--workers": st.sampled_from(["0", "-1", "x", "", "1e3", "2"]),
            "--devices": GARBAGE,
            "--batched": GARBAGE | st.sampled_from(["off", "on", "auto"]),
        },
    ),
    "random-search": (
        None,
        {
            "--population": small,
            "--generations": small,
            "--stages": GARBAGE,
            "--seed": GARBAGE,
            "--resume": GARBAGE,
            "--run-dir": GARBAGE | st.just("@DIR/new"),
        },
    ),
    "report": (st.lists(GARBAGE, min_size=1, max_size=2), {"--out": GARBAGE, "--json": FLAG, "--no-plots": FLAG}),
    "tui": (None, {"--genome": genome_text | GARBAGE, "--stages": GARBAGE, "--run": GARBAGE}),
}
SKIP_NAMES = ("run.lock", "run.sqlite-wal", "run.sqlite-shm")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """Files the fuzzer may name: a finished toy run, genome files, a checkpoint, junk."""
    from genet_lab.encoding.genome import chain
    from genet_lab.encoding.presets import get_preset
    from genet_lab.evolution import SearchConfig, start_run
    from genet_lab.training.checkpoint import save_checkpoint
    from genet_lab.training.network import build_network

    root = tmp_path_factory.mktemp("fuzz-fixtures")
    start_run(root / "run", SearchConfig(fitness="toy", population=4, generations=1, seed=1))
    (root / "text.txt").write_text("hello\nworld\n")
    (root / "genomes.txt").write_text("# four\n" + "1-01 0-01-100 0-11-101-0001\n" * 2 + "chain\nzeros\n")
    (root / "blob.bin").write_bytes(bytes(range(256)))
    net = get_preset("paper-cifar10").with_input(1, 8, 10)
    save_checkpoint(root / "ckpt.pt", build_network(chain(), net), chain(), net, {}, {}, {"name": "digits"})
    return root


@contextlib.contextmanager
def _sandbox(fixtures: Path):
    d = Path(tempfile.mkdtemp(prefix="fuzz-"))
    for item in fixtures.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, d / item.name)
    cwd = os.getcwd()
    os.chdir(d)
    try:
        yield d
    finally:
        os.chdir(cwd)
        shutil.rmtree(d, ignore_errors=True)


def _tree(d: Path) -> dict:
    return {
        str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
        for p in d.rglob("*")
        if p.name not in SKIP_NAMES
    }


@pytest.fixture
def fast(monkeypatch):
    """Keep every check, skip the slow work: no training loop, no toy delay, no TUI window."""
    import genet_lab.training.trainer as train_mod
    from genet_lab.tui.app import GenetLabApp

    def no_loop(model, data, cfg, device, bf16, cl, result, progress, should_stop):
        result.val_accuracy, result.final_loss, result.epochs_run = 0.5, 1.0, cfg.epochs

    monkeypatch.setattr(train_mod, "_loop", no_loop)
    monkeypatch.setattr(train_mod, "choose_execution", lambda model, x, cfg, device, net: ("fp32", False, {}))
    monkeypatch.setattr(train_mod, "choose_threads", lambda *a: 1)
    monkeypatch.setattr(GenetLabApp, "run", lambda self, *a, **k: None)
    monkeypatch.delenv("GENET_LAB_TOY_DELAY", raising=False)


def check_cli(fixtures: Path, argv: list[str], stdin: str = "") -> int:
    with _sandbox(fixtures) as d:
        argv = [a.replace("@DIR", str(d)) for a in argv]
        if argv[0] in ("evolve", "random-search"):
            argv += ["--fitness", "toy"] if "--resume" not in argv else []
            if "--run-dir" not in argv and "--resume" not in argv:
                argv += ["--run-dir", str(d / "default")]
        before = _tree(d)
        rc, out, err = run_cli(argv, stdin)
        assert "Traceback" not in err, (argv, err)
        assert rc in (0, 1, 2), (argv, rc, err)
        if rc == 2:
            lines = err.rstrip("\n").split("\n")
            assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
            assert _tree(d) == before, (argv, err, set(_tree(d)) ^ set(before))
        return rc


@pytest.mark.parametrize(
    "command, examples",
    [
        ("decode", 500),
        ("show", 500),
        ("space", 150),
        ("train", 250),
        ("evaluate", 100),
        ("evolve", 400),
        ("random-search", 150),
        ("report", 50),
        ("tui", 150),
    ],
)
def test_cli_fuzz(command, examples, fixtures, fast):
    positional, options = COMMANDS[command]
    outcomes = {0: 0, 1: 0, 2: 0}

    @settings(max_examples=examples, **SETTINGS)
    @given(st.just(None) if positional is None else positional, _opts(options), st.text(max_size=30))
    def run(pos, opts, stdin):
        args = [] if pos is None else (pos if isinstance(pos, list) else [pos])
        argv = [command, *opts, *(["--", *args] if args else [])]  # "--": a genome may start with '-'
        outcomes[check_cli(fixtures, argv, stdin)] += 1

    run()
    print(f"{command}: {outcomes}")
    assert outcomes[2] > 0  # the fuzzer did reach the rejections
    if command not in ("evaluate", "report"):
        assert outcomes[0] > 0, outcomes  # ... and valid calls too


def test_subprocess_smoke(tmp_path):
    """The same contract from a real process: exit status 2, one line, no traceback, no file."""
    cases = [
        ["decode", "1-0x"],
        ["evolve", "--seed", "-1", "--run-dir", str(tmp_path / "r")],
        ["train", "chain", "--threads", "100000"],
        ["evaluate", str(tmp_path)],
        ["report", str(tmp_path / "none")],
        ["space", "--stages", "8"],
    ]
    for argv in cases:
        p = subprocess.run(
            [sys.executable, "-m", "genet_lab", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        lines = p.stderr.rstrip("\n").split("\n")
        assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (argv, p.stderr)
    assert sorted(os.listdir(tmp_path)) == []
