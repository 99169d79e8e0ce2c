"""PopulationSeeder driven from code: the SearchConfig its controls say, and its generation 0 is
exactly the one a run of that config starts from."""

from __future__ import annotations

import pytest

from genet_lab.encoding.draw import have_dot
from genet_lab.encoding.genome import chain, parse, zeros
from genet_lab.widgets import GenomeEditor, PopulationSeeder

needs_dot = pytest.mark.skipif(not have_dot(), reason="graphviz 'dot' not installed")


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
    assert s.config.init == str(path) and s.resolved.init == "file"  # resolve reads the file
    assert s.resolved.init_genomes == tuple(map(str, saved)) and s.resolved.population == 5
    s.path.value = str(tmp_path / "missing.txt")
    s.reseed()
    assert "does not exist" in s.error.value and len(s.population) == 5


def test_seeder_starts_from_search_configs_defaults_and_keeps_the_rest_of_a_config():
    from genet_lab.evolution.config import SearchConfig
    from genet_lab.training.catalog import DATASETS

    s = PopulationSeeder(use_dot=False)
    assert s.resolved == SearchConfig().resolve()  # every control at SearchConfig's own default
    assert (s.mode.value, s.n.value, s.stages.value) == ("random", SearchConfig().population, "3,4,5")
    base = SearchConfig(dataset="mnist", population=6, init="zeros", seed=4, reuse_structures=True)
    s = PopulationSeeder(config=base, use_dot=False)
    assert (s.mode.value, s.n.value, s.seed_box.value) == ("zeros", 6, 4)
    assert s.resolved == base.resolve() and s.resolved.epochs == DATASETS["mnist"].epochs
    s.n.value = 8
    s.reseed()
    assert s.resolved == base.with_overrides(population=8).resolve() and len(s.population) == 8
    assert s.config.epochs is None  # kept unresolved: a run of it on another data set gets that one's budget
    again = PopulationSeeder(config=s.config.with_overrides(dataset="cifar10"), use_dot=False)
    assert again.population == s.population and again.resolved.epochs == DATASETS["cifar10"].epochs


def test_seeder_editor_start_is_the_editor_genome_in_notation():
    ed = GenomeEditor("1-00-111 0-10-000-0011")  # Figure 1: stages (4, 5)
    s = PopulationSeeder(mode="editor", n=4, flips=1, editor=ed, use_dot=False)
    assert "editor" in s.mode.options
    assert s.config.init == ed.genome.notation() and s.config.init_flips == 1 and s.resolved.stages == (4, 5)
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
