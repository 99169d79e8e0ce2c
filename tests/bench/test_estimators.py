"""Cheap estimators against a table (genet_lab.bench.estimators, ``genet-lab bench estimators``):
the rank correlations against scipy and by hand, the learning-curve extrapolation, the noise
ceiling and a long table on synthetic tables with known answers, the proxy cache, and the CLI."""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_rejected, run_cli

from genet_lab.bench import estimators as est
from genet_lab.bench.table import load_table, shipped
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import decode, structure_key

SHIPPED = "digits-334-e6"


def _raw(name: str = SHIPPED) -> dict:
    return json.loads(gzip.decompress(shipped()[name].read_bytes()))


def _write(path: Path, data: dict) -> Path:
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    return path


def _synthetic(path: Path, name: str, n: int, curves, epochs: int | None = None) -> Path:
    """The first ``n`` structures of the shipped table with runs ``curves(i, entry) -> [val_curve per
    seed]`` (final accuracy = the curve's last point)."""
    data = _raw()
    data["name"] = name
    data["structures"] = data["structures"][:n]
    seeds = 1
    for i, s in enumerate(data["structures"]):
        runs = curves(i, s)
        seeds = len(runs)
        s["runs"] = [{"seed": k, "val": c[-1], "test": None, "seconds": 1.0, "device": "cpu", "failed": False,
                      "val_curve": list(c), "loss_curve": [1.0] * len(c)} for k, c in enumerate(runs)]  # fmt: skip
    data["settings"]["seeds"] = list(range(seeds))
    if epochs:
        data["settings"]["epochs"] = epochs
    data["counts"] = {"structures": n, "structures_present": n, "trainings": n * seeds, "trainings_done": n * seeds}
    return _write(path, data)


def _depth(s: dict) -> int:
    return sum(g.depth for g in decode(Genome.from_bits(s["bits"], (3, 3, 4))))


# -- rank correlations -----------------------------------------------------------------------------


