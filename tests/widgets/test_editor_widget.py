"""GenomeEditor driven from code, without a browser: values in, genome/SVG/callbacks out; and
the widgets package imports no torch."""

from __future__ import annotations

import html
import re

import pytest

from genet_lab.encoding.draw import have_dot
from genet_lab.encoding.genome import chain, dense, paper_best, parse, residual, zeros
from genet_lab.widgets import GenomeEditor

needs_dot = pytest.mark.skipif(not have_dot(), reason="graphviz 'dot' not installed")


def test_widgets_import_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, genet_lab.widgets as w; w.GenomeEditor(); w.PopulationSeeder(n=3); "
        "w.TrainPanel('chain'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # torch loads only when a training starts


@pytest.mark.parametrize(
    "module",
    [
        "genet_lab.widgets",
        "genet_lab.supervisor",
        "genet_lab.evolution.population",
        "genet_lab.training.catalog",
        "genet_lab.tui.app",
        "genet_lab.tui.evolution",
        "genet_lab.tui.train_panel",
    ],
)
def test_front_end_modules_import_no_torch(module):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_editor_layout_follows_the_encoding():
    ed = GenomeEditor("paper-best")
    assert ed.genome == paper_best()
    assert ed.notation == "1-01 0-01-100 0-11-101-0001"
    # one toggle per bit, keyed by (i, j) per stage, mirroring the bits
    assert [len(t) for t in ed.toggles] == [3, 6, 10]
    assert sum(len(t) for t in ed.toggles) == ed.genome.length
    assert ed.toggles[0][(1, 2)].value is True and ed.toggles[0][(1, 3)].value is False
    assert ed.toggles[2][(4, 5)].value is True
    assert ed.text.value == ed.notation
    assert ed.stages_text.value == "3,4,5"


def test_toggle_changes_genome_and_fires_callbacks_once():
    ed = GenomeEditor("zeros")
    seen, observed = [], []
    ed.on_change(seen.append)
    ed.observe(lambda ch: observed.append((ch["old"], ch["new"])), "notation")
    ed.toggles[1][(2, 4)].value = True  # stage 2, node 4 sums node 2
    assert ed.genome == parse("0-00 0-00-010 0-00-000-0000")
    assert seen == [ed.genome]
    assert observed == [("0-00 0-00-000 0-00-000-0000", "0-00 0-00-010 0-00-000-0000")]
    ed.set_bit(3, 1, 5)  # paper's 1-based stage and nodes
    assert ed.genome.stage_bits(2) == (0, 0, 0, 0, 0, 0, 1, 0, 0, 0)
    assert len(seen) == 2
    ed.set_bit(3, 1, 5, 0)
    assert ed.genome.stage_bits(2) == (0,) * 10
    with pytest.raises(ValueError, match="1 <= i < j <= K=3"):
        ed.set_bit(1, 2, 4)


def test_setting_genome_from_code_updates_toggles_text_and_figures():
    ed = GenomeEditor("zeros")
    seen = []
    ed.on_change(seen.append)
    ed.genome = "1-01 0-01-100 0-11-101-0001"
    assert seen == [paper_best()]
    assert ed.toggles[1][(1, 4)].value is True and ed.toggles[1][(2, 3)].value is True
    assert ed.toggles[1][(1, 2)].value is False
    assert ed.text.value == "1-01 0-01-100 0-11-101-0001"
    assert "structure key" in ed.info.value
    ed.genome = paper_best()  # same value: no new event
    assert len(seen) == 1
    ed.genome = "dense"  # names work too
    assert ed.genome == dense() and len(seen) == 2
    with pytest.raises(ValueError, match="group 2 must hold 2 bits"):
        ed.genome = "1-0"


def test_presets_and_bad_text():
    ed = GenomeEditor("zeros")
    for name, genome in [
        ("chain", chain()),
        ("residual", residual()),
        ("dense", dense()),
        ("paper-best", paper_best()),
        ("zeros", zeros()),
    ]:
        ed.preset_buttons[name].click()
        assert ed.genome == genome, name
    ed.preset_buttons["random"].click()
    assert ed.genome.stages == (3, 4, 5)
    before = ed.genome
    ed.text.value = "1-01 0-1"  # group 2 needs 2 bits
    assert ed.genome == before
    assert "group 2 must hold 2 bits" in ed.error.value
    ed.text.value = "1 0-01-100"
    assert ed.error.value == "" and ed.genome == parse("1 0-01-100")


