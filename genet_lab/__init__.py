"""genet-lab: explore the search space of *Genetic CNN* (Xie & Yuille, 2017).

Layers, each ignorant of the one above: :mod:`genet_lab.encoding.genome` (bits) ->
:mod:`genet_lab.encoding.graph` (stage DAGs, networkx) -> :mod:`genet_lab.training.network`
(torch modules) -> training -> evolution -> front ends (CLI, TUI, widgets).
Importing this package imports no torch.
"""
from genet_lab.encoding.genome import Genome, parse, resolve

__all__ = ["Genome", "parse", "resolve", "__version__"]
__version__ = "0.1.0"
