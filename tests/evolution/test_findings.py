"""The paper's findings measured on a table (genet_lab.evolution.findings, benchmarks/paper_findings.py).

A synthetic table of stages (3,3) (36 structures) with a planted optimum: structure PLANTED has mean
99, every other one 80 + (7 i mod 13) < 93, and each structure's two seeds lie 1 point either side
of its mean (0 with ``noise=0``). The per-generation means are checked against the table read
another way (``Table.entry`` through the structure key, not the driver's lookup), the findings'
statistics against hand-made repeats whose answers follow from their construction, and the script
runs end to end at a few repeats.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import benchmark_script, table_run, write_table

from genet_lab.bench.compare import Outcome
from genet_lab.bench.structures import iter_structures
from genet_lab.bench.table import load_table
from genet_lab.encoding.genome import Genome
from genet_lab.errors import UsageError
from genet_lab.evolution.findings import (
    Arm,
    Repeat,
    arms_of,
    run_arm,
    split_half,
    summarize_findings,
    table_context,
    verdict,
)
from genet_lab.evolution.inmemory import Lookup, run_in_memory
from genet_lab.evolution.repeats import repeat_seed

STAGES = (3, 3)
PLANTED = 17


def _base(i: int) -> float:
    return 99.0 if i == PLANTED else 80.0 + (i * 7 % 13)


def _write_table(path: Path, noise: float = 1.0) -> None:
    def runs(s):
        vals = [_base(s.index) - noise, _base(s.index) + noise]
        return [table_run(k, v, test=v, val_curve=[50.0, v], loss_curve=[1.0, 0.1]) for k, v in enumerate(vals)]

    write_table(path, STAGES, runs, epochs=2, size_of=lambda s: (1000 + s.index, 5))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    noisy, clean = folder / "planted-33.json.gz", folder / "planted-33-clean.json.gz"
    _write_table(noisy)
    _write_table(clean, noise=0.0)
    return str(noisy), str(clean)


def _genome(bits: str) -> Genome:
    return Genome.from_bits(bits, STAGES)


def test_each_generations_mean_is_its_individuals_table_means(tables):
    ref = tables[0]
    table, arm = load_table(ref), Arm("ga", "s", 6, 5)
    lookup = Lookup(table)
    reps = run_arm(arm, ref, lookup, 3, seed=7)
    for r, rep in enumerate(reps):
        trace = run_in_memory(arm.config(ref, repeat_seed(7, r)), lookup, record=True)
        for gen in range(arm.generations + 1):
            truth = [table.mean(_genome(bits)) for g, _i, bits, *_ in trace.log if g == gen]
            seen = [f for g, _i, f in trace.fitness if g == gen]
            assert len(truth) == len(seen) == arm.population
            assert rep.true[gen] == pytest.approx(sum(truth) / len(truth), abs=1e-12)
            assert rep.observed[gen] == pytest.approx(sum(seen) / len(seen), abs=1e-12)
        assert rep.outcome == trace.outcome
        assert rep.best.tolist() == [v for _, v in trace.outcome.curve]
        assert rep.best[-1] == table.mean(_genome(rep.outcome.bits))


def test_ga_and_random_share_generation_0_and_the_zero_start_is_the_all_zero_net(tables):
    ref = tables[0]
    table = load_table(ref)
    lookup = Lookup(table)
    arms = {a.search: a for a in arms_of({"s": (5, 3)})}
    assert set(arms) == {"ga", "random", "ga-zeros"}
    ga, rs, zero = (run_arm(arms[k], ref, lookup, 4, seed=1) for k in ("ga", "random", "ga-zeros"))
    zero_mean = table.mean("000000")
    for a, b, z in zip(ga, rs, zero):
        assert a.true[0] == b.true[0]
        assert z.true[0] == pytest.approx(zero_mean)
    assert len({tuple(a.true) for a in ga}) > 1, "repeats have their own seeds"


def test_without_noise_the_observed_mean_is_the_true_mean(tables):
    ref = tables[1]
    lookup = Lookup(load_table(ref))
    for rep in run_arm(Arm("ga", "s", 6, 6), ref, lookup, 3):
        np.testing.assert_allclose(rep.observed, rep.true, atol=1e-9)
        assert rep.outcome.observed == pytest.approx(rep.best[-1])


def test_split_half_by_hand():
    # 3 structures x 2 seeds. Split A={seed 0}: structure 1 looks best (95), judged on seed 1 it has
    # 80 against a median of 86: -6, having looked 95 - 90 = 5 above. A={seed 1}: structure 0 (92),
    # judged on seed 0: 90 against a median of 90: 0, having looked 92 - 86 = 6 above.
    got = split_half([[90.0, 92.0], [95.0, 80.0], [85.0, 86.0]])
    assert got is not None
    assert got["splits"] == 2 and got["half"] == 1
    assert got["gaps"] == [-6.0, 0.0]
    assert got["gap"] == -3.0 and got["gap_as_selected"] == 5.5
    assert split_half([[90.0], [95.0]]) is None
    assert split_half([[90.0, 91.0], [95.0]]) is None


def test_the_table_context_names_the_planted_optimum(tables):
    table = load_table(tables[0])
    ctx = table_context(table)
    planted = next(s for s in iter_structures(STAGES) if s.index == PLANTED)
    assert ctx["best_mean"] == 99.0 and ctx["best"] == planted.genome.notation()
    means = sorted(_base(i) for i in range(len(table.entries)))
    assert ctx["median_mean"] == pytest.approx(float(np.median(means)))
    assert ctx["best_minus_median"] == pytest.approx(99.0 - float(np.median(means)))
    assert ctx["all_zero"]["mean"] == table.mean("000000")
    assert ctx["all_zero"]["rank"] == table.rank("000000")
    # seeds 1 point either side: every structure looks best or is judged 1 point off its mean;
    # the planted one is best on either seed alone (98 or 100 against < 94)
    median = float(np.median(means))
    assert ctx["split_half"]["gaps"] == pytest.approx([100.0 - (median + 1), 98.0 - (median - 1)])
    assert ctx["spread"]["noise_sd"] == pytest.approx(math.sqrt(2.0))


def _rep(entry: int, observed: float, true: list[float], means: np.ndarray, n: int = 5) -> Repeat:
    gens = len(true)
    curve = [(n * (g + 1), float(means[entry])) for g in range(gens)]
    return Repeat(Outcome(entry, observed, n * gens, "", curve), np.array(true), np.array(true) + 0.5,
                  np.full(gens, means[entry]))  # fmt: skip


def test_the_findings_of_hand_made_repeats(tables):
    table = load_table(tables[0])
    means = np.array([e.mean for e in table.entries])
    top, second = int(np.argmax(means)), int(np.argsort(means)[-2])
    low = int(np.argmin(means))
    # GA: returns the optimum twice, the second best once; random: the second best, the optimum, the worst
    ga = [_rep(top, 100.0, [90, 92, 95], means), _rep(top, 99.5, [91, 91, 93], means),
          _rep(second, 94.0, [89, 90, 90], means)]  # fmt: skip
    rs = [_rep(second, 95.0, [90, 90, 90], means), _rep(top, 99.0, [91, 90, 91], means),
          _rep(low, 85.0, [89, 88, 90], means)]  # fmt: skip
    zero = [_rep(second, 94.0, [85, 89, 95], means), _rep(second, 94.0, [85, 90, 93], means),
            _rep(second, 94.0, [85, 88, 90], means)]  # fmt: skip
    out = summarize_findings(table, {"ga@s": ga, "random@s": rs, "ga-zeros@s": zero}, ["s"])
    s = out["settings"]["s"]
    assert (s["generations"], s["repeats"], s["population"], s["evaluations"]) == (2, 3, 5, 15)

    rise = s["rise"]
    d = np.array([5.0, 2.0, 1.0])  # gen 2 minus gen 0 of each GA repeat
    half = 1.959963984540054 * d.std(ddof=1) / math.sqrt(3)
    assert rise["difference"]["mean"] == pytest.approx(d.mean())
    assert rise["difference"]["low"] == pytest.approx(d.mean() - half)
    assert rise["share_rising"]["k"] == 3
    assert rise["observed_difference"]["mean"] == pytest.approx(d.mean())  # observed = true + 0.5
    assert rise["versus_random_at_T"]["mean"] == pytest.approx(np.mean([95 - 90, 93 - 91, 90 - 90]))
    assert rise["curves"]["ga"]["mean"] == pytest.approx([90.0, 91.0, 278 / 3])
    assert rise["verdict"] == verdict(rise["difference"], "yes: the mean rises", "no: it falls")

    g = s["ga_vs_random"]
    diff = np.array([means[top] - means[second], 0.0, means[second] - means[low]])
    assert g["difference"]["mean"] == pytest.approx(diff.mean())
    assert (g["p_ga_better"]["k"], g["p_equal"]["k"], g["p_random_better"]["k"]) == (2, 1, 0)
    assert g["regret_ga"]["mean"] == pytest.approx((0 + 0 + 99.0 - means[second]) / 3)
    assert g["regret_random"]["mean"] == pytest.approx((99.0 - means[second] + 0 + 99.0 - means[low]) / 3)
    assert g["top1_ga"]["k"] == 2 and g["top1_random"]["k"] == 1  # top 1% of 36 structures: the optimum
    assert g["observed_difference"]["mean"] == pytest.approx(np.mean([5.0, 0.5, 9.0]))
    assert g["curse_ga"]["mean"] == pytest.approx(np.mean([1.0, 0.5, 94.0 - means[second]]))
    assert g["best_so_far"]["ga"]["mean"][-1] == pytest.approx(np.mean(means[[top, top, second]]))

    z = s["zero_start"]
    assert z["gap_gen0"]["mean"] == pytest.approx(np.mean([85 - 90, 85 - 91, 85 - 89]))
    assert z["gap_genT"]["mean"] == pytest.approx(np.mean([0, 0, 0]))
    assert z["returned_gap"]["mean"] == pytest.approx(np.mean(means[second] - means[[top, top, second]]))
    # the zero start's mean curve: 85, 89, 92.67 against the random start's gen 0 mean of 90
    assert z["reaches_random_gen0_at"] == 2
    # gaps: gen 0 (-5, -6, -4) and gen 1 (-3, -1, -2) resolved below 0, gen 2 (0, 0, 0) not
    assert z["indistinguishable_from"] == 2
    assert z["verdict"] == "yes: it catches up"


def test_the_gap_is_unresolved_only_from_where_every_later_interval_holds_0():
    from genet_lab.evolution.findings import _indistinguishable_from

    # gen 0 resolved (all -5), gen 1 not (-2, +2), gen 2 resolved again (+1, +1), gen 3 not
    gaps = np.array([[-5.0, -2.0, 1.0, -1.0], [-5.0, 2.0, 1.0, 1.0]])  # rows: repeats; columns: generations
    assert _indistinguishable_from(gaps) == 3
    assert _indistinguishable_from(np.array([[-5.0, -1.0], [-5.0, 1.0]])) == 1
    assert _indistinguishable_from(np.array([[1.0, 1.0], [1.0, 1.0]])) is None


def test_verdicts_follow_the_interval_only():
    assert verdict({"mean": 1.0, "low": 0.1, "high": 2.0}) == "yes"
    assert verdict({"mean": -1.0, "low": -2.0, "high": -0.1}) == "reversed"
    assert verdict({"mean": 0.5, "low": -0.1, "high": 1.0}) == "no difference resolved"
    assert verdict({"mean": 0.5, "low": None, "high": None}) == "too few repeats"


def test_bad_settings_are_refused():
    with pytest.raises(UsageError, match="N and T must be at least 1"):
        arms_of({"s": (0, 3)})


def _script():
    return benchmark_script("paper_findings")


def test_the_script_at_a_few_repeats(tables, tmp_path, capsys):
    script = _script()
    out = tmp_path / "f.json"
    rc = script.main(["--table", tables[0], "--repeats", "4", "--settings", "small=4,3;big=6,5", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    data = json.loads(out.read_text())
    assert set(data["settings"]) == {"small", "big"}
    assert data["settings"]["big"]["evaluations"] == 36 and data["settings"]["small"]["repeats"] == 4
    assert data["table"]["best_mean"] == 99.0
    assert data["versus_first_setting"]["big"]["ga"]["against"] == "small"
    assert len(data["settings"]["big"]["rise"]["curves"]["ga"]["mean"]) == 6
    assert "### Setting `small`: N=4, T=3" in printed and "(d) setting `big` against `small`" in printed
    # the same seed gives the same figures
    again = tmp_path / "g.json"
    script.main(["--table", tables[0], "--repeats", "4", "--settings", "small=4,3;big=6,5", "--out", str(again)])
    a, b = json.loads(out.read_text()), json.loads(again.read_text())
    a.pop("method"), b.pop("method")
    assert a == b


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--table", "no-such-table"], "unknown table"),
        (["--settings", "laptop=10"], "is not NAME=N,T"),
        (["--repeats", "1"], "at least 2"),
        (["--settings", "x=0,5"], "at least 1"),
    ],
)
def test_the_script_refuses_bad_input_in_one_line(argv, needle, tables, tmp_path, capsys):
    table = [] if argv[0] == "--table" else ["--table", tables[0]]
    rc = _script().main([*table, *argv, "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and needle in err[0]
    assert not (tmp_path / "x.json").exists()
