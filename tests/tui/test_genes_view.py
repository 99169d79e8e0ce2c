"""The population's genes over time in the evolution pane (issue 23 item 3): the figure ``f`` cycles
to after the Pareto views, in text cells under a header of the paper's bit order, with the
structure diversity; the matrix is the core's (:func:`genet_lab.evolution.genes.run_genes`)."""

from __future__ import annotations

from tui_helpers import run_async, toy_run, until

from genet_lab.evolution.genes import bit_labels, gene_frequencies, run_genes, shade
from genet_lab.evolution.records import Individual
from genet_lab.tui.app import GenetLabApp
from genet_lab.tui.evolution import EvolutionPane
from genet_lab.tui.genes_view import RAMP, bar, cell_width, genes_text
from genet_lab.tui.run_widgets import FIGURES, RunPlot


@run_async
async def test_f_cycles_to_the_genes_over_time_of_the_stored_run_and_back(tmp_path):
    run_dir = toy_run(tmp_path, t=4, n=6)
    expected = run_genes(run_dir)
    app = GenetLabApp(run_dir=run_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.query_one(EvolutionPane)
        await until(pilot, lambda: len(pane.generations) == 5)
        view = pane.query_one("#evo-genes")
        assert not view.display and pane.query_one(RunPlot).display
        for _ in range(FIGURES.index("genes")):
            await pilot.press("f")
        await pilot.pause()
        assert pane.figure == "genes" and view.display and not pane.query_one(RunPlot).display
        assert view.genes == expected
        head = str(view.query_one("#genes-head").content).splitlines()
        rows = str(view.query_one("#genes-rows").content).splitlines()
        assert [int(r.split()[0]) for r in rows] == list(expected.generations)
        for row, div in zip(rows, expected.diversity):
            assert f"  {div:.2f} " in row
        # the header names each column's edge in the paper's order: node j (to) over node i (from)
        cell = cell_width(expected, view.size.width - 1)
        to, frm = (line[4:].replace("│", "") for line in head[1:3])
        pairs = [pair.split("-") for _, pair in bit_labels(expected.stages)]
        assert [to[b * cell : (b + 1) * cell].strip() for b in range(len(pairs))] == [j for _, j in pairs]
        assert [frm[b * cell : (b + 1) * cell].strip() for b in range(len(pairs))] == [i for i, _ in pairs]
        cells = rows[0][4:].split("  ")[0].replace("│", "")
        assert cells == "".join(shade(v, RAMP) * cell for v in expected.frequencies[0])
        await pilot.press("f")
        await pilot.pause()
        assert pane.figure == "fig3" and not view.display and pane.query_one(RunPlot).display


def _individuals(stages: tuple[int, ...], gens: int, n: int) -> list[Individual]:
    length = len(bit_labels(stages))
    out = []
    for g in range(gens):
        for i in range(n):
            bits = "".join("1" if (b + i + g) % 3 == 0 else "0" for b in range(length))
            out.append(
                Individual(
                    g,
                    i,
                    bits,
                    bits,
                    (),
                    "init",
                    False,
                    None,
                    bits,
                    None,
                    None,
                    "done",
                    None,
                    None,
                    None,
                    None,
                    False,
                    None,
                    0,
                )  # fmt: skip
            )
    return out


def test_a_long_genome_gets_one_cell_per_bit_and_letters_for_nodes_above_9():
    stages = (11, 11, 11)
    genes = gene_frequencies(_individuals(stages, 3, 4), stages)
    assert cell_width(genes, 60) == 1  # 165 bits: the panel scrolls sideways
    head, rows, legend = genes_text(genes, 60)
    to = head.plain.splitlines()[1][4:].split("│")[0]
    assert to.endswith("bbbbbbbbbb") and "a = node 10" in legend  # node 11 receives 10 edges
    assert len(rows.plain.splitlines()) == 3
    small = gene_frequencies(_individuals((3, 4, 5), 2, 4), (3, 4, 5))
    assert cell_width(small, 120) == 3 and cell_width(small, 45) == 1
    assert "a = node" not in genes_text(small, 45)[2]


def test_the_diversity_bar_is_in_eighths():
    assert bar(0.0) == " " * 5 and bar(1.0) == "█" * 5
    assert bar(0.5) == "██▌  "
