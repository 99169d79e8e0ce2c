"""What a search is asked to do: :class:`SearchConfig`, the training overrides it carries, and
:meth:`SearchConfig.resolve`, the one place a search's defaults are applied and checked.

Every front end (the CLI, the TUI, the widgets, a script) builds a SearchConfig with what its
user chose and calls :meth:`~SearchConfig.resolve` (or :func:`genet_lab.evolution.run.create_run`,
which stores the result): the data set's budget (epochs, batch size), the recipe, the stages of a
named start, a genome file read into the config, the objective normalised, the size checked.
A run stores the resolved ``to_dict()`` as JSON and is resumed from
:meth:`SearchConfig.from_stored` exactly as stored, so a later default never changes a run.

Errors are :class:`~genet_lab.errors.ConfigError` naming the config field; the front ends word
it (the CLI as a flag). Knows the genome space, the presets and the catalog; no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from genet_lab.encoding.genome import NAMED, PAPER_STAGES, RENAMED, Genome, named, parse, parse_stages, renamed_error
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import ConfigError, reject_unknown_keys
from genet_lab.evolution import operators as ops
from genet_lab.evolution.fitness_names import FITNESS_ACCEPTED, FITNESS_KINDS, TABLE_PREFIX, UNITS, table_ref
from genet_lab.evolution.objective import OBJECTIVE_HELP, apply_objective, normal_objective, parse_objective
from genet_lab.evolution.overrides import TrainOverrides
from genet_lab.evolution.strategies import check_strategy
from genet_lab.training import catalog, proxies
from genet_lab.training.recipes import DEFAULT_RECIPE, PAPER_FULL_EPOCHS, check_paper_full, check_recipe

DEFAULT_STAGES: tuple[int, ...] = PAPER_STAGES
"""The stages of a search whose start has none of its own (random, zeros, chain, ...)."""
EVAL_THREADS = 1
"""torch CPU threads of a process that evaluates a search (not stored: an execution choice).
Tiny networks run best on one thread, and a shared machine suffers from more."""
MAX_POPULATION = 100_000
"""The largest N: a generation is held in memory and stored in one transaction."""
MAX_GENERATIONS = 100_000
"""The largest T."""
MAX_GENERATION_BITS = 10_000_000
"""The largest N x L (genome length in bits): one generation's bit strings."""
STORED_BATCH_SIZE = {"mnist": 128, "fashion-mnist": 128}
"""The batch a run stored without one trained at, where the data set's budget has changed since
(issue 20 made it 32): :meth:`SearchConfig.from_stored` keeps it. New runs store their batch size."""


__all__ = [
    "DEFAULT_STAGES",
    "EVAL_THREADS",
    "FITNESS_ACCEPTED",
    "FITNESS_KINDS",
    "OBJECTIVE_HELP",
    "SearchConfig",
    "TABLE_PREFIX",
    "TrainOverrides",
    "UNITS",
    "apply_objective",
    "check_size",
    "extend",
    "normal_objective",
    "parse_objective",
    "table_ref",
]


def _literal(text: str) -> str:
    """``text`` as part of a :class:`ConfigError` template (its braces are not placeholders)."""
    return text.replace("{", "{{").replace("}", "}}")


