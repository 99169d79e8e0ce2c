"""Jupyter widgets for genet-lab (ipywidgets): edit, train, seed and watch.

* :class:`GenomeEditor` edits a genome bit by bit and redraws its stages;
* :class:`TrainPanel` trains the editor's genome and tabulates the results;
* :class:`PopulationSeeder` makes an initial population and previews it;
* :class:`EvolutionMonitor` follows a run directory (Table 1, Figure 3).

Importing this package imports no torch; only training does, when asked.
"""

from genet_lab.widgets.editor import GenomeEditor
from genet_lab.widgets.monitor import EvolutionMonitor, evolve_command
from genet_lab.widgets.seeder import PopulationSeeder, seed_population
from genet_lab.widgets.train_panel import TrainPanel

__all__ = ["EvolutionMonitor", "GenomeEditor", "PopulationSeeder", "TrainPanel", "evolve_command", "seed_population"]
