"""The population's genes over time (genet_lab.evolution.genes): the generations x bits matrix, the
paper's bit order and labels, the structure diversity, and where they show (report, report --json)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from genet_lab.cli.main import main
from genet_lab.encoding.genome import pair_index
from genet_lab.evolution import SearchConfig, start_run
from genet_lab.evolution.figures import figure_genes
from genet_lab.evolution.genes import bit_labels, gene_frequencies, genes_text, run_genes, shade
from genet_lab.evolution.records import Individual
from genet_lab.evolution.store import RunStore

PNG = b"\x89PNG\r\n\x1a\n"


def _ind(gen: int, index: int, bits: str, key: str = "") -> Individual:
    return Individual(
        gen=gen,
        index=index,
        genome="",
        bits=bits,
        parents=(),
        op="init",
        changed=False,
        fitness=None,
        structure_key=key or bits,
        params=None,
        macs=None,
        state="pending",
        accuracy=None,
        loss=None,
        seconds=None,
        device=None,
        reused=False,
        error=None,
        seed=0,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("genes") / "ga"
    start_run(path, SearchConfig(fitness="toy", population=8, generations=6, seed=3))
    return path


def test_bit_labels_follow_the_papers_order():
    labels = bit_labels((3, 4, 5))
    assert len(labels) == 3 + 6 + 10
    assert [pair for s, pair in labels if s == 1] == ["1-2", "1-3", "2-3"]
    start = 0
    for s, k in enumerate((3, 4, 5), 1):
        stage = [pair for t, pair in labels if t == s]
        assert len(stage) == k * (k - 1) // 2
        for pos, pair in enumerate(stage):
            i, j = map(int, pair.split("-"))
            assert pair_index(i, j) == pos  # the genome's own bit position of edge (i, j)
        start += len(stage)
    assert start == 19


def test_frequencies_and_diversity_by_hand():
    inds = [
        _ind(0, 0, "100", "a"),
        _ind(0, 1, "110", "b"),
        _ind(0, 2, "000", "a"),
        _ind(0, 3, "111", "c"),
        _ind(1, 1, "111", "c"),
        _ind(1, 0, "110", "c"),  # another bit string, the same structure
    ]
    genes = gene_frequencies(reversed(inds), (3,))
    assert genes.generations == (0, 1)
    assert genes.frequencies == ((0.75, 0.5, 0.25), (1.0, 1.0, 0.5))
    assert genes.individuals == (4, 2) and genes.distinct == (3, 1)
    assert genes.diversity == (0.75, 0.5)
    assert genes.labels == ["S1 1-2", "S1 1-3", "S1 2-3"]
    body = genes.to_dict()
    assert body["frequencies"] == [[0.75, 0.5, 0.25], [1.0, 1.0, 0.5]]
    assert body["bits"][2] == {"stage": 1, "edge": "2-3"} and body["diversity"] == [0.75, 0.5]


def test_bits_that_do_not_fit_the_stages_are_refused():
    with pytest.raises(ValueError, match="not 3 bits"):
        gene_frequencies([_ind(0, 0, "1001")], (3,))
    assert gene_frequencies([], (3, 4)).frequencies == ()


def test_run_genes_counts_every_stored_individual(run):
    genes = run_genes(run)
    with RunStore(run, readonly=True) as st:
        inds = st.individuals()
    assert genes.generations == tuple(range(7)) and genes.individuals == (8,) * 7
    for g, row in zip(genes.generations, genes.frequencies):
        members = [i for i in inds if i.gen == g]
        for b, value in enumerate(row):
            assert value == sum(i.bits[b] == "1" for i in members) / len(members)
        assert genes.diversity[g] == len({i.structure_key for i in members}) / 8
    assert genes.stage_spans() == [(0, 3), (3, 9), (9, 19)]


def test_text_heatmap():
    genes = gene_frequencies([_ind(0, 0, "100" + "0" * 6), _ind(1, 0, "111" + "1" * 6)], (3, 4))
    lines = genes_text(genes)
    assert len(lines) == 3 and lines[0].startswith("gen")
    assert lines[1][5:9] == "█  |"
    assert lines[2][5:8] == "███" and lines[2].endswith("1.00")
    assert genes_text(genes, last=1) == [lines[0], lines[2]]
    assert (shade(0.0), shade(1.0), shade(0.5)) == (" ", "█", "▒")


def test_figure_is_generations_by_bits(run):
    genes = run_genes(run)
    fig = figure_genes(genes)
    heat = fig.axes[0].images[0].get_array()
    assert heat.shape == (7, 19)
    assert heat[3].tolist() == pytest.approx(list(genes.frequencies[3]))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][:3] == ["1-2", "1-3", "2-3"]


def test_report_writes_fig_genes_and_json_matrix(run, tmp_path, capsys):
    assert main(["report", str(run), "--json", "--out", str(tmp_path / "r")]) == 0
    body = json.loads(capsys.readouterr().out)
    genes = body["genes"]
    assert genes == run_genes(run).to_dict()
    assert len(genes["frequencies"]) == 7 and all(len(r) == 19 for r in genes["frequencies"])
    assert (tmp_path / "r" / "fig_genes.png").read_bytes().startswith(PNG)
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Genes over time (fig_genes.png)" in md
    assert f"{genes['diversity'][0]:.2f} in generation 0" in md


def test_selection_narrows_the_population():
    """Generation 1 made only by copying one individual of generation 0: diversity 1/N, every bit 0 or 1."""
    first = [_ind(0, i, format(i, "03b"), str(i)) for i in range(4)]
    copies = [replace(first[3], gen=1, index=i) for i in range(4)]
    genes = gene_frequencies(first + copies, (3,))
    assert genes.diversity == (1.0, 0.25)
    assert set(genes.frequencies[1]) <= {0.0, 1.0}
