"""Widgets driven from code, without a browser: values in, genome/SVG/callbacks out."""

from __future__ import annotations

import html
import re
import time

import pytest

from genet_lab.encoding.draw import have_dot
from genet_lab.encoding.genome import chain, dense, paper_best, parse, residual, zeros
from genet_lab.widgets import GenomeEditor, PopulationSeeder

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


# -- GenomeEditor ----------------------------------------------------------------


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


# -- PopulationSeeder ------------------------------------------------------------


def test_seeder_random_is_reproducible_and_previewed():
    a = PopulationSeeder(mode="random", n=8, seed=3, use_dot=False)
    b = PopulationSeeder(mode="random", n=8, seed=3, use_dot=False)
    assert a.population == b.population and len(a.population) == 8
    assert all(g.stages == (3, 4, 5) for g in a.population)
    distinct = len({r["key"] for r in a.rows()})
    assert f"<b>{distinct}</b> distinct" in a.summary.value
    assert a.population[0].notation() in a.table.value
    seen = []
    a.on_change(seen.append)
    a.seed_box.value = 4
    a.reseed()
    assert seen and seen[-1] is a.population and a.population != b.population


def test_seeder_zeros_residual_40_and_file(tmp_path):
    s = PopulationSeeder(mode="zeros", n=5, use_dot=False)
    assert all(g == zeros() for g in s.population)
    assert "<b>1</b> distinct structure," in s.summary.value
    assert (s.config.init, s.config.population) == ("zeros", 5)
    s.mode.value = "residual-40"  # switches stages to (11,11,11)
    s.flips.value = 3
    s.reseed()
    from genet_lab.encoding.genome import residual_40

    base = residual_40()
    assert (s.config.init, s.config.stages, s.config.init_flips) == ("residual-40", (11, 11, 11), 3)
    assert all(g.stages == (11, 11, 11) for g in s.population)
    assert all(sum(a != b for a, b in zip(g.bits, base.bits)) == 3 for g in s.population)
    saved = list(s.population)
    path = s.save(tmp_path / "pop.txt")
    s.mode.value = "file"
    s.path.value = str(path)
    s.reseed()
    assert s.n.value == 5 and s.error.value == ""
    assert s.population == saved
    assert s.config.init == "file" and s.config.init_genomes == tuple(map(str, saved))
    s.path.value = str(tmp_path / "missing.txt")
    s.reseed()
    assert "does not exist" in s.error.value and len(s.population) == 5


def test_seeder_starts_from_search_configs_defaults_and_keeps_the_rest_of_a_config():
    from genet_lab.evolution.config import SearchConfig
    from genet_lab.training.catalog import DATASETS

    s = PopulationSeeder(use_dot=False)
    assert s.config == SearchConfig().resolve()  # every control at SearchConfig's own default
    assert (s.mode.value, s.n.value, s.stages.value) == ("random", SearchConfig().population, "3,4,5")
    base = SearchConfig(dataset="mnist", population=6, init="zeros", seed=4, reuse_structures=True)
    s = PopulationSeeder(config=base, use_dot=False)
    assert (s.mode.value, s.n.value, s.seed_box.value) == ("zeros", 6, 4)
    assert s.config == base.resolve() and s.config.epochs == DATASETS["mnist"].epochs
    s.n.value = 8
    s.reseed()
    assert s.config == base.with_overrides(population=8).resolve() and len(s.population) == 8


def test_seeder_editor_start_is_the_editor_genome_in_notation():
    ed = GenomeEditor("1-00-111 0-10-000-0011")  # Figure 1: stages (4, 5)
    s = PopulationSeeder(mode="editor", n=4, flips=1, editor=ed, use_dot=False)
    assert "editor" in s.mode.options
    assert s.config.init == ed.genome.notation() and s.config.stages == (4, 5) and s.config.init_flips == 1
    assert all(sum(a != b for a, b in zip(g.bits, ed.genome.bits)) == 1 for g in s.population)
    ed.genome = "chain"  # the next seed copies the editor's genome now
    s.reseed()
    assert s.config.init == chain().notation() and all(g.stages == (3, 4, 5) for g in s.population)
    assert "editor" not in PopulationSeeder(n=2, use_dot=False).mode.options  # nothing to copy
    with pytest.raises(ValueError, match="editor"):
        PopulationSeeder(mode="editor")


