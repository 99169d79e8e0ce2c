from textual.containers import Vertical
class EvolutionPane(Vertical):
    def __init__(self, genome, run_dir=None, python=None, **kw):
        super().__init__(**kw)
    def set_genome(self, g): pass