def test_rank_correlations_by_hand():
    assert est.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    assert est.spearman_rho([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)  # 1 - 6*2/(3*8)
    assert est.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # tau-b with a tie: 5 concordant, 0 discordant, 6 pairs in x, 5 untied in y
    assert est.kendall_tau([1, 2, 3, 4], [1, 1, 2, 3]) == pytest.approx(5 / math.sqrt(6 * 5))
    assert math.isnan(est.kendall_tau([1, 1, 1], [1, 2, 3])) and math.isnan(est.spearman_rho([2, 2], [1, 2]))
    # undefined values rank last, tied
    assert est.kendall_tau([float("nan"), 1.0, 2.0], [0, 1, 2]) == pytest.approx(1.0)
    assert est.kendall_tau([-math.inf, 5.0, 7.0], [0, 1, 2]) == pytest.approx(1.0)


def test_rank_correlations_equal_scipys():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.integers(0, 8, 60).astype(float)  # many ties
        y = x + rng.normal(0, 3, 60).round()
        assert est.kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
        assert est.spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_extrapolation_recovers_a_power_law_and_stays_below_100():
    curve = [100 - 40 * t**-0.7 for t in range(1, 7)]
    for k in (2, 3, 5):
        assert est.extrapolate(curve, k, 18) == pytest.approx(100 - 40 * 18**-0.7)
    assert est.extrapolate([90.0, 100.0, 100.0], 3, 6) < 100.0
    with pytest.raises(ValueError):
        est.extrapolate(curve, 1, 6)


# -- synthetic tables with known answers -----------------------------------------------------------


def test_noise_ceiling_and_leave_one_out_on_a_synthetic_table(tmp_path):
    # final accuracies: seed 0 rises with the index, seed 1 falls, seed 2 rises
    def curves(i, s):
        return [[50.0, 60.0 + i], [50.0, 90.0 - 2 * i], [50.0, 60.0 + 3 * i]]

    table = load_table(_synthetic(tmp_path / "syn.json.gz", "syn", 12, curves, epochs=2))
    ceiling = est.noise_ceiling(table)
    assert [p["tau"] for p in ceiling["pairs"]] == pytest.approx([-1.0, 1.0, -1.0])  # (0,1), (0,2), (1,2)
    assert ceiling["tau"]["mean"] == pytest.approx(-1 / 3) and ceiling["tau"]["max"] == pytest.approx(1.0)
    out = est.measure(table, ["final", "epoch1"])
    # each seed against the mean of the other two: seed 0 against 75 + i/2 (+1), seed 1 against
    # 60 + 2i (-1), seed 2 against 75 - i/2 (-1)
    assert out["estimators"][0]["tau"] == pytest.approx(-1 / 3) and out["estimators"][0]["seeds"] == 3
    assert out["estimators"][1]["tau"] is None  # a constant epoch-1 accuracy ranks nothing
    json.dumps(out, allow_nan=False)  # strict JSON


def test_a_partial_table_is_measured_on_the_seeds_every_structure_has(tmp_path):
    path = _synthetic(tmp_path / "p.json.gz", "p", 10, lambda i, s: [[50.0, 60.0 + i], [50.0, 70.0 - i], [50.0, 80.0]])
    data = json.loads(gzip.decompress(path.read_bytes()))
    data["structures"][3]["runs"] = data["structures"][3]["runs"][1:]  # structure 3 lacks seed 0
    table = load_table(_write(path, data))
    assert [p["seeds"] for p in est.noise_ceiling(table)["pairs"]] == [[1, 2]]
    row = est.measure(table, ["final"])["estimators"][0]
    assert row["seeds"] == 2
    values, _ = est.estimator_values(table, ["final"])
    assert [v[3] for v in values["final"]] == [70.0 - 3, 80.0]


def test_size_estimators_against_a_long_table_with_a_known_answer(tmp_path):
    n = 40
    short = load_table(_synthetic(tmp_path / "s.json.gz", "short", n, lambda i, s: [[90.0 + i % 7]] * 2, epochs=1))
    # the long table's mean rises with depth: depth ranks it perfectly (tau-b 1 with ties)
    long = load_table(
        _synthetic(tmp_path / "l.json.gz", "long18", n, lambda i, s: [[80.0] * 17 + [90.0 + _depth(s)]], epochs=18)
    )
    one = est.measure(long, ["epoch9", "final"])["estimators"]
    assert [r["tau"] for r in one] == [None, None] and "one seed" in one[1]["note"]  # no independent target
    out = est.measure(short, ["depth", "params", "final"], long)
    depth = out["estimators"][0]
    assert depth["tau_long"] == pytest.approx(1.0) and depth["rho_long"] == pytest.approx(1.0)
    assert out["long"]["noise_ceiling"] is None and out["long"]["structures"] == n
    assert out["long"]["short_mean"]["tau"] == pytest.approx(
        est.kendall_tau([e.mean for e in short.entries], [e.mean for e in long.entries])
    )
    params = out["estimators"][1]
    vals = [e.params for e in short.entries]
    assert params["tau"] == pytest.approx(est.kendall_tau(vals, [e.mean for e in short.entries]))


def _two_seeds(tmp_path: Path, n: int, seed: int) -> tuple[list[list[float]], object, dict]:
    """A short table of ``n`` structures whose seeds 0 and 1 end at random accuracies (``noise[k][i]``),
    and its JSON object, for a long table made from it."""
    rng = random.Random(seed)
    noise = [[rng.uniform(80, 99) for _ in range(n)] for _ in range(2)]
    short = load_table(
        _synthetic(tmp_path / "s.json.gz", "s", n, lambda i, s: [[50.0, noise[0][i]], [50.0, noise[1][i]]], epochs=2)
    )
    return noise, short, json.loads(gzip.decompress((tmp_path / "s.json.gz").read_bytes()))


def test_against_a_long_table_a_trained_estimator_leaves_out_the_seeds_it_shares(tmp_path):
    noise, short, data = _two_seeds(tmp_path, 30, 1)
    data["name"], data["settings"]["seeds"] = "l", [1]  # the long table trained seed 1 only
    for i, s in enumerate(data["structures"]):
        s["runs"] = [dict(s["runs"][1], seed=1, val=noise[1][i] + 1)]
    long = load_table(_write(tmp_path / "l.json.gz", data))
    row = est.measure(short, ["final"], long)["estimators"][0]
    long_mean = [e.mean for e in long.entries]
    assert row["tau_long"] == pytest.approx(est.kendall_tau(noise[0], long_mean))  # seed 0 only
    assert row["tau_long"] < 0.9  # seed 1 would rank the long table perfectly


def test_where_the_long_table_trained_every_seed_each_is_scored_against_the_others(tmp_path):
    """cifar16-333-e4 against -e12: both trained seeds 0 and 1, so seed s of the short table is
    scored against the long table's seed 1 - s, never against its own seed's long training."""
    n = 30
    noise, short, data = _two_seeds(tmp_path, n, 2)
    data["name"] = "l"  # seeds 0 and 1, each its short run plus 1 (a shared seed's noise, exaggerated)
    for s in data["structures"]:
        s["runs"] = [dict(r, val=r["val"] + 1) for r in s["runs"]]
    long = load_table(_write(tmp_path / "l.json.gz", data))
    row = est.measure(short, ["final"], long)["estimators"][0]
    crossed = (est.kendall_tau(noise[0], noise[1]) + est.kendall_tau(noise[1], noise[0])) / 2
    assert row["tau_long"] == pytest.approx(crossed) and row["tau_long"] < 0.9  # its own seed: tau 1
    assert "shared" not in row.get("note", "")
    one = load_table(_synthetic(tmp_path / "o.json.gz", "o", n, lambda i, s: [[50.0, noise[0][i]]], epochs=2))
    data["settings"]["seeds"] = [0]  # a one-seed long table of the same seed: nothing else to score against
    for s in data["structures"]:
        s["runs"] = s["runs"][:1]
    row = est.measure(one, ["final"], load_table(_write(tmp_path / "l1.json.gz", data)))["estimators"][0]
    assert row["tau_long"] == pytest.approx(1.0) and "every seed is shared with the long table" in row["note"]


def test_a_long_table_of_another_space_is_refused(tmp_path):
    short = load_table(shipped()[SHIPPED])
    data = _raw()
    data["name"] = "other"
    data["settings"]["stages"] = [2, 3]
    genome = Genome.from_bits("1011", (2, 3))
    s = dict(data["structures"][0], bits="1011", key=structure_key(genome))
    data["structures"] = [s]
    other = load_table(_write(tmp_path / "other.json.gz", data))
    with pytest.raises(est.ConfigError, match="stages 2,3"):
        est.measure(short, ["params"], other)


def test_estimator_names_follow_the_epochs_and_unknown_ones_are_refused():
    table = load_table(SHIPPED)
    names = est.estimator_names(table)
    assert names[:3] == ["params", "macs", "depth"] and "epoch5" in names and "epoch6" not in names
    assert "extrap5" in names and "extrap1" not in names and names[-1] == "final"
    with pytest.raises(est.ConfigError, match="accepted: params"):
        est.parse_estimators(table, ["epoch6"])


def test_estimator_values_are_per_structure_and_per_seed_for_trained_ones():
    table = load_table(SHIPPED)
    found, seconds = est.estimator_values(table, ["macs", "epoch2", "extrap3"])
    assert seconds == {} and [len(found[n]) for n in found] == [1, 4, 4]
    assert found["macs"][0].tolist() == [e.macs for e in table.entries]
    assert found["epoch2"][3].tolist() == [e.runs[3].val_curve[1] for e in table.entries]
    e = table.entries[7]
    assert found["extrap3"][1][7] == pytest.approx(est.extrapolate(e.runs[1].val_curve, 3, 6))


# -- proxies: the cache, and the CLI ---------------------------------------------------------------


def test_proxies_are_cached_per_table_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))
    rng = random.Random(0)
    table = load_table(_synthetic(tmp_path / "p.json.gz", "p", 5, lambda i, s: [[rng.uniform(90, 99)] * 6] * 2))
    seen = []
    values, seconds = est.proxy_values(table, ["grad_norm", "naswot"], batch=16, progress=lambda i, n: seen.append(i))
    assert seen == [1, 2, 3, 4, 5] and seconds["grad_norm"] > 0 and all(np.isfinite(values["naswot"]))

    import genet_lab.training.proxies as proxies

    monkeypatch.setattr(proxies, "score", lambda *a, **k: pytest.fail("a cached proxy was computed again"))
    again, seconds = est.proxy_values(table, ["grad_norm", "naswot"], batch=16)
    assert seconds == {"grad_norm": 0.0, "naswot": 0.0}
    assert all(np.array_equal(values[p], again[p]) for p in values)
    assert est.cache_path(table, "naswot", 16, 0) != est.cache_path(table, "naswot", 32, 0)