def test_seeder_shows_a_bad_config_and_keeps_its_population():
    s = PopulationSeeder(mode="random", n=4, use_dot=False)
    before = s.population
    s.p.value = 0.0
    s.reseed()
    assert s.population != before and all(sum(g.bits) == 0 for g in s.population)  # p = 0: all-zero bits
    s.stages.value = "3,x"
    s.reseed()
    assert "stage sizes must be integers" in s.error.value and s.config.init_p == 0.0


def test_seeder_previews_exactly_the_runs_generation_0(tmp_path):
    from genet_lab.evolution.store import RunStore
    from genet_lab.widgets import EvolutionMonitor

    seeder = PopulationSeeder(mode="residual-40", n=4, flips=2, seed=5, use_dot=False)
    assert seeder.config.seed == 5 and seeder.config.population == 4
    mon = EvolutionMonitor.launch(tmp_path / "run", seeder.config, fitness="toy", generations=0, poll=False)
    try:
        assert mon.wait(timeout=120, interval=0.2).state == "finished"
        with RunStore(tmp_path / "run", readonly=True) as store:
            stored = [parse(i.genome) for i in store.individuals(0)]
            config = store.config()
    finally:
        mon.close()
    assert stored == seeder.population
    assert (config["init"], config["init_flips"], config["stages"]) == ("residual-40", 2, [11, 11, 11])


@needs_dot
def test_seeder_gallery_draws_distinct_structures():
    s = PopulationSeeder(mode="random", n=6, seed=0, gallery=2)
    assert s.gallery.value.count("<svg") == 2


# -- TrainPanel --------------------------------------------------------------------


@pytest.fixture
def one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only fight over the shared cores
    yield
    torch.set_num_threads(before)


CPU_FP32 = dict(device="cpu", precision="fp32", channels_last="off")


def test_train_panel_blocking_and_background_runs(one_thread):
    from genet_lab.widgets import TrainPanel

    ed = GenomeEditor("chain")
    panel = TrainPanel(ed, epochs=2, train_size=120, train_options=CPU_FP32)
    rows = []
    panel.on_result(rows.append)
    assert panel.genome == chain()
    result = panel.train()  # blocking: what a notebook under nbclient uses
    assert not result.failed and len(result.curve) == 2 and 0.0 <= result.val_accuracy <= 1.0
    assert rows[0]["genome"] == str(chain()) and rows[0]["epochs"] == 2
    assert panel.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert panel.progress.value == panel.progress.max
    ed.preset_buttons["zeros"].click()  # the panel follows the editor
    thread = panel.start(label="all-zero")
    assert thread is not None
    second = panel.wait(timeout=120)
    assert second is not None and not panel.running
    assert [r["label"] for r in rows] == [str(chain()), "all-zero"]
    assert "all-zero" in panel.table.value and str(chain()) in panel.table.value
    assert panel.runs == 2


def test_train_panel_stop_cancels_a_background_run(one_thread):
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("dense", epochs=500, train_size=120, train_options=CPU_FP32)
    panel.start()
    deadline = time.monotonic() + 60
    while not panel.results and not panel._curve and time.monotonic() < deadline:
        time.sleep(0.05)  # until training has really begun
    panel.stop()
    result = panel.wait(timeout=60)
    assert result.failed and result.error == "cancelled" and result.epochs_run < 500
    assert "cancelled" in panel.status.value
    assert panel.results[-1]["state"] == "failed: cancelled"
    # the bar stays where the run stopped, and no "validation accuracy 0.00%" for a run that has none
    assert panel.progress.value < panel.progress.max and panel.progress.bar_style == "warning"
    assert "0.00" not in panel.status.value and "accuracy" not in panel.status.value
    assert f"after {result.epochs_run} epoch" in panel.status.value
    assert panel.results[-1]["val_accuracy"] is None
    assert re.search(r"<td[^>]*>-</td><td[^>]*>[\d.]+</td><td[^>]*>failed: cancelled</td>", panel.table.value)


