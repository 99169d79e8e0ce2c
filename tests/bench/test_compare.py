"""``genet-lab bench compare`` (issue 21, item 6): the metrics against a known optimum, computed by hand,
the repeats' determinism, the command's output and its bad input.

The metrics are checked on made-up means whose regret, percentile, top-1% and intervals are worked
out in the comments; the searches run on a synthetic table of stages (3,3) written in the format of
:mod:`genet_lab.bench.table` (no network is trained)."""

from __future__ import annotations

import gzip
import json
import math
from types import SimpleNamespace

import pytest
from helpers import table_run, write_table

from genet_lab.bench.compare import (
    Z95,
    Outcome,
    Scores,
    difference,
    grid,
    mean_ci,
    strategy_summary,
    summarize,
    top_count,
    wilson,
)
from genet_lab.bench.table import load_table
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import UsageError
from genet_lab.evolution.repeats import STRATEGIES, run_repeats
from genet_lab.training import catalog
from tests.helpers import assert_rejected, run_cli

NET = get_preset(catalog.DEFAULT_PRESET).with_input(1, 8, 10)


def _write_table(path, complete=True) -> None:
    def runs(s):
        return [table_run(k, round(70.0 + (s.index * 11 % 17) + 3.0 * k, 4)) for k in range(2)]

    write_table(path, (3, 3), runs, complete=complete)


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "synthetic-33.json.gz"
    _write_table(path)
    return path


# -- the metrics, by hand -----------------------------------------------------------------------------

MEANS = [90.0, 80.0, 70.0, 70.0, 60.0]
"""Five structures: the best 90; 70 twice."""


def test_percentile_rank_and_top_one_percent_of_known_means():
    s = Scores(MEANS)
    assert s.best == 90.0
    # strictly lower: 4, 3, 1, 1, 0 of 5
    assert s.percentile.tolist() == [80.0, 60.0, 20.0, 20.0, 0.0]
    assert s.rank.tolist() == [1, 2, 3, 3, 5]  # ties share the best rank
    assert s.top.tolist() == [True, False, False, False, False]  # ceil(5 / 100) = 1 structure
    assert [top_count(n) for n in (1, 100, 101, 1116)] == [1, 1, 2, 12]


def test_ties_at_the_top_one_percent_cut_are_in():
    means = [float(k) for k in range(250)]  # top 1% = ceil(2.5) = 3: 249, 248, 247
    means[246] = 247.0  # ties with the third best
    assert Scores(means).top.sum() == 4


def test_regret_percentile_top1_and_winners_curse_of_known_outcomes():
    outcomes = [
        Outcome(0, 91.0, 100, ""),
        Outcome(0, 92.0, 100, ""),
        Outcome(2, 75.0, 100, ""),
        Outcome(4, 60.0, 90, ""),
    ]
    got = strategy_summary(Scores(MEANS), outcomes, [50, 100])
    # true means 90, 90, 70, 60; regret 0, 0, 20, 30 (sd 15); percentiles 80, 80, 20, 0
    assert got["true"]["mean"] == 77.5
    assert got["regret"]["mean"] == 12.5 and got["regret"]["sd"] == pytest.approx(15.0)
    assert got["regret"]["high"] - got["regret"]["mean"] == pytest.approx(Z95 * 15.0 / 2)
    assert got["percentile"]["mean"] == 45.0
    assert (got["top1"]["k"], got["top1"]["p"]) == (2, 0.5)
    assert got["curse"]["mean"] == 2.0  # observed - true: 1, 2, 5, 0
    assert got["evaluations"]["mean"] == 97.5


def test_anytime_curves_read_the_best_so_far_at_each_point():
    o = Outcome(0, 91.0, 20, "", [(10, 70.0), (20, 90.0)])
    assert grid(20, 4) == [5, 10, 15, 20]
    a = strategy_summary(Scores(MEANS), [o, o], grid(20, 4))["anytime"]
    assert a["true"] == [None, 70.0, 70.0, 90.0]  # nothing returned before the first generation ends
    assert a["n"] == [0, 2, 2, 2]


