"""Jupyter widgets for genet-lab (ipywidgets): edit, train, seed and watch.

* :class:`GenomeEditor` edits a genome bit by bit and redraws its stages;
* :class:`TrainPanel` trains the editor's genome and tabulates the results;
* :class:`PopulationSeeder` makes a run's config and previews its generation 0;
* :class:`EvolutionMonitor` starts a run from a :class:`~genet_lab.evolution.config.SearchConfig`
  and follows a run directory (Table 1, Figure 3).

Importing this package imports no torch; only training does, when asked.
"""

from genet_lab.widgets.editor import GenomeEditor
from genet_lab.widgets.monitor import EvolutionMonitor
from genet_lab.widgets.seeder import PopulationSeeder
from genet_lab.widgets.train_panel import TrainPanel

__all__ = ["EvolutionMonitor", "GenomeEditor", "PopulationSeeder", "TrainPanel"]