def test_train_panel_failed_runs_sort_last_and_say_their_last_accuracy():
    from types import SimpleNamespace

    from genet_lab.widgets import TrainPanel

    failed = SimpleNamespace(
        epochs_run=3,
        seconds=1.5,
        error="diverged: loss is nan",
        failed=True,
        curve=[{"val_accuracy": 0.25}, {"val_accuracy": 0.3507}, {"val_accuracy": 0.4}],
    )
    status = TrainPanel._failed_status("dense", failed)
    assert "dense: failed (diverged: loss is nan) after 3 epochs in 1.5 s, last validation 40.00%" in status
    panel = TrainPanel("chain")
    base = {"genome": "1", "dataset": "digits", "epochs": 3, "params": 1, "macs": 1, "seconds": 1.0}
    panel.results = [
        {**base, "label": "broken", "val_accuracy": None, "state": "failed: cancelled"},
        {**base, "label": "good", "val_accuracy": 0.5, "state": "done"},
    ]
    table = panel.results_html()
    assert table.index("good") < table.index("broken")


def test_train_panel_bad_input_is_reported():
    from genet_lab.training.catalog import list_datasets
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("paper-best")
    assert list(panel.dataset.options) == list_datasets(listed_only=True)  # the drop-down lists the catalog
    with pytest.raises(ValueError, match="unknown dataset 'no-such-set'; accepted: digits"):
        panel.train(dataset="no-such-set")
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainPanel("chain", dataset="no-such-set")
    panel.start(genome="1-0")  # malformed: shown, no thread started
    assert "group 2 must hold 2 bits" in panel.status.value and not panel.running


# -- EvolutionMonitor ---------------------------------------------------------------


def test_train_panel_defaults_are_the_catalogs():
    from genet_lab.training.catalog import DATASETS, DEFAULT_DATASET, DEFAULT_RECIPE, list_recipes
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain")
    digits = DATASETS[DEFAULT_DATASET]
    assert panel.dataset.value == DEFAULT_DATASET and panel.recipe.value == DEFAULT_RECIPE
    assert (panel.epochs.value, panel.batch_size.value) == (digits.epochs, digits.batch_size)
    assert list(panel.recipe.options) == list_recipes()
    panel.dataset.value = "cifar10"  # the budget follows the data set
    assert (panel.epochs.value, panel.batch_size.value) == (DATASETS["cifar10"].epochs, DATASETS["cifar10"].batch_size)
    panel.epochs.value = 3  # an edited value stays
    panel.dataset.value = "mnist"
    assert (panel.epochs.value, panel.batch_size.value) == (3, DATASETS["mnist"].batch_size)
    given = TrainPanel("chain", epochs=7, train_options={"batch_size": 16, "recipe": "paper", "device": "cpu"})
    assert (given.epochs.value, given.batch_size.value, given.recipe.value) == (7, 16, "paper")
    assert given.train_options == {"device": "cpu"}


def test_train_panel_trains_with_what_it_shows():
    from genet_lab.training.config import default_train_config
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain", seed=3, train_options=CPU_FP32)
    assert panel.train_config() == default_train_config("digits", seed=3, **CPU_FP32)
    panel.recipe.value = "legacy"
    panel.batch_size.value = 64
    cfg = panel.train_config("fashion-mnist")  # selects the data set: its budget, the edited batch
    assert panel.dataset.value == "fashion-mnist" and cfg.recipe == "legacy" and cfg.batch_size == 64
    assert cfg == default_train_config("fashion-mnist", recipe="legacy", batch_size=64, seed=3, **CPU_FP32)


def test_launch_takes_a_search_config_and_refuses_a_bad_one_before_anything_is_made(tmp_path):
    from genet_lab.errors import UsageError
    from genet_lab.evolution.config import SearchConfig
    from genet_lab.widgets import EvolutionMonitor
    from genet_lab.widgets.monitor import run_config

    assert run_config() == SearchConfig().resolve()  # SearchConfig's own defaults, resolved
    assert run_config(SearchConfig(population=4), generations=2) == SearchConfig(population=4, generations=2).resolve()
    with pytest.raises(UsageError, match="populaton"):
        EvolutionMonitor.launch(tmp_path / "typo", populaton=8)  # a typo is an error, not a field
    with pytest.raises(ValueError, match="pm"):
        EvolutionMonitor.launch(tmp_path / "bad", fitness="toy", pm=2)
    with pytest.raises(ValueError, match="kind"):
        EvolutionMonitor.launch(tmp_path / "bad", kind="evolution")
    assert not (tmp_path / "typo").exists() and not (tmp_path / "bad" / "run.sqlite").exists()