def test_the_regret_against_the_first_strategy():
    good, bad = (
        [Outcome(0, 90.0, 9, "")] * 3,
        [Outcome(0, 90.0, 9, ""), Outcome(1, 80.0, 9, ""), Outcome(4, 60.0, 9, "")],
    )
    best = SimpleNamespace(genome=SimpleNamespace(notation=lambda: "0-00"))
    table = SimpleNamespace(name="t", entries=[SimpleNamespace(mean=m) for m in MEANS], best=lambda: best)
    got = summarize(table, {"good": good, "bad": bad}, 9)["strategies"]
    assert got["good"]["versus"] == {"strategy": "good", "regret": None}
    d = got["bad"]["versus"]["regret"]  # regrets 0, 10, 30 against 0, 0, 0: +13.33, sd 15.28
    assert d["mean"] == pytest.approx(40 / 3)
    assert d["high"] - d["mean"] == pytest.approx(Z95 * math.sqrt((700 / 3) / 3))
    assert difference([1.0], [2.0]) == {"mean": -1.0, "low": None, "high": None}


def test_the_intervals():
    m = mean_ci([1.0, 2.0, 3.0])
    assert (m["mean"], m["sd"]) == (2.0, 1.0)
    assert m["low"] == pytest.approx(2.0 - Z95 / math.sqrt(3))
    assert mean_ci([4.0])["low"] is None
    w = wilson(0, 4)  # k = 0: [0, z^2 / (n + z^2)]
    assert w["low"] == 0.0 and w["high"] == pytest.approx(Z95**2 / (4 + Z95**2))
    a, b = wilson(3, 10), wilson(7, 10)
    assert a["low"] == pytest.approx(1 - b["high"]) and a["low"] < 0.3 < a["high"]


# -- the repeats on a table ---------------------------------------------------------------------------


def test_every_returned_structure_is_judged_by_its_table_mean(table_file):
    table, results, _ = run_repeats(str(table_file), list(STRATEGIES), 4, 30, seed=1)
    summary = summarize(table, results, 30)
    best = table.best().mean
    assert summary["best_mean"] == best
    for name, outcomes in results.items():
        assert len(outcomes) == 4
        true = [table.mean(o.bits) for o in outcomes]
        s = summary["strategies"][name]
        assert s["true"]["mean"] == pytest.approx(sum(true) / 4)
        assert s["regret"]["mean"] == pytest.approx(best - sum(true) / 4)
        assert s["percentile"]["mean"] == pytest.approx(sum(table.percentile(o.bits) for o in outcomes) / 4)
        assert s["top1"]["k"] == sum(table.rank(o.bits) <= top_count(len(table)) for o in outcomes)
        assert all(o.evaluations <= 30 for o in outcomes)
        assert name == "ga-reuse" or all(o.evaluations == 30 for o in outcomes)


def test_a_search_judged_by_another_fidelity_reads_its_means(table_file, tmp_path):
    """--truth: the searches run on one table (its recorded trainings are the fitness) and every
    structure they return, and every point of the anytime curves, is judged by the truth table's
    mean; the winner's curse stays within the table searched. Judged by itself: unchanged."""
    truth_file = tmp_path / "reversed-33.json.gz"  # the same space, the truth ranked backwards
    write_table(truth_file, (3, 3), lambda s: [table_run(0, round(100.0 - (s.index * 11 % 17), 4))], epochs=18)
    truth = load_table(str(truth_file))
    table, results, _ = run_repeats(str(table_file), ["ga", "local"], 4, 30, seed=3, truth=truth)
    plain_table, plain, _ = run_repeats(str(table_file), ["ga", "local"], 4, 30, seed=3)
    assert [(o.entry, o.observed) for o in results["ga"]] == [(o.entry, o.observed) for o in plain["ga"]]
    summary = summarize(table, results, 30, truth=truth)
    assert (summary["table"], summary["truth"], summary["best"]) == (table.name, truth.name,
                                                                      truth.best().genome.notation())  # fmt: skip
    assert summary["best_mean"] == truth.best().mean
    for name, outcomes in results.items():
        s = summary["strategies"][name]
        true = [truth.mean(o.bits) for o in outcomes]
        assert s["true"]["mean"] == pytest.approx(sum(true) / 4)
        assert s["regret"]["mean"] == pytest.approx(truth.best().mean - sum(true) / 4)
        assert s["top1"]["k"] == sum(truth.rank(o.bits) <= top_count(len(truth)) for o in outcomes)
        assert s["curse"]["mean"] == pytest.approx(sum(o.observed - table.mean(o.bits) for o in outcomes) / 4)
        for o in outcomes:  # each point of a curve: the truth's mean of some structure of the space
            assert {v for _, v in o.curve} <= {e.mean for e in truth.entries}
    same = summarize(plain_table, plain, 30, truth=plain_table)
    alone = summarize(plain_table, plain, 30)
    assert same["strategies"] == alone["strategies"] and same["truth"] == alone["truth"] == table.name


