"""Layering: the genome, graph and inspection code never imports torch."""
import subprocess
import sys

import pytest

TORCH_FREE = ["genet_lab", "genet_lab.encoding.genome", "genet_lab.encoding.graph", "genet_lab.encoding.canon", "genet_lab.encoding.space",
              "genet_lab.encoding.presets", "genet_lab.encoding.complexity", "genet_lab.encoding.draw", "genet_lab.cli.core"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_does_not_import_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_inspecting_a_genome_on_the_cli_does_not_import_torch():
    code = ("import sys; from genet_lab.cli.main import main; "
            "main(['show', 'paper-best', '--json']); print('torch' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip().splitlines()[-1] == "False"