# -- the search -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchConfig:
    """A search (kind "ga", the paper's; "random", "aging", "local": :mod:`.strategies`) and its evaluator.

    The defaults are the laptop budget every front end starts from (an evolution on the embedded
    digits within minutes on 2 CPU cores, docs/experiments.md); :meth:`paper` is the paper's
    CIFAR-10 process. None and ``()`` mean "resolved by :meth:`resolve`"."""

    kind: str = "ga"
    population: int = 10
    """N, individuals per generation (the paper: 20)."""
    generations: int = 10
    """T, generations after the initial one (T + 1 evaluated generations; the paper: 50)."""
    pm: float = 0.8
    """p_M, probability that an individual outside a crossover is mutated."""
    qm: float = 0.05
    """q_M, probability that a bit of a mutated individual flips."""
    pc: float = 0.2
    """p_C, probability that a pair (1,2), (3,4), ... is crossed."""
    qc: float = 0.2
    """q_C, probability that a stage of a crossed pair is exchanged."""
    stages: tuple[int, ...] = ()
    """K_1, ..., K_S; empty: the start's own (residual-40: 11,11,11; a genome's), else 3,4,5."""
    init: str = "random"
    """random, zeros, a genome name (chain, residual, dense, residual-40, paper-best: base +
    flips), a genome in the paper's notation (base + flips), a genome file (read into
    ``init_genomes`` by :meth:`resolve`) or file."""
    init_p: float = 0.5
    """Bernoulli probability of a 1 bit for random initialisation."""
    init_flips: int = 2
    """Bits flipped in each copy of a base genome."""
    init_genomes: tuple[str, ...] = ()
    """The genomes of a ``file`` start (read from the file, so the run never needs it again)."""
    fitness: str = "train"
    reuse_structures: bool = False
    aging_population: int = 50
    sample_size: int = 10
    """Aging evolution (kind "aging"): P, the youngest individuals kept alive, and S, each tournament's sample."""
    seed: int = 0
    preset: str = catalog.DEFAULT_PRESET
    dataset: str = catalog.DEFAULT_DATASET
    data_dir: str | None = None
    train_size: int | None = None
    """Training images (None: the data set's default)."""
    val_size: int | None = None
    epochs: int | None = None
    """Training epochs per evaluation; None: 240 with the paper-full schedule (the only length
    it trains), else the data set's budget (:data:`genet_lab.training.catalog.DATASETS`)."""
    eval_test: bool = False
    """Also score every evaluation on the test split (stored beside it, never seen by selection:
    Table 1 on the test set, as the paper reports it)."""
    objective: str = "accuracy"
    """What selection maximises: accuracy, or params:LAMBDA / macs:LAMBDA for accuracy minus
    LAMBDA x log10(parameters / multiply-adds) (see :func:`parse_objective`)."""
    train: TrainOverrides = field(default_factory=TrainOverrides)
    """Other training options (batch_size, lr, device, ...). A mapping is accepted and checked;
    None batch_size becomes the data set's when resolved."""

    def __post_init__(self) -> None:
        # Mappings and lists come from JSON, the CLI and callers of the Python API; fields stay typed.
        if isinstance(self.train, Mapping):
            object.__setattr__(self, "train", TrainOverrides.from_dict(self.train))
        elif not isinstance(self.train, TrainOverrides):
            raise ConfigError(
                "train", self.train, template="{option} must be a mapping of training options, got {value!r}"
            )
        if isinstance(self.stages, str):
            object.__setattr__(self, "stages", parse_stages(self.stages))
        for name in ("stages", "init_genomes"):
            if not isinstance(getattr(self, name), tuple):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        # The recipe is always named, so a later default cannot change a run.
        if self.train.recipe is None:
            object.__setattr__(self, "train", self.train.updated(recipe=DEFAULT_RECIPE))
        else:
            check_recipe(self.train.recipe)

    @classmethod
    def paper(cls, **changes: Any) -> SearchConfig:
        """The paper's CIFAR-10 process (section 4.1.1: N = 20, T = 50, (K_1, K_2, K_3) = (3, 4, 5),
        the revised LeNet, 120/60/40/20 epochs at 1e-2..1e-5, p_M 0.8, q_M 0.05, p_C 0.2, q_C 0.2,
        a random start), with ``changes``."""
        paper = cls(
            population=20,
            generations=50,
            stages=PAPER_STAGES,
            init="random",
            preset=catalog.DEFAULT_PRESET,  # the paper's revised LeNet
            dataset="cifar10",
            epochs=PAPER_FULL_EPOCHS,
            pm=0.8,
            qm=0.05,
            pc=0.2,
            qc=0.2,
            train=TrainOverrides(recipe="paper", schedule="paper-full"),
        )
        return replace(paper, **changes)

    def resolve(self) -> SearchConfig:
        """This config with every default applied and everything checked, as a run stores it.

        The start (stages from a named genome or a genome, a genome file read into
        ``init_genomes``), the data set's budget (epochs, or 240 for paper-full; the batch size
        when the fitness trains), the objective normalised, then :meth:`validated` and
        :func:`check_size`. Reads a genome file; loads no data, imports no torch. Idempotent."""
        table = self._table()
        config = replace(self, stages=self.stages or table.stages) if table else self
        config = config._resolve_start()
        if table:
            config = config._on_table(table)
        budget = catalog.dataset(config.dataset)
        train = config.train
        if config.fitness == "train" and train.batch_size is None:
            train = train.updated(batch_size=budget.batch_size)
        epochs = config.epochs
        if epochs is None:
            epochs = PAPER_FULL_EPOCHS if train.schedule == "paper-full" else budget.epochs
        config = replace(config, train=train, epochs=epochs, objective=normal_objective(config.objective))
        check_size(config.validated())
        return config

    def _table(self) -> Any:
        """The table of a ``table:NAME`` fitness (None for another); one line for an unknown name."""
        from genet_lab.bench.table import load_table

        ref = table_ref(self.fitness)
        return load_table(ref) if ref else None

    def _on_table(self, table: Any) -> SearchConfig:
        """A search on ``table``: its space (other stages are refused, naming it), its data set and
        epochs (what the fitness measured), a table file's path made absolute (a resume elsewhere)."""
        space = ",".join(map(str, table.stages))
        if self.stages != table.stages:
            raise ConfigError(
                "stages",
                ",".join(map(str, self.stages)),
                template=f"the genomes of this search (stages {{value}}) are outside table {table.name}'s space "
                f"(stages {space}); give {{option}} {space} or leave it out",
            )
        s = table.settings
        checks = (("epochs", self.epochs, None, s.epochs), ("dataset", self.dataset, catalog.DEFAULT_DATASET,
                  s.dataset), ("preset", self.preset, catalog.DEFAULT_PRESET, s.preset))  # fmt: skip
        for name, given, default, built in checks:
            if given not in (default, built):
                raise ConfigError(name, given, template=f"table {table.name} has {name} {built}, not {{value}}")
        from genet_lab.bench.table import shipped

        ref = table_ref(self.fitness) or ""
        fitness = self.fitness if ref in shipped() else TABLE_PREFIX + str(Path(table.source).resolve())
        return replace(self, fitness=fitness, dataset=s.dataset, epochs=s.epochs, preset=s.preset)

    def _resolve_start(self) -> SearchConfig:
        """Stages, init and init_genomes resolved (and N for a genome file)."""
        init, stages = self.init, self.stages
        if init in RENAMED:
            raise ConfigError("init", init, template=_literal(str(renamed_error(init))))
        if init in ("random", "zeros"):
            return replace(self, stages=stages or DEFAULT_STAGES)
        if init == "file":
            if not self.init_genomes:
                raise ConfigError("init_genomes", template="the 'file' start needs genomes in {option}")
            return self._with_genomes([self._genome(t) for t in self.init_genomes], "init_genomes")
        if init in NAMED:
            # residual-40 (11,11,11) and paper-best (its bits) have stages of their own; zeros,
            # chain, residual and dense are built on whatever stages are given
            own = named(init).stages
            if stages and stages != own and (own != DEFAULT_STAGES or named(init, stages).stages != stages):
                raise self._clash(own)
            return replace(self, stages=stages or own)
        if set(init) <= set("01- \t"):
            genome = self._genome(init)
            return replace(self, init=genome.notation(), stages=genome.stages)
        try:
            genomes = ops.read_genome_file(init, stages or None)
        except ValueError as exc:
            raise ConfigError("init", init, template=_literal(str(exc))) from None
        return self._with_genomes(genomes, init)

    def _genome(self, text: str) -> Genome:
        """A genome written in ``init`` or ``init_genomes``: the paper's notation, or plain bits on
        the stages given (3,4,5 when none were); other stages given than the notation's clash."""
        plain = "-" not in text and len(text.split()) == 1 and len(text.strip()) > 1
        try:
            genome = parse(text, (self.stages or DEFAULT_STAGES) if plain else None)
        except ValueError as exc:
            raise ConfigError(
                "init", text, template="{option} {value!r} is not a genome: " + _literal(str(exc))
            ) from None
        if self.stages and genome.stages != self.stages:
            raise self._clash(genome.stages)
        return genome

    def _clash(self, own: tuple[int, ...]) -> ConfigError:
        words = ",".join(map(str, own))
        return ConfigError(
            "stages",
            ",".join(map(str, self.stages)),
            template="{init} " + _literal(self.init) + f" has its own stages {words}, but {{option}} {{value}} "
            f"were given; leave {{option}} out or give {words}",
            also=("init",),
        )

    def _with_genomes(self, genomes: list[Genome], source: str) -> SearchConfig:
        shapes = sorted({g.stages for g in genomes})
        if len(shapes) > 1:
            raise ConfigError(
                "init", source, template="{value} lists genomes of different stage sizes: " + _literal(str(shapes))
            )
        if self.stages and shapes[0] != self.stages:
            raise self._clash(shapes[0])
        n = self.population
        if n != len(genomes) and n != _field_default("population"):
            raise ConfigError(
                "population",
                n,
                template=_literal(source) + f" lists {len(genomes)} genomes but {{option}} is {{value}}",
            )
        texts = tuple(g.notation() for g in genomes)
        return replace(self, init="file", init_genomes=texts, stages=shapes[0], population=len(genomes))

    def validated(self) -> SearchConfig:
        """This config if every field holds an accepted value (a resolved config: see :meth:`resolve`)."""
        check_strategy(self)  # the kind, and aging evolution's P and S
        if self.population < 2:
            raise ConfigError(
                "population",
                self.population,
                template="{option} must be at least 2 (selection needs a worst and a best), got {value}",
            )
        if self.generations < 0:
            raise ConfigError("generations", self.generations, template="{option} must be >= 0, got {value}")
        if not 0 <= int(self.seed) < 2**63:
            raise ConfigError(
                "seed",
                self.seed,
                template="{option} must be an integer in [0, 2^63) (stored as a SQLite integer), got {value!r}",
            )
        if self.val_size is not None and self.val_size < 1:
            raise ConfigError(
                "val_size", self.val_size, template="{option} must be >= 1: a search measures on validation images"
            )
        if self.epochs is None or self.epochs < 1:
            raise ConfigError("epochs", self.epochs, template="{option} must be >= 1, got {value}")
        check_paper_full(self.train.schedule, self.epochs)
        if self.init in RENAMED:
            raise ConfigError("init", self.init, template=_literal(str(renamed_error(self.init))))
        for name in ("pm", "qm", "pc", "qc", "init_p"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(name, v, template="{option} is a probability and must be in [0, 1], got {value}")
        if self.fitness not in FITNESS_ACCEPTED and not table_ref(self.fitness):
            raise ConfigError("fitness", self.fitness, accepted=FITNESS_ACCEPTED, what="fitness")
        if self.eval_test and proxies.fitness_proxy(self.fitness):
            raise ConfigError(
                "eval_test",
                template="{option} needs a fitness that trains (train; toy for tests): the proxy score has no "
                "test accuracy",
            )
        parse_objective(self.objective)
        if not self.stages:
            raise ConfigError("stages", template="{option} are not resolved: call SearchConfig.resolve() first")
        ops.stage_bounds(self.stages)
        try:
            get_preset(self.preset)
        except ValueError as exc:
            raise ConfigError("preset", self.preset, template=_literal(str(exc))) from None
        return self

    def to_dict(self) -> dict[str, Any]:
        """The stored format: JSON types only, ``train`` with the options that were set."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["stages"] = list(self.stages)
        d["init_genomes"] = list(self.init_genomes)
        d["train"] = self.train.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        """Inverse of :meth:`to_dict`: missing keys take their defaults, unknown keys are an error;
        nothing is resolved (call :meth:`resolve` for a new run, :meth:`from_stored` for a stored one)."""
        reject_unknown_keys(data, cls, "search config keys")
        kw = dict(data)
        if kw.get("train") is None:
            kw.pop("train", None)
        return cls(**kw)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> SearchConfig:
        """A config read from a run store, exactly as it was run (never re-resolved): a run stored
        before recipes existed (no ``train.recipe``) was trained with, and resumes with, the legacy
        recipe; one stored without a batch size keeps the batch it trained at
        (:data:`STORED_BATCH_SIZE`); a genome renamed since (``init: wrn``) is read under its new
        name, the same bits. A run stored with the paper-full schedule and other than 240 epochs
        trained at a constant 1e-2 (the schedule counted absolute epochs); it is refused, saying so."""
        train = dict(data.get("train") or {})
        train.setdefault("recipe", "legacy")
        if data.get("fitness", "train") == "train" and data.get("dataset") in STORED_BATCH_SIZE:
            train.setdefault("batch_size", STORED_BATCH_SIZE[data["dataset"]])
        if train.get("schedule") == "paper-full" and data.get("epochs", PAPER_FULL_EPOCHS) != PAPER_FULL_EPOCHS:
            raise ConfigError(
                "schedule",
                data.get("epochs"),
                template="this run was stored with schedule paper-full and {value} epochs, which trained at a "
                "constant 1e-2 (paper-full counts the paper's 240 epochs); it cannot be resumed: start a new "
                "run with {option} paper or {epochs} 240",
                also=("epochs",),
            )
        init = RENAMED.get(data.get("init", ""), data.get("init"))
        return cls.from_dict({**data, "train": train, **({"init": init} if "init" in data else {})}).validated()

    def with_overrides(self, **overrides: Any) -> SearchConfig:
        """This config with some fields replaced (``train`` as a mapping or :class:`TrainOverrides`),
        not resolved. Override an unresolved config: a resolved one has its data set's epochs and
        batch size written in, and keeps them when the data set changes."""
        return SearchConfig.from_dict({**self.to_dict(), **overrides})


def _field_default(name: str) -> Any:
    return next(f.default for f in fields(SearchConfig) if f.name == name)


def check_size(config: SearchConfig) -> None:
    """Refuse a search too large to hold (N, T, N x L), or more flips than bits, in one line,
    before anything is made."""
    n, t = config.population, config.generations
    length = int(ops.stage_bounds(config.stages)[-1])
    if n > MAX_POPULATION:
        raise ConfigError(
            "population",
            n,
            template=f"population N = {{value}} is too large; at most {MAX_POPULATION:,} individuals per generation",
        )
    if t > MAX_GENERATIONS:
        raise ConfigError(
            "generations", t, template=f"generations T = {{value}} is too large; at most {MAX_GENERATIONS:,}"
        )
    if config.init not in ("random", "zeros", "file") and config.kind != "random" and config.init_flips > length:
        raise ConfigError(
            "init_flips",
            config.init_flips,
            template=f"{{option}} must be at most L = {length} (the genome's bits), got {{value}}",
        )
    if n * length > MAX_GENERATION_BITS:
        raise ConfigError(
            "population",
            n,
            template=f"population N = {{value}} of {length}-bit genomes is too large: N x L must be at most "
            f"{MAX_GENERATION_BITS:,} bits; use a smaller population or fewer stages",
        )


def extend(config: SearchConfig, generations: int) -> SearchConfig:
    """The same search with another T (resume may extend a finished run)."""
    return replace(config, generations=int(generations)).validated()
