"""A pilot build (``--sample N``) and the spread of structures against seed noise."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from helpers import run_cli

from genet_lab.bench.build import build, projected_cost
from genet_lab.bench.settings import BenchSettings
from genet_lab.bench.store import BenchStore
from genet_lab.bench.structures import count_structures, sample_ids
from genet_lab.bench.table import export_build, load_table, spread
from genet_lab.errors import ConfigError, UsageError


def test_sample_ids_are_distinct_sorted_seeded_and_all_when_not_smaller():
    a = sample_ids((3, 3, 4), 50, seed=0)
    assert len(a) == len(set(a)) == 50 and a == sorted(a) and 0 <= a[0] and a[-1] < 1116
    assert sample_ids((3, 3, 4), 50, seed=0) == a != sample_ids((3, 3, 4), 50, seed=1)
    assert sample_ids((2, 3), None, 0) == sample_ids((2, 3), 99, 0) == list(range(count_structures((2, 3))))


def test_a_sample_build_trains_only_its_sample_and_says_so(tmp_path):
    settings = BenchSettings((2, 3), epochs=1, train_size=200, seeds=(0, 1), sample=5).resolved()
    assert "a sample of 5 structures" in settings.describe()
    assert projected_cost(settings, 1, measured=2.0)["trainings"] == 10
    counts = build(tmp_path / "b", settings, workers=1)
    assert counts == {"pending": 0, "running": 0, "done": 10}
    with BenchStore(tmp_path / "b", readonly=True) as store:
        trained = sorted({r["structure"] for r in store.done()})
        assert len(store.structures()) == 12  # the space is recorded whole
    assert trained == sample_ids((2, 3), 5, settings.table_seed)
    export_build(tmp_path / "b", tmp_path / "pilot.json.gz")
    table = load_table(tmp_path / "pilot.json.gz")
    assert len(table) == 5 and table.settings.sample == 5 and table.counts["structures"] == 12


def test_sample_below_one_is_refused():
    with pytest.raises(ConfigError, match="sample"):
        BenchSettings((2, 3), sample=0).resolved()


def test_spread_against_hand_computed_values():
    runs = [[90.0, 92.0], [95.0, 97.0], [80.0, 84.0]]
    s = spread(runs)
    means = [91.0, 96.0, 82.0]
    assert s.mean == pytest.approx(sum(means) / 3)
    assert s.sd_of_means == pytest.approx(statistics.stdev(means))
    within = (2 + 2 + 8) / 3  # each structure's squared deviations over one degree of freedom
    assert s.noise_sd == pytest.approx(math.sqrt(within))
    assert s.between_sd == pytest.approx(math.sqrt(statistics.variance(means) - within / 2))
    assert s.ratio == pytest.approx(s.between_sd / s.noise_sd)


def test_spread_of_pure_noise_is_clipped_at_zero_and_one_seed_has_no_noise():
    assert spread([[1.0, 3.0], [3.0, 1.0]]).between_sd == 0.0  # equal means: nothing between them
    one = spread([[1.0], [2.0], [4.0]])
    assert one.noise_sd is None and one.ratio is None and one.sd_of_means == pytest.approx(statistics.stdev([1, 2, 4]))
    with pytest.raises(UsageError, match="at least 2 structures"):
        spread([[1.0]])


def test_the_shipped_digits_table_is_flat_as_docs_say():
    s = load_table("digits-334-e6").spread()
    assert s.structures == 1116 and s.seeds == 4
    assert s.ratio is not None and s.ratio < 1  # docs/bench.md: structures differ by less than the noise


def test_build_cli_samples_and_prints_the_spread(tmp_path, tiny_args):
    out = tmp_path / "pilot"
    rc, stdout, err = run_cli(["bench", "build", *tiny_args, "--sample", "3", "--out", str(out), "--json"])
    assert rc == 0, err
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["done"] == 6 and summary["spread"]["structures"] == 3
    rc, stdout, err = run_cli(["bench", "build", *tiny_args, "--sample", "4", "--out", str(out)])
    assert rc == 2 and "other settings" in err and "sample" in err
