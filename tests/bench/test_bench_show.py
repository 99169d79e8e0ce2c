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
    rc, out, _ = run_cli(["bench", "show", "chain", "--seed", "2"])  # the shipped table with the most seeds
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


def test_a_table_built_on_a_folder_elsewhere_takes_the_users_copy(tmp_path):
    """The CIFAR-10 table was built on a folder of this project's machine: where it is missing, the
    text says so and how to go on; --data-dir puts the user's copy in every command."""
    folder = load_table("cifar16-333-e12").settings.data_dir
    rc, out, _ = run_cli(
        ["bench", "show", "000000000", "--table", "cifar16-333-e12", "--data-dir", str(tmp_path / "x")]
    )
    assert rc == 0 and f"--data-dir {tmp_path / 'x'} " in out and f"--data-dir {folder} " not in out
    assert f"note: the data folder {tmp_path / 'x'} is not on this machine; give --data-dir" in out
    rc, out, _ = run_cli(["bench", "show", "000000000", "--table", "cifar16-333-e12", "--data-dir", str(tmp_path),
                          "--json"])  # fmt: skip
    r = json.loads(out)
    assert rc == 0 and r["data_dir"] == str(tmp_path) and not r["data_missing"]
    assert all(x["argv"][x["argv"].index("--data-dir") + 1] == str(tmp_path) for x in r["runs"])
    rc, out, _ = run_cli(["bench", "show", "chain", "--table", "digits-334-e6"])  # embedded data: no folder
    assert rc == 0 and "--data-dir" not in out and "note:" not in out


def test_a_space_with_several_tables_shows_the_one_with_most_seeds_then_epochs():
    rows = [{"name": "a", "space": "3,3,4", "seeds": 1, "epochs": 18}, {"name": "b", "space": "3,3,4", "seeds": 4,
            "epochs": 6}, {"name": "c", "space": "3,3,3", "seeds": 2, "epochs": 4}]  # fmt: skip
    from genet_lab.cli import bench_show

    for order in itertools.permutations(rows):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("genet_lab.bench.table.list_tables", lambda order=order: list(order))
            assert bench_show._pick_table("chain") == "b"  # a name fits every space: b has the most seeds
            assert bench_show._pick_table("1-01 0-00 1-00") == "c"
    tie = [dict(rows[1], name="d"), rows[1]]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("genet_lab.bench.table.list_tables", lambda: tie)
        with pytest.raises(Exception, match="several shipped tables hold this genome's space: d .*, b .*--table"):
            bench_show._pick_table("chain")