def test_monitor_launches_watches_and_reattaches(tmp_path):
    from genet_lab.evolution.store import RunStore
    from genet_lab.widgets import EvolutionMonitor

    run = tmp_path / "run"
    mon = EvolutionMonitor.launch(run, fitness="toy", population=6, generations=3, seed=2, interval=0.2, poll=False)
    assert mon.command[3:] == ["evolve", "--resume", str(run), "--json"]  # the run was created from the config
    assert (mon.config.population, mon.config.generations, mon.config.seed) == (6, 3, 2)
    snap = mon.wait(timeout=120, interval=0.2)
    assert snap.state == "finished" and mon.process.exit().returncode == 0
    with RunStore(run, readonly=True) as store:
        gens = store.generations()
        best = store.status().best
    assert [g.gen for g in snap.generations] == [0, 1, 2, 3]
    assert mon.table.value.count("<tr>") == 1 + len(gens)  # header + Table 1 rows
    assert f"{gens[-1].mean:.2f}" in mon.table.value and gens[-1].best in mon.table.value
    assert mon.plot.value[:4] == b"\x89PNG"
    assert best in mon.best.value
    if have_dot():
        assert "<svg" in mon.best.value
    assert mon.progress.value == mon.progress.max == 6 * 4
    assert "run finished" in mon.events_view.value
    mon.close()
    # attach to the finished run, refreshing from a background thread
    again = EvolutionMonitor(run, interval=0.1)
    again.start_polling()
    again._poller.join(timeout=30)
    assert not again._poller.is_alive() and again.state == again.snapshot.state == "finished"
    assert again.table.value == mon.table.value
    again.close()


def test_monitor_waits_for_a_run_and_cancels_it(tmp_path):
    from genet_lab.errors import UsageError
    from genet_lab.widgets import EvolutionMonitor

    early = EvolutionMonitor(tmp_path / "not-yet")
    assert early.refresh() is None and early.state == "waiting" and "waiting" in early.title.value
    run = tmp_path / "long"
    mon = EvolutionMonitor.launch(run, fitness="toy", population=4, generations=100_000, interval=0.2)
    deadline = time.monotonic() + 60
    while (mon.refresh() is None or len(mon.snapshot.generations) < 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mon.cancel() is not None
    snap = mon.refresh()
    assert not mon.process_running and snap.state == "stopped" and not mon.process.exit().failed
    assert len(snap.generations) >= 2
    assert mon.wait(timeout=10).state == "stopped"  # a cancelled run is not an error
    with pytest.raises(UsageError, match="already holds a run"):
        EvolutionMonitor.launch(run, fitness="toy")
    mon.close()


def test_train_panel_reads_a_data_dir(tmp_path, monkeypatch, one_thread):
    from PIL import Image

    from genet_lab.widgets import TrainPanel

    monkeypatch.setenv("GENET_LAB_CACHE", str(tmp_path / "cache"))
    for c, shade in (("dark", 40), ("light", 210)):  # two trivially separable classes
        folder = tmp_path / "imgs" / "train" / c
        folder.mkdir(parents=True)
        for i in range(20):
            Image.new("RGB", (8, 8), (shade + i, shade, shade)).save(folder / f"{i}.png")
    panel = TrainPanel("zeros", dataset="imagefolder", epochs=1, train_options=CPU_FP32)
    panel.data_dir.value = str(tmp_path / "imgs")
    result = panel.train()
    data = panel.data()
    assert data.classes == ["dark", "light"] and data.image_size == 8 and data.in_channels == 3
    assert not result.failed and panel.results[-1]["dataset"] == "imagefolder"


def _no_images(tmp_path):
    """A run whose process fails once it loads the data: an image folder with no class folder."""
    (tmp_path / "empty").mkdir()
    return dict(dataset="imagefolder", data_dir=str(tmp_path / "empty"), population=2, generations=0)


def test_monitor_polls_a_launched_run_until_its_process_ends(tmp_path):
    from genet_lab.widgets import EvolutionMonitor

    mon = EvolutionMonitor.launch(tmp_path / "run", fitness="toy", population=4, generations=2, interval=0.1)
    assert mon.auto.value and mon._poller.is_alive()
    mon._poller.join(timeout=60)
    assert not mon._poller.is_alive() and not mon.auto.value
    assert mon.state == "finished" and len(mon.snapshot.generations) == 3
    bad = EvolutionMonitor.launch(tmp_path / "bad", interval=0.1, **_no_images(tmp_path))
    bad._poller.join(timeout=120)  # a process that dies early ends the polling too
    assert not bad._poller.is_alive() and bad.state == "failed"
    mon.close()
    bad.close()


def test_monitor_reports_a_failed_run_process(tmp_path):
    from genet_lab.widgets import EvolutionMonitor

    mon = EvolutionMonitor.launch(tmp_path / "bad", interval=0.1, poll=False, **_no_images(tmp_path))
    with pytest.raises(RuntimeError, match=r"exited with status 2:\n(.*\n)*error: "):
        mon.wait(timeout=120)
    assert mon.state == "failed"
    assert "error:" in mon.events_view.value
    assert mon.process.exit().error.startswith("error: ")
    mon.close()


def test_run_process_kills_what_ignores_sigterm(tmp_path):
    import sys

    from genet_lab.supervisor import RunProcess

    stubborn = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('error: ignoring you', file=sys.stderr, flush=True); time.sleep(600)"
    )
    proc = RunProcess([sys.executable, "-c", stubborn])
    deadline = time.monotonic() + 30
    while "ignoring" not in proc.tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.pause()
    assert proc.paused
    ended = proc.stop(timeout=0.5)  # SIGTERM is ignored: SIGKILL after 0.5 s
    assert ended.returncode == -9 and ended.stopped and not ended.failed
    assert ended.error == "error: ignoring you" and not proc.running and not proc.paused
    proc.close()