def test_cli_on_the_shipped_table(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))
    rc, out, err = run_cli(["bench", "estimators", "--table", SHIPPED, "--estimators", "params,depth", "epoch3",
                            "--json"])  # fmt: skip
    assert rc == 0, err
    data = json.loads(out)
    table = load_table(SHIPPED)
    means = [e.mean for e in table.entries]
    rows = {r["name"]: r for r in data["estimators"]}
    assert list(rows) == ["params", "depth", "epoch3"]
    assert rows["params"]["tau"] == pytest.approx(est.kendall_tau([e.params for e in table.entries], means))
    assert rows["epoch3"]["seeds"] == 4 and len(data["noise_ceiling"]["pairs"]) == 6
    finals = [[e.runs[s].val for e in table.entries] for s in (0, 1)]
    assert data["noise_ceiling"]["pairs"][0]["tau"] == pytest.approx(est.kendall_tau(*finals))
    rc, out, _ = run_cli(["bench", "estimators", "--table", SHIPPED, "--estimators", "depth"])
    assert rc == 0 and "depth" in out and "noise ceiling" in out and "6 pairs" in out


def test_cli_computes_proxies_with_progress_then_reads_them_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))
    path = _synthetic(tmp_path / "few.json.gz", "few", 4, lambda i, s: [[90.0 + i] * 6, [91.0 - i] * 6])
    argv = ["bench", "estimators", "--table", str(path), "--estimators", "synflow", "--proxy-batch", "8"]
    rc, out, err = run_cli(argv)
    assert rc == 0 and "proxies: 4/4 structures" in err and re.search(r"synflow +proxy .* \d+\.\d s", out)
    rc, out, err = run_cli(argv)
    assert rc == 0 and "cached" in out and "proxies:" not in err


def test_proxies_of_a_table_whose_folder_is_elsewhere_ask_for_the_users_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))  # nothing cached: the proxies need the data
    argv = ["bench", "estimators", "--table", "cifar16-333-e4", "--estimators", "synflow"]
    assert_rejected([*argv, "--data-dir", str(tmp_path / "none")], "is not on this machine", "folder of your copy")
    rc, out, err = run_cli([*argv[:-1], "depth", "--data-dir", str(tmp_path / "none")])  # no proxy: no data
    assert rc == 0 and "depth" in out, err


def test_cli_bad_input_is_one_line(tmp_path):
    assert_rejected(["bench", "estimators", "--table", SHIPPED, "--estimators", "bogus"], "bogus", "synflow")
    assert_rejected(["bench", "estimators", "--table", "no-such-table"], "no-such-table")
    data = _raw()
    data["settings"]["stages"] = [3, 3, 3]
    data["structures"] = []
    foreign = _write(tmp_path / "other.json.gz", data)
    assert_rejected(["bench", "estimators", "--table", SHIPPED, "--long", str(foreign), "--estimators", "params"],
                    "--long", "stages 3,3,3")  # fmt: skip
