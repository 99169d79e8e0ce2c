"""The table file: export, load_table, lookups by any bit string, ranks, one-line errors."""

from __future__ import annotations

import gzip
import json

import pytest

from genet_lab.bench.store import BenchStore
from genet_lab.bench.table import VERSION, export_build, load_table
from genet_lab.encoding.genome import Genome
from genet_lab.errors import UsageError


@pytest.fixture
def table_file(tiny_build, tmp_path):
    path = tmp_path / "tiny.json.gz"
    export_build(tiny_build, path)
    return path


def test_export_holds_every_structure_with_its_seeds_and_settings(table_file, tiny_build, tiny_settings):
    data = json.loads(gzip.decompress(table_file.read_bytes()))
    assert (data["format"], data["version"], data["name"], data["complete"]) == (
        "genet-lab-bench",
        VERSION,
        "tiny",
        True,
    )
    assert data["settings"] == tiny_settings.to_dict()
    assert set(data["versions"]) == {"genet-lab", "torch", "python"}
    assert len(data["structures"]) == 12 and all(len(s["runs"]) == 2 for s in data["structures"])
    with BenchStore(tiny_build, readonly=True) as store:
        first = store.done()[0]
    run = data["structures"][0]["runs"][0]
    assert run["val"] == round(first["val_accuracy"], 4) and run["val_curve"] == [run["val"]]


def test_any_bit_string_finds_its_structure_and_ranks_are_consistent(table_file):
    table = load_table(table_file)
    assert len(table) == 12 and table.complete
    for bits in ("0000", "1000", "0100", "0010", "1111"):  # stage 1: 1 bit, stage 2: 3 bits
        genome = Genome.from_bits(bits, (2, 3))
        entry = table.entry(genome)
        assert entry.key == table.entry(entry.genome).key
        assert table.mean(genome) == pytest.approx(sum(r.val for r in entry.runs) / 2)
    # 0-01 and 0-10 (and 0-00's isomorphic twins) build the same structure in stage 2
    assert table.entry("0 1-00").key == table.entry("0 0-10").key
    best = table.best()
    assert table.rank(best.genome) == 1
    lower = sum(e.mean < best.mean for e in table.entries)
    assert table.percentile(best.genome) == pytest.approx(100 * lower / 12)
    worst = min(table.entries, key=lambda e: e.mean)
    assert table.percentile(worst.genome) == 0.0


def test_a_partial_export_says_so(tiny_build, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "bench.sqlite").write_bytes((tiny_build / "bench.sqlite").read_bytes())
    with BenchStore(copy) as store, store.transaction():
        store.conn.execute("UPDATE trainings SET state='pending' WHERE structure >= 6")
    info = export_build(copy, tmp_path / "part.json.gz")
    assert (info["complete"], info["structures"], info["trainings"]) == (False, 6, 12)
    table = load_table(tmp_path / "part.json.gz")
    assert not table.complete and table.counts["trainings"] == 24
    missing = Genome.from_bits(table.entries[-1].genome.bitstring(), (2, 3))
    with BenchStore(copy, readonly=True) as store:
        absent = store.structures()[-1][1]
    assert table.entry(missing)
    with pytest.raises(UsageError, match="is partial"):
        table.entry(Genome.from_bits(absent, (2, 3)))


def test_bad_tables_and_genomes_are_one_line_errors(table_file, tmp_path):
    with pytest.raises(UsageError, match="unknown table 'no-such-table'"):
        load_table("no-such-table")
    damaged = tmp_path / "damaged.json.gz"
    damaged.write_bytes(table_file.read_bytes()[:100])
    with pytest.raises(UsageError, match="damaged"):
        load_table(damaged)
    foreign = tmp_path / "foreign.json.gz"
    foreign.write_bytes(gzip.compress(b'{"format": "nas-bench-201"}'))
    with pytest.raises(UsageError, match="not a genet-lab bench table"):
        load_table(foreign)
    table = load_table(table_file)
    with pytest.raises(UsageError, match=r"space \(stages 2,3\)"):
        table.entry(Genome.from_bits("0" * 9, (3, 4)))
    with pytest.raises(UsageError, match=r"space \(stages 2,3\)"):
        table.entry("1-01 0-01-100")