def test_train_panel_names_the_epoch_in_progress():
    from genet_lab.training.config import TrainProgress as TrainingProgress  # the trainer's own record
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain", epochs=8, train_size=120, train_options=CPU_FP32)
    panel._on_progress(TrainingProgress(epoch=1, epochs=8, step=3, steps=80, loss=2.0, val_accuracy=None))
    assert panel.progress.description == "epoch 1/8" and panel.progress.value == 3
    assert panel.status.value == "training loss 2.000"
    panel._on_progress(TrainingProgress(epoch=1, epochs=8, step=10, steps=80, loss=1.5, val_accuracy=0.5))
    assert panel.status.value.startswith("epoch 1/8 done") and "validation 50" in panel.status.value
    # the browser showed "epoch 2/8" beside a bar under 1/8: the label is now the bar's own, sent with
    # it in one message (hold_sync; tests/browser checks what the page shows)
    panel._on_progress(TrainingProgress(epoch=2, epochs=8, step=11, steps=80, loss=1.4, val_accuracy=None))
    assert panel.progress.description == "epoch 2/8" and 1 / 8 < panel.progress.value / 80 <= 2 / 8


def test_train_panel_status_never_runs_ahead_of_the_bar(one_thread):
    from genet_lab.widgets import TrainPanel

    panel = TrainPanel("chain", epochs=3, train_size=120, train_options=CPU_FP32)
    seen = []
    # the status is set after each update of the bar: what a person sees once an update is through
    panel.status.observe(
        lambda ch: seen.append((panel.progress.description, panel.progress.value, panel.progress.max, ch["new"])),
        "value",
    )
    panel.train()
    checked = 0
    for label, value, top, status in seen:
        m = re.fullmatch(r"epoch (\d+)/(\d+)", label)
        if not m:
            continue  # loading, or the result
        epoch, epochs = int(m[1]), int(m[2])
        assert (epoch - 1) / epochs < value / top <= epoch / epochs, (label, value, top)
        done = re.match(r"epoch (\d+)/\d+ done", status)
        assert done is None or int(done[1]) / epochs <= value / top, (status, value, top)
        checked += 1
    assert checked >= 6, seen  # at least two steps per epoch were seen


def test_train_panel_legend_covers_no_curve():
    from genet_lab.widgets import TrainPanel
    from genet_lab.widgets._render import figure_png

    panel = TrainPanel("chain")
    panel.results = [{"label": f"design {n} with a long name", "curve": [0.1 * n, 0.5, 0.9, 0.95]} for n in range(5)]
    fig = panel.figure()
    figure_png(fig)  # lays the figure out as the panel shows it
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    assert box.x1 <= fig.bbox.x1 + 1  # and it stays inside the picture


def test_figure3_with_one_generation_has_integer_ticks():
    from genet_lab.widgets._render import figure3, figure_png

    for n in (1, 2, 11):
        fig = figure3([{"gen": g, "mean": 50.0, "min": 40.0, "max": 60.0} for g in range(n)])
        figure_png(fig)
        ax = fig.axes[0]
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), (n, ticks)
        assert lo < 0 and hi > n - 1
