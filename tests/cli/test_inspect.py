"""The inspection CLI through a real subprocess: decode, show, space, bad input."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import assert_process_rejected, cli_process

BEST = "1-01 0-01-100 0-11-101-0001"


cli = cli_process


def test_decode_contract():
    proc = cli("decode", "--json", BEST)
    assert proc.returncode == 0
    obj = json.loads(proc.stdout)
    assert obj["genome"] == BEST
    assert obj["stages"][0] == {"nodes": [0, 1, 2, 3, 4], "edges": [[0, 1], [1, 2], [2, 3], [3, 4]]}
    assert obj["stages"][1]["edges"] == [[0, 1], [0, 2], [1, 4], [2, 3], [3, 5], [4, 5]]


def test_decode_plain_bits_names_and_stdin():
    proc = cli(
        "decode",
        "--stages",
        "3,4,5",
        "1010011000111010001",
        "zeros",
        "-",
        stdin="1-01 1-01-001 1-01-001-0001\n\n# a comment\n" + "0" * 19 + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    zeros = "0-00 0-00-000 0-00-000-0000"
    assert [o["genome"] for o in objs] == [BEST, zeros, "1-01 1-01-001 1-01-001-0001", zeros]
    assert objs[1]["stages"] == [{"nodes": [0], "edges": []}] * 3


def test_decode_bad_stdin_line_is_named():
    assert_process_rejected(cli("decode", "-", stdin="1-01\n1-0x\n"), "stdin line 2")


def test_show_text_fits_80_columns():
    proc = cli("show", BEST)
    assert proc.returncode == 0
    assert BEST in proc.stdout and "29,906" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    wide = cli("show", "residual-40", "--preset", "wide")
    assert wide.returncode == 0 and max(len(line) for line in wide.stdout.splitlines()) <= 80


def test_show_json_fields():
    obj = json.loads(cli("show", BEST, "--json").stdout)
    assert obj["params"] == 29906 and obj["convs"] == [5, 6, 7] and obj["depth"] == 15
    assert obj["layers"] == 17 and obj["macs"] > 0 and "|" in obj["structure_key"]
    big = json.loads(cli("show", BEST, "--preset", "imagenet", "--json").stdout)
    assert round(big["params"] / 1e6) == 156
    digits = json.loads(cli("show", BEST, "--in-channels", "1", "--image-size", "8", "--json").stdout)
    assert digits["input"] == [1, 8, 8] and digits["params"] < obj["params"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
@pytest.mark.parametrize("fmt, magic", [("svg", b"<svg"), ("png", b"\x89PNG"), ("dot", b"digraph")])
def test_show_renders_files(tmp_path, fmt, magic):
    out = tmp_path / f"best.{fmt}"
    proc = cli("show", BEST, "--format", fmt, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert magic in out.read_bytes()[:400]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_without_dot_binary(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no dot on PATH
    proc = cli("show", BEST, "--format", "svg", "--output", str(tmp_path / "x.svg"), env=env)
    assert_process_rejected(proc, "dot")
    assert not (tmp_path / "x.svg").exists()
    assert cli("show", BEST, env=env).returncode == 0
    dot = cli("show", BEST, "--format", "dot", env=env)
    assert dot.returncode == 0 and dot.stdout.startswith("digraph")


def test_space_json_and_table():
    obj = json.loads(cli("space", "--stages", "3,4,5", "--json").stdout)
    assert obj["strings"] == 524288
    assert [s["K"] for s in obj["stages"]] == [3, 4, 5]
    assert [s["strings"] for s in obj["stages"]] == [8, 64, 1024]
    assert obj["stages"][0]["distinct"] == 6
    table = cli("space").stdout
    assert "524,288" in table


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["show", "1-0x"], "only 0, 1"),
        (["show", "1-011"], "group 2 must hold 2 bits"),
        (["show", "1010011000111010001"], "needs stage sizes"),
        (["show", "101", "--stages", "3,4,5"], "need 19 bits"),
        (["show", BEST, "--stages", "3,4"], "were asked for"),
        (["show", BEST, "--preset", "vgg"], "known presets"),
        (["show", BEST, "--image-size", "0"], "positive integer"),
        (["show", BEST, "--format", "svg"], "needs --output"),
        (["show", BEST, "--format", "svg", "--output", "/nonexistent/dir/x.svg"], "does not exist"),
        (["show", BEST, "--preset", "imagenet", "--image-size", "16"], "too small"),
        (["space", "--stages", "3,x"], "stage sizes"),
        (["space", "--stages", "9"], "at most K=7"),
        (["decode", ""], "empty genome"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, fragment):
    assert_process_rejected(cli(*args), fragment)


def test_console_script_and_module_agree():
    exe = shutil.which("genet-lab", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("console script not installed in this environment")
    a = subprocess.run([exe, "decode", BEST], capture_output=True, text=True).stdout
    assert a == cli("decode", BEST).stdout
