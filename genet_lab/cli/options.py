"""The command line's options, each defined once: how it parses, its help and its default.

Subcommands add whole groups (:func:`add_data`, :func:`add_training`, :func:`add_search`,
:func:`add_output`) or single options (:func:`add`), so ``--json``, ``--stages``, ``--preset``
or ``--lr`` parse the same way everywhere. Defaults shown in the help come from the config
classes and the catalog (:class:`~genet_lab.evolution.config.SearchConfig`,
:mod:`genet_lab.training.catalog`); choices from the catalog's lists. :func:`flag` turns a config
field named in a :class:`~genet_lab.errors.ConfigError` into the flag a user types.
No torch.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from typing import Any

from genet_lab.encoding.genome import parse_stages
from genet_lab.evolution.config import (
    EVAL_THREADS,
    FITNESS_ACCEPTED,
    OBJECTIVE_HELP,
    TABLE_PREFIX,
    SearchConfig,
)
from genet_lab.training import catalog
from genet_lab.training.recipes import PAPER_FULL_EPOCHS, RECIPE_HELP

# -- parsers: each raises argparse.ArgumentTypeError with what was expected ------------------------


def int_at_least(minimum: int, wanted: str):
    """An argparse type: an integer >= ``minimum``; errors say ``expected <wanted>``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    return parse


positive_int = int_at_least(1, "a positive integer")
nonneg_int = int_at_least(0, "an integer >= 0")

SEED_LIMIT = 2**63
"""Seeds are stored as SQLite integers and fed to numpy and torch: 0 <= seed < 2^63."""


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2^63), got {value}")
    return value


def cpu_threads(text: str, zero_ok: bool = False) -> int:
    """A thread count between 1 (0 with ``zero_ok``) and this machine's CPU count: asking OpenMP
    for 100000 threads exhausted memory with a traceback."""
    most = os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not (0 if zero_ok else 1) <= value <= most:
        low = 0 if zero_ok else 1
        raise argparse.ArgumentTypeError(
            f"expected a thread count from {low} to {most} (this machine's CPUs), got {text!r}"
        )
    return value


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def fitness_kind(text: str) -> str:
    """train, proxy, toy, proxy:NAME or table:NAME (the table itself is read when the search is resolved)."""
    if text in FITNESS_ACCEPTED or (text.startswith(TABLE_PREFIX) and len(text) > len(TABLE_PREFIX)):
        return text
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(FITNESS_ACCEPTED)}, got {text!r}")


def probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {v}")
    return v


def stage_sizes(text: str | None) -> tuple[int, ...] | None:
    """The value of ``--stages`` (None when not given): every command reads it with this, after
    parsing, so a bad one is the core's one-line error (:func:`~genet_lab.encoding.genome.parse_stages`)."""
    return None if text is None else parse_stages(text)


# -- the options --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One command-line option: its flags and its argparse keywords (default None: not given)."""

    flags: tuple[str, ...]
    kw: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flags[-1].lstrip("-").replace("-", "_")


def _search_default(name: str) -> Any:
    return next(f.default for f in fields(SearchConfig) if f.name == name)


def _opt(*flags: str, **kw: Any) -> Option:
    return Option(flags, kw)


_DATASETS = ", ".join(catalog.list_datasets())
_PAPER = SearchConfig.paper()

