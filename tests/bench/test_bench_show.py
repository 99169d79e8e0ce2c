"""``genet-lab bench show``: an entry of the shipped table (any member of a structure's class), its rank,
and train commands that resolve to exactly the training config and data split of the build. The
commands are run in tests/cli/test_reproduce.py; here they are only parsed (``--dry-run``)."""

from __future__ import annotations

import itertools
import json
import shlex

import pytest
from helpers import assert_rejected, run_cli

from genet_lab.bench.table import load_table
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import structure_key

TABLE = "digits-334-e6"


@pytest.fixture(scope="module")
def table():
    return load_table(TABLE)


def _show(*argv: str) -> dict:
    rc, out, err = run_cli(["bench", "show", *argv, "--table", TABLE, "--json"])
    assert rc == 0, err
    return json.loads(out)


def _other_member(table, entry) -> Genome:
    """A genome of ``entry``'s structure other than its canonical one."""
    for bits in itertools.product((0, 1), repeat=len(entry.genome.bits)):
        g = Genome(table.stages, bits)
        if bits != tuple(entry.genome.bits) and structure_key(g) == entry.key:
            return g
    raise AssertionError(f"{entry.genome.notation()} has no other member")


def test_any_member_of_a_class_shows_the_canonical_entry(table):
    entry = next(e for e in table.entries if e.class_size > 2)
    member = _other_member(table, entry)
    for asked in (member.notation(), "".join(map(str, member.bits))):
        r = _show(asked)
        assert (r["genome"], r["key"], r["class_size"]) == (entry.genome.notation(), entry.key, entry.class_size)
        assert (r["params"], r["macs"]) == (entry.params, entry.macs)
        assert [x["val"] for x in r["runs"]] == [run.val for run in entry.runs]
        assert [x["val_curve"] for x in r["runs"]] == [list(run.val_curve) for run in entry.runs]


def test_rank_and_percentile_count_the_other_structures(table):
    means = [e.mean for e in table.entries]
    for entry in (table.best(), table.entries[len(table.entries) // 3]):
        r = _show(entry.genome.notation())
        assert r["rank"] == 1 + sum(m > entry.mean for m in means)
        assert r["percentile"] == pytest.approx(100 * sum(m < entry.mean for m in means) / len(means))
        assert r["structures"] == len(table) and r["mean"] == pytest.approx(entry.mean)


def test_the_text_names_the_entry_its_seeds_and_one_command(table):
    rc, out, _ = run_cli(["bench", "show", "chain", "--seed", "2"])  # one shipped table: the default
    entry = table.entry(Genome.from_bits(_show("chain")["bits"], table.stages))
    assert rc == 0 and f"structure   {entry.genome.notation()}  (asked: chain)" in out
    assert f"rank        {table.rank(entry.genome)} of {len(table)}" in out
    for run in entry.runs:
        assert f"\n{run.seed:<5} {run.val:.2f}" in out
    commands = [line.strip() for line in out.splitlines() if line.strip().startswith("genet-lab train")]
    assert len(commands) == 1 and "--seed 2 " in commands[0] + " " and f"(recorded val {entry.runs[2].val:.2f}%" in out


def _dry_run(argv: list[str]) -> dict:
    assert argv[:2] == ["genet-lab", "train"]
    rc, out, err = run_cli([*argv[1:], "--dry-run"])
    assert rc == 0, err
    return json.loads(out)


def test_every_command_resolves_to_the_builds_training_and_split(table):
    """A sample of entries, every seed: the train command resolves the config the build trained with
    (BenchSettings.train_config on the recorded device) and the table's split."""
    s = table.settings
    for entry in table.entries[:: len(table.entries) // 6]:
        r = _show("".join(map(str, entry.genome.bits)))
        for x in r["runs"]:
            assert shlex.split(x["command"]) == x["argv"]
            plan = _dry_run(x["argv"])
            assert plan["train"] == s.train_config(x["seed"], device="cpu").to_dict()
            assert (plan["split_seed"], plan["dataset"], plan["preset"]) == (s.table_seed, s.dataset, s.preset)
            assert (plan["train_size"], plan["val_size"], plan["genome"]) == (s.train_size, s.val_size, r["genome"])


def test_a_genome_of_another_space_is_one_line_naming_the_tables():
    for genome in ("paper-best", "1-01 0-01-100 0-11-101-0001", "101", "1-0x"):
        assert_rejected(["bench", "show", genome, "--table", TABLE], "stages 3,3,4")
    assert_rejected(["bench", "show", "chain", "--seed", "9"], "seeds 0, 1, 2, 3", "--seed 9")
    assert_rejected(["bench", "show", "chain", "--table", "nope"], "unknown table 'nope'")
