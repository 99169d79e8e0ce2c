"""Hardening: nothing a user loads is executed, and files stay where they are named.

* checkpoints and the imagefolder cache load with ``torch.load(weights_only=True)``:
  a pickled object with a ``__reduce__`` payload is refused without running it;
* run stores hold JSON and SQLite scalars only (no BLOB, no pickle);
* the package never calls eval/exec/compile, pickle/marshal loads, ``os.system``,
  ``shell=True`` or ``torch.load`` without ``weights_only=True`` (checked on the AST);
* the imagefolder cache is written only under the cache folder, under a hashed name.
"""

from __future__ import annotations

import ast
import os
import sqlite3
from pathlib import Path

import pytest
import torch
from helpers import assert_rejected

from genet_lab.errors import UsageError

PACKAGE = Path(__file__).resolve().parents[2] / "genet_lab"
MARKER_ENV = "GENET_LAB_TEST_PWNED"


class Payload:
    """Unpickling this object would create the file named in $GENET_LAB_TEST_PWNED."""

    def __reduce__(self):
        return (os.makedirs, (os.environ[MARKER_ENV],))


def _evil_file(path: Path, payload: dict) -> Path:
    torch.save(payload, path)  # torch.save pickles Payload with its __reduce__
    return path


@pytest.fixture
def marker(tmp_path, monkeypatch):
    m = tmp_path / "pwned"
    monkeypatch.setenv(MARKER_ENV, str(m))
    return m


def test_checkpoint_with_a_reduce_payload_is_refused_unexecuted(tmp_path, marker):
    from genet_lab.training.checkpoint import FORMAT, load_checkpoint

    evil = _evil_file(
        tmp_path / "evil.pt",
        {"format": FORMAT, "version": 1, "genome": "1-01", "stages": [3], "network": Payload(), "state_dict": {}},
    )
    with pytest.raises(UsageError, match="not a readable genet-lab checkpoint"):
        load_checkpoint(evil)
    assert_rejected(["evaluate", str(evil)], "not a readable genet-lab checkpoint")
    assert not marker.exists()
    # and the payload is real: an unsafe load would have run it
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_imagefolder_cache_with_a_reduce_payload_is_ignored_unexecuted(tmp_path, marker):
    from genet_lab.training.data import imagefolder

    cache = _evil_file(tmp_path / "cache.pt", {"version": imagefolder.CACHE_VERSION, "paths": Payload()})
    assert imagefolder._read_cache(cache) == {}
    assert not marker.exists()


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = (
                f.id
                if isinstance(f, ast.Name)
                else (
                    f"{f.value.id}.{f.attr}"
                    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    else f".{f.attr}"
                    if isinstance(f, ast.Attribute)
                    else ""
                )
            )  # obj().eval(): nn.Module.eval
            yield name, node


def test_the_package_executes_nothing_it_reads():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 40
    bad, torch_loads = [], 0
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] in ("pickle", "marshal", "shelve", "dill", "cloudpickle") for n in names):
                    bad.append(f"{path}:{node.lineno} imports a pickle module")
        for name, node in _calls(tree):
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            if name in ("eval", "exec", "compile", "__import__", "os.system", "os.popen", "yaml.load"):
                bad.append(f"{where} calls {name}")
            if any(
                k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in node.keywords
            ):
                bad.append(f"{where} passes shell=")
            if name == "torch.load":
                torch_loads += 1
                safe = any(
                    k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords
                )
                if not safe:
                    bad.append(f"{where} torch.load without weights_only=True")
    assert not bad, bad
    assert torch_loads >= 2  # checkpoint.py and data/imagefolder.py: the check did look at them


def test_a_run_store_holds_no_blobs(tmp_path):
    from genet_lab.evolution import SearchConfig, start_run

    start_run(
        tmp_path / "r",
        SearchConfig(
            fitness="toy", population=4, generations=2, init="file", init_genomes=("1-01 0-01-100 0-11-101-0001",) * 4
        ),
    )
    conn = sqlite3.connect(tmp_path / "r" / "run.sqlite")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert {"run", "generations", "individuals", "evaluations", "events"} <= set(tables)
    seen = set()
    for table in tables:
        for _, col, decl, *_ in conn.execute(f"PRAGMA table_info({table})"):
            assert decl in ("INTEGER", "TEXT", "REAL", ""), (table, col, decl)
            for (kind,) in conn.execute(f"SELECT DISTINCT typeof({col}) FROM {table}"):
                seen.add(kind)
                assert kind in ("integer", "text", "real", "null"), (table, col, kind)
    assert {"integer", "text", "real"} <= seen
    conn.close()


def test_imagefolder_cache_stays_in_the_cache_folder(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from genet_lab.training.data import imagefolder

    cache = tmp_path / "cache"
    monkeypatch.setenv("GENET_LAB_CACHE", str(cache))
    data = tmp_path / "a" / ".." / "weird name; rm -rf x" / "set"
    for c in ("a", "b"):
        d = data / "train" / c
        d.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 6, 3), 40 * i, dtype=np.uint8)).save(d / f"{i}.png")
    before = {p for p in tmp_path.rglob("*")}
    imagefolder.load_imagefolder(data)
    written = {p for p in tmp_path.rglob("*")} - before
    assert written and all(p == cache or cache in p.parents for p in written), written
    files = [p for p in written if p.is_file()]
    assert len(files) == 1 and files[0].parent == cache / "imagefolder"
    assert len(files[0].stem) == 20 and all(ch in "0123456789abcdef" for ch in files[0].stem)