OPTIONS: dict[str, Option] = {
    o.dest: o
    for o in (
        # data
        _opt("--dataset", choices=catalog.list_datasets(), metavar="NAME", help=f"data set: {_DATASETS} (default "
             f"{catalog.DEFAULT_DATASET}, embedded)"),
        _opt("--data-dir", metavar="DIR", help="local copy of the data set (torchvision's layout, idx files, or "
             "train/<class>/* for imagefolder)"),
        _opt("--train-size", type=positive_int, help="train on a stratified subset of N images (default: all of "
             "the training split)"),
        _opt("--val-size", type=nonneg_int, help="validation images carved from the training set (default: "
             "10000 for the large sets, 20%% otherwise; 0: none, train on the whole training set and judge on "
             "the test set; a search needs some)"),
        # training
        _opt("--epochs", type=positive_int, help=f"training epochs (default: the data set's budget, "
             f"{catalog.dataset(catalog.DEFAULT_DATASET).epochs} for {catalog.DEFAULT_DATASET}; with --schedule "
             f"paper-full {PAPER_FULL_EPOCHS}, the only length it trains)"),
        _opt("--batch-size", type=positive_int, help="images per SGD step (default: the data set's budget, "
             f"{catalog.dataset(catalog.DEFAULT_DATASET).batch_size} for {catalog.DEFAULT_DATASET})"),
        _opt("--recipe", choices=catalog.list_recipes(), help=f"how to train: {RECIPE_HELP}"),
        _opt("--lr", type=number, help="peak learning rate (default: the recipe's)"),
        _opt("--schedule", choices=catalog.SCHEDULES, help="learning-rate schedule (default: the recipe's): "
             "paper (120/60/40/20 at 1e-2..1e-5 scaled to --epochs), paper-full (the paper as is, 240 epochs; "
             "other --epochs refused), onecycle, cosine, constant"),
        _opt("--device", help="training device: auto, cpu, cuda, cuda:N or mps (default auto)"),
        _opt("--momentum", type=number, help="SGD momentum (default 0.9)"),
        _opt("--weight-decay", type=number, help="SGD weight decay (default 5e-4)"),
        _opt("--precision", choices=("auto", "fp32", "bf16"), help="auto measures which is faster"),
        _opt("--channels-last", choices=("auto", "on", "off"), help="auto measures which is faster"),
        _opt("--augment", choices=("auto", "none", "crop", "crop+flip"), help="batch augmentation"),
        _opt("--threads", type=lambda t: cpu_threads(t, zero_ok=True), help="CPU threads (default 0: measure "
             "whether torch's setting beats one thread)"),
        # search
        _opt("-N", "--population", type=positive_int, help=f"N, individuals per generation (default "
             f"{_search_default('population')}; paper {_PAPER.population})"),
        _opt("-T", "--generations", type=nonneg_int, help=f"T, generations after the initial one (default "
             f"{_search_default('generations')}; paper {_PAPER.generations})"),
        _opt("--stages", metavar="K1,K2,...", help="stage sizes, e.g. 3,4,5 (each K <= 7)"),
        _opt("--seed", type=seed_int, help=f"seed (default {_search_default('seed')})"),
        _opt("--init", help="random (default), zeros, a genome name (residual-40, chain, residual, dense, "
             "paper-best: copies with --init-flips bits flipped, on the name's own stages), a genome in the "
             "paper's notation (copies likewise) or a file of genomes"),
        _opt("--init-p", type=probability, help=f"probability of a 1 bit for --init random (default "
             f"{_search_default('init_p')}, the paper's)"),
        _opt("--init-flips", type=nonneg_int, help=f"bits flipped in each copy of a base genome (default "
             f"{_search_default('init_flips')})"),
        _opt("--pm", type=probability, help="p_M, mutation probability per individual (default "
             f"{_search_default('pm')})"),
        _opt("--qm", type=probability, help=f"q_M, flip probability per bit (default {_search_default('qm')})"),
        _opt("--pc", type=probability, help=f"p_C, crossover probability per pair (default {_search_default('pc')})"),
        _opt("--qc", type=probability, help=f"q_C, exchange probability per stage (default {_search_default('qc')})"),
        _opt("--aging-population", type=positive_int, metavar="P", help="--strategy aging: the P most recently "
             f"evaluated individuals kept alive (default {_search_default('aging_population')})"),
        _opt("--sample-size", type=positive_int, metavar="S", help="--strategy aging: individuals drawn for each "
             f"tournament, 1 <= S <= P (default {_search_default('sample_size')})"),
        _opt("--fitness", type=fitness_kind, metavar="KIND", help="train (default), proxy: NASWOT score without "
             "training, proxy:NAME: a zero-cost proxy at initialisation (synflow, snip, grad_norm, jacob_cov, "
             "naswot; see bench estimators), toy: test aid, table:NAME: a recorded training of a benchmark table "
             "(a shipped table's name, see bench list, or a table file's path; one recorded seed drawn per "
             "evaluation)"),
        _opt("--preset", metavar="NAME", help=f"network preset: {', '.join(catalog.list_presets())} "
             f"(default {catalog.DEFAULT_PRESET}; input shape and classes follow the data set)"),
        _opt("--reuse-structures", action="store_true", default=None, help="reuse the fitness of an already "
             "evaluated identical structure instead of training"),
        _opt("--eval-test", action="store_true", default=None, help="also score on the test split: a search "
             "stores it beside each evaluation, never seen by selection (Table 1 on the test set, as the paper "
             "reports it)"),
        _opt("--objective", help="what selection maximises: " + OBJECTIVE_HELP),
        _opt("--paper", action="store_true", help="the paper's CIFAR-10 process (section 4.1.1); explicit flags "
             "override it"),
        # output
        _opt("--run-dir", help="directory for the run (default runs/<kind>-<time>)"),
        _opt("--resume", metavar="DIR", help="continue the run in DIR, created or stopped (only --generations may "
             "change)"),
        _opt("--dry-run", action="store_true", help="print the fully resolved configuration as one JSON object and "
             "exit without training, loading data or creating anything"),
        _opt("--json", action="store_true", help="print one JSON object"),
    )
}  # fmt: skip
"""Every shared option by destination (the config field it sets, where it sets one)."""

