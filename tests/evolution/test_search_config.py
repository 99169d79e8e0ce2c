"""SearchConfig.resolve (issue 20): the one place a search's defaults are applied and checked,
SearchConfig.paper, and stored configs read exactly as they were run."""

from __future__ import annotations

import numpy as np
import pytest

from genet_lab.encoding import genome as gn
from genet_lab.errors import ConfigError
from genet_lab.evolution.config import SearchConfig
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.training import catalog


def test_the_defaults_are_the_laptop_budget_and_paper_is_the_paper():
    c = SearchConfig()
    assert (c.population, c.generations, c.dataset, c.preset) == (10, 10, "digits", catalog.DEFAULT_PRESET)
    p = SearchConfig.paper().resolve()
    assert (p.population, p.generations, p.stages, p.dataset, p.epochs) == (20, 50, (3, 4, 5), "cifar10", 240)
    assert (p.pm, p.qm, p.pc, p.qc, p.init) == (0.8, 0.05, 0.2, 0.2, "random")
    assert p.train.to_dict() == {"recipe": "paper", "schedule": "paper-full", "batch_size": 128}
    assert SearchConfig.paper(kind="random", population=4).resolve().population == 4


@pytest.mark.parametrize("dataset", catalog.list_datasets())
def test_resolve_takes_the_data_sets_budget_and_stores_it(dataset):
    budget = catalog.dataset(dataset)
    c = SearchConfig(dataset=dataset).resolve()
    assert (c.epochs, c.train.batch_size, c.train.recipe) == (budget.epochs, budget.batch_size, "fast")
    assert c.resolve() == c  # idempotent
    assert SearchConfig(dataset=dataset, epochs=2, train={"batch_size": 8}).resolve().train.batch_size == 8
    assert SearchConfig(dataset=dataset, fitness="toy").resolve().train.batch_size is None  # nothing trains


def test_a_named_start_takes_its_own_stages():
    c = SearchConfig(init="residual-40", init_flips=1, population=3).resolve()
    assert c.stages == gn.RESIDUAL40_STAGES
    base = gn.residual_40()
    for g in initial_population(c, initial_rng(c)):
        assert sum(a != b for a, b in zip(g.bits, base.bits)) == 1  # the 40-layer genome, 1 bit flipped
    assert SearchConfig(init="residual-40", stages=(11, 11, 11)).resolve().stages == (11, 11, 11)
    assert SearchConfig(init="chain", stages=(2, 3)).resolve().stages == (2, 3)  # chain fits any stages
    assert SearchConfig(init="paper-best").resolve().stages == (3, 4, 5)


@pytest.mark.parametrize(
    ("init", "stages", "own"),
    [("residual-40", (3, 4, 5), "11,11,11"), ("paper-best", (2, 3), "3,4,5"), ("1-01 0-01-100", (3, 4, 5), "3,4")],
)
def test_other_stages_than_the_starts_own_are_one_line(init, stages, own):
    with pytest.raises(ConfigError) as info:
        SearchConfig(init=init, stages=stages).resolve()
    text = str(info.value)
    assert f"has its own stages {own}, but stages {','.join(map(str, stages))} were given" in text
    assert "--" not in text  # the core names fields; the CLI words them as flags
    assert "--stages" in info.value.format(lambda name: "--" + name)


def test_a_genome_written_out_is_the_base_of_generation_0():
    c = SearchConfig(init="  1-01   0-01-100 ", init_flips=0, population=2).resolve()
    assert (c.init, c.stages) == ("1-01 0-01-100", (3, 4))
    assert initial_population(c, initial_rng(c)) == [gn.parse("1-01 0-01-100")] * 2
    bits = SearchConfig(init=gn.chain().bitstring(), init_flips=0, population=2).resolve()
    assert (bits.init, bits.stages) == (gn.chain().notation(), (3, 4, 5))
    with pytest.raises(ConfigError, match="init '1-0' is not a genome"):
        SearchConfig(init="1-0").resolve()


