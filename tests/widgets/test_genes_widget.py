"""The EvolutionMonitor's genes over time: the heatmap of a stored run, as the report computes it."""

from __future__ import annotations

PNG = b"\x89PNG\r\n\x1a\n"


def test_monitor_shows_the_genes_of_a_finished_run(tmp_path):
    from genet_lab.evolution import SearchConfig, start_run
    from genet_lab.evolution.genes import run_genes
    from genet_lab.widgets import EvolutionMonitor

    run = tmp_path / "ga"
    start_run(run, SearchConfig(fitness="toy", population=6, generations=3, seed=5, stages=(3, 4)))
    mon = EvolutionMonitor(run, use_dot=False)
    try:
        genes = mon.genes()
        assert genes == run_genes(run)
        assert genes.generations == (0, 1, 2, 3) and len(genes.labels) == 3 + 6
        assert bytes(mon.genes_plot.value).startswith(PNG)
        assert mon.genes_plot in mon.children
        heat = mon.figure_genes(genes).axes[0].images[0].get_array()
        assert heat.shape == (4, 9)
        drawn = mon.genes_plot.value
        mon.refresh()  # nothing new in the store: not drawn again
        assert mon.genes_plot.value is drawn
    finally:
        mon.close()


def test_monitor_without_a_store_has_no_genes(tmp_path):
    from genet_lab.widgets import EvolutionMonitor

    mon = EvolutionMonitor(tmp_path / "nothing-yet", use_dot=False)
    try:
        assert mon.genes() is None and bytes(mon.genes_plot.value) == b""
    finally:
        mon.close()