DATA = ("dataset", "data_dir", "train_size", "val_size")
TRAINING = ("epochs", "batch_size", "recipe", "lr", "schedule", "device")
SEARCH = ("population", "generations", "stages", "seed", "fitness", "preset", "reuse_structures", "eval_test",
          "objective")  # fmt: skip
GA = ("init", "init_p", "init_flips", "pm", "qm", "pc", "qc", "aging_population", "sample_size")
"""Options of evolve's strategies only (random search has no breeding and a random start)."""


def flag(name: str) -> str:
    """How the command line names config field ``name`` in a message: its flag (``train_size`` ->
    ``--train-size``) where a command has one, else the name as it is (``init_genomes``)."""
    option = OPTIONS.get(name)
    if option is not None:
        return next(f for f in option.flags if f.startswith("--"))
    candidate = "--" + name.replace("_", "-")
    return candidate if candidate in _COMMAND_FLAGS else name


def print_notes(notes: Any) -> None:
    """The data layer's notes (files skipped, image sizes that differ) on stderr, once each, as
    ``note: ...`` lines; a note that is a ConfigError names its field as a flag."""
    import sys

    from genet_lab.errors import ConfigError, show

    for note in notes or ():
        text = note.format(flag) if isinstance(note, ConfigError) else str(note)
        print(f"note: {show(text)}", file=sys.stderr, flush=True)


_COMMAND_FLAGS: set[str] = set()
"""Every long flag of every subcommand, learnt from the parser (:func:`learn_flags`)."""


def learn_flags(parser: argparse.ArgumentParser) -> None:
    """Remember the long flags of ``parser`` and its subcommands, so that :func:`flag` names a
    command's own options too (report's ``--out``, evolve's ``--workers``)."""
    for action in parser._actions:
        _COMMAND_FLAGS.update(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                learn_flags(sub)


def add(p: Any, name: str, **changes: Any) -> None:
    """Add shared option ``name`` to parser or group ``p``; ``changes`` replace its argparse keywords
    (a command's own default or help)."""
    option = OPTIONS[name]
    p.add_argument(*option.flags, **{**option.kw, **changes})


def add_group(p: argparse.ArgumentParser, title: str, names: tuple[str, ...], **changes: dict[str, Any]) -> None:
    """An argument group ``title`` with the options ``names``; ``changes[name]`` as in :func:`add`."""
    group = p.add_argument_group(title)
    for name in names:
        add(group, name, **changes.get(name, {}))


def add_data(p: argparse.ArgumentParser, **changes: dict[str, Any]) -> None:
    add_group(p, "data", DATA, **changes)


def add_training(p: argparse.ArgumentParser, extra: tuple[str, ...] = (), **changes: dict[str, Any]) -> None:
    add_group(p, "training", TRAINING + extra, **changes)


def add_search(p: argparse.ArgumentParser, ga: bool, **changes: dict[str, Any]) -> None:
    add_group(p, "search", SEARCH + (GA if ga else ()), **changes)


def add_output(p: argparse.ArgumentParser, names: tuple[str, ...], **changes: dict[str, Any]) -> None:
    add_group(p, "output", names, **changes)


EXECUTION_THREADS_HELP = (
    f"torch CPU threads per evaluating process (default {EVAL_THREADS}: tiny networks run best on one thread, "
    "and a shared machine suffers from more)"
)