def test_a_genome_file_is_read_into_the_config(tmp_path):
    path = tmp_path / "start.txt"
    path.write_text("# two genomes\nchain\n1-01 0-01-100 0-11-101-0001\n")
    c = SearchConfig(init=str(path)).resolve()
    assert (c.init, c.population, c.stages) == ("file", 2, (3, 4, 5))
    assert c.init_genomes == (gn.chain().notation(), gn.TABLE1_BEST)
    path.unlink()
    assert c.resolve() == c  # the run never needs the file again
    assert initial_population(c, initial_rng(c)) == [gn.chain(), gn.paper_best()]
    path.write_text("chain\n")
    with pytest.raises(ConfigError, match="lists 1 genomes but population is 3"):
        SearchConfig(init=str(path), population=3).resolve()
    with pytest.raises(ConfigError, match="start.txt:1"):
        path.write_text("wrn\n")
        SearchConfig(init=str(path)).resolve()
    with pytest.raises(ConfigError, match="does not exist"):
        SearchConfig(init=str(tmp_path / "missing.txt")).resolve()


def test_the_objective_is_normalised_and_checked():
    assert SearchConfig(objective=" params:1.0").resolve().objective == "params:1"
    assert SearchConfig(objective="macs:0.25").resolve().objective == "macs:0.25"
    with pytest.raises(ConfigError, match="unknown objective"):
        SearchConfig(objective="accuracy-1").resolve()


@pytest.mark.parametrize(
    "bad",
    [
        dict(population=1),
        dict(generations=-1),
        dict(pm=2.0),
        dict(epochs=0),
        dict(val_size=0),
        dict(fitness="proxy", eval_test=True),
        dict(preset="vgg"),
        dict(dataset="imagenet21k"),
        dict(init="chain", init_flips=99, stages=(2,)),
        dict(init="paper-best", init_flips=99),
        dict(population=10**6),
        dict(epochs=20, train={"schedule": "paper-full"}),
        dict(init="wrn"),
    ],
)
def test_bad_configs_are_config_errors_naming_fields_not_flags(bad):
    with pytest.raises(ConfigError) as info:
        SearchConfig(**bad).resolve()
    assert "--" not in str(info.value) and info.value.option in SearchConfig.__dataclass_fields__


def test_a_stored_run_resumes_as_it_was_stored():
    # genet-lab before issue 20: residual-40 on the default stages, no batch size stored (the
    # trainer's 128 for Fashion-MNIST), epochs always stored
    old = SearchConfig(dataset="fashion-mnist", init="residual-40").resolve().to_dict()
    old.update(stages=[3, 4, 5], epochs=1, train={"recipe": "fast"})
    c = SearchConfig.from_stored(old)
    assert (c.stages, c.epochs, c.train.batch_size) == ((3, 4, 5), 1, 128)
    assert np.array_equal(gn.named("residual-40", (3, 4, 5)).bits, gn.residual((3, 4, 5)).bits)
    digits = {**old, "dataset": "digits"}
    assert SearchConfig.from_stored(digits).train.batch_size is None  # 32 then and now
    new = SearchConfig(dataset="fashion-mnist").resolve()
    assert SearchConfig.from_stored(new.to_dict()) == new


CORE_MODULES = ("evolution/config.py", "evolution/overrides.py", "evolution/objective.py", "evolution/run.py",
                "evolution/store.py", "training/recipes.py")  # fmt: skip


@pytest.mark.parametrize("module", CORE_MODULES)
def test_no_message_of_the_core_names_a_flag(module):
    """Lower layers name config fields; only genet_lab/cli words them as flags (docstrings may
    say how a front end is used)."""
    import ast
    import re
    from pathlib import Path

    import genet_lab

    tree = ast.parse((Path(genet_lab.__file__).parent / module).read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
        if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    texts = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]
    assert [t for t in texts if re.search(r"(^|\s)--[a-z]", t)] == []