def test_a_truth_of_another_space_or_lacking_structures_is_refused(table_file, tmp_path):
    other = tmp_path / "other.json.gz"
    write_table(other, (3, 4), lambda s: [table_run(0, 90.0)])
    argv = ["bench", "compare", "--table", str(table_file), "--repeats", "1", "--budget", "10"]
    assert_rejected([*argv, "--truth", str(other)], "stages 3,4", "same space")
    data = load_table(str(table_file))
    lacking = tmp_path / "lacking.json.gz"
    write_table(lacking, (3, 3), lambda s: [table_run(0, 90.0)])
    raw = json.loads(gzip.decompress(lacking.read_bytes()))
    raw["structures"] = raw["structures"][:-2]
    lacking.write_bytes(gzip.compress(json.dumps(raw).encode()))
    assert_rejected([*argv, "--truth", str(lacking)], f"lacks 2 of table {data.name}'s", "every structure")
    assert_rejected([*argv, "--truth", "no-such-table"], "unknown table 'no-such-table'")
    rc, text, err = run_cli([*argv, "--truth", str(table_file), "--strategies", "ga"])
    assert rc == 0 and "judged by" not in text, err


def test_the_same_seed_gives_the_same_result(table_file):
    one = run_repeats(str(table_file), ["ga", "aging", "local"], 3, 25, seed=7)[1]
    two = run_repeats(str(table_file), ["ga", "aging", "local"], 3, 25, seed=7)[1]
    other = run_repeats(str(table_file), ["ga", "aging", "local"], 3, 25, seed=8)[1]
    assert one == two
    assert one != other


def test_a_partial_table_and_bad_sizes_are_refused(tmp_path):
    partial = tmp_path / "partial.json.gz"
    _write_table(partial, complete=False)
    with pytest.raises(UsageError, match="partial"):
        run_repeats(str(partial), ["ga"], 1, 10)
    with pytest.raises(UsageError, match="budget"):
        run_repeats(str(partial), ["ga"], 1, 0)
    with pytest.raises(UsageError, match="repeats"):
        run_repeats(str(partial), ["ga"], 0, 10)
    with pytest.raises(UsageError, match="unknown strategy 'hill'; accepted: ga, ga-reuse"):
        run_repeats(str(partial), ["ga", "hill"], 1, 10)


# -- the command --------------------------------------------------------------------------------------


def test_bench_compare_prints_json_and_writes_the_curves(table_file, tmp_path):
    out = tmp_path / "cmp"
    argv = ["bench", "compare", "--table", str(table_file), "--repeats", "3", "--budget", "20"]
    rc, text, err = run_cli([*argv, "--strategies", "ga,random", "--json", "--out", str(out)])
    assert rc == 0, err
    data = json.loads(text)
    assert list(data["strategies"]) == ["ga", "random"] and data["repeats"] == 3 and data["budget"] == 20
    assert json.loads((out / "compare.json").read_text())["strategies"] == data["strategies"]
    assert (out / "anytime.png").read_bytes()[:4] == b"\x89PNG"
    rc, text, err = run_cli([*argv, "--strategies", "local"])
    assert rc == 0, err
    assert "local" in text and "regret" in text and "Wilson" in text


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--strategies", "ga,hill"], ("unknown strategy 'hill'", "ga-reuse")),
        (["--budget", "0"], ("--budget", "positive integer")),
        (["--repeats", "0"], ("--repeats", "positive integer")),
        (["--budget", "x"], ("--budget",)),
    ],
)
def test_bench_compare_bad_input_is_one_line(extra, needles, table_file):
    assert_rejected(["bench", "compare", "--table", str(table_file), *extra], *needles)


def test_bench_compare_unknown_table_is_one_line():
    assert_rejected(["bench", "compare", "--table", "no-such-table", "--repeats", "1"], "unknown table 'no-such-table'")
    assert load_table("digits-334-e6").complete  # the default table of the docs can be compared