def test_changing_stage_sizes_rebuilds_the_toggles():
    ed = GenomeEditor("paper-best")
    ed.stages_text.value = "4,5"  # Figure 1's (K1, K2)
    assert ed.genome == zeros((4, 5))
    assert [len(t) for t in ed.toggles] == [6, 10]
    ed.genome = "1-00-111 0-10-111-1000"
    assert ed.toggles[0][(3, 4)].value is True
    ed.stages_text.value = "3,x"
    assert "stage sizes must be integers" in ed.error.value
    assert ed.genome.stages == (4, 5)
    ed.preset_buttons["paper-best"].click()
    assert "paper-best has stages 3,4,5" in ed.error.value


def test_info_shows_dropped_nodes_single_conv_and_complexity():
    ed = GenomeEditor("0-00 0-10-000 0-00-000-0000")
    info = ed.info.value
    assert "Stage 1: all bits zero: a single convolution" in info
    assert "Stage 2: 4 convolutions, depth 4, dropped nodes 2, 4" in info  # edge (1,3) only
    assert re.search(r"[\d,]+ parameters", info)


@needs_dot
def test_stage_drawings_are_graphviz_svg_per_stage():
    ed = GenomeEditor("paper-best")
    assert len(ed.drawings) == 3
    for s, drawing in enumerate(ed.drawings):
        svg = html.unescape(drawing.value)
        assert svg.startswith("<svg")
        assert f"Stage {s + 1}: {ed.genome.notation().split()[s]}" in svg
        assert ">in<" in svg and ">out<" in svg
    # stage 2 of paper-best has four kept ordinary nodes
    assert all(f">{n}<" in ed.drawings[1].value for n in (1, 2, 3, 4))
    first = ed.drawings[0].value
    ed.set_bit(2, 1, 2)  # only stage 2 changes
    assert ed.drawings[0].value == first
    assert "Stage 2: 1-01-100" in html.unescape(ed.drawings[1].value)
    whole = ed.svg()
    assert whole.count("cluster_") >= 3 and "pool" in whole


def test_all_zero_stage_draws_its_output_node():
    from genet_lab.encoding.draw import to_dot
    from genet_lab.widgets._render import stage_dot

    source = to_dot(parse("0-00 1-00-000"))
    stage1 = source[source.index("cluster_1") : source.index("cluster_2")]
    assert 's1_4 [label="out"' in stage1 and 'style="filled,dashed"' in stage1  # out, not a convolution
    assert re.search(r"s1_0 -> s1_4 \[[^]]*label=\"identity\"", stage1)
    assert "s1_4 -> s2_0" in source  # pooling leaves from the out node
    assert all(f's1_{n} [label="{n}", shape=circle, style=dashed' in stage1 for n in (1, 2, 3))
    # a stage with edges is drawn as before: one out node, no identity edge
    stage2 = source[source.index("cluster_2") :]
    assert stage2.count('label="out"') == 1 and "identity" not in stage2
    assert stage_dot(3, (0, 0, 0), 1).count('label="out"') == 1


@needs_dot
def test_all_zero_editor_shows_out_in_every_stage():
    ed = GenomeEditor("zeros")
    for drawing in ed.drawings:
        svg = html.unescape(drawing.value)
        assert ">in<" in svg and ">out<" in svg and ">identity<" in svg


def test_text_drawing_without_dot():
    ed = GenomeEditor("1-00-111 0-10-000-0000", use_dot=False)
    assert ed.drawings[0].value.startswith("<pre")
    assert "Stage 1  K=4  1-00-111" in ed.drawings[0].value
    assert "dropped" not in ed.drawings[0].value
    assert "dropped (isolated): 2, 4, 5" in ed.drawings[1].value
    ed.set_bit(2, 2, 5)
    assert "dropped (isolated): 4" in ed.drawings[1].value
