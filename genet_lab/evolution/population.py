"""Generation 0 of a search (section 3.2.1), the one place it is built.

:func:`initial_population` makes the N genomes a :class:`~genet_lab.evolution.config.SearchConfig`
asks for; the engine stores them as generation 0 and the front ends (the TUI's and the widgets'
seeders) preview them. ``initial_population(config, initial_rng(config))`` is exactly the
generation 0 a new run of ``config`` stores.

``config.init`` is one of:

* ``random``: every bit ~ Bernoulli(``init_p``) (a random search always starts so, at ``init_p``);
* ``zeros``: N all-zero strings (section 4.1.2);
* a genome name (chain, residual, dense, residual-40, paper-best): N copies of it on
  ``config.stages`` (paper-best keeps its own), each with ``init_flips`` distinct bits flipped;
* ``file``: the genomes of ``config.init_genomes`` (read from a genome file), in order;
* a genome in the paper's notation (or plain bits on ``config.stages``): N copies of it with
  ``init_flips`` bits flipped (the TUI's and widgets' "editor" start).

Knows numpy, genomes and the operators; no torch, no store, no engine.
"""

from __future__ import annotations

import numpy as np

from genet_lab.encoding.genome import NAMED, Genome, named, parse, resolve
from genet_lab.errors import ConfigError
from genet_lab.evolution import operators as ops
from genet_lab.evolution.config import SearchConfig

__all__ = ["INIT_WORDS", "initial_population", "initial_rng", "base_genome"]

INIT_WORDS = ("random", "zeros", *(name for name in NAMED if name != "zeros"), "file")
"""The words ``config.init`` accepts besides a genome written out."""


def initial_rng(config: SearchConfig) -> np.random.Generator:
    """The generator a new run of ``config`` builds generation 0 with (then breeds on)."""
    return np.random.default_rng(int(config.seed))


def base_genome(config: SearchConfig) -> Genome | None:
    """The genome copied (with flips) into generation 0: a named one or one written out in
    ``config.init``; None for random, zeros and file starts. A text that is neither a known word
    nor a genome is a :class:`~genet_lab.errors.ConfigError` on ``init``."""
    init = config.init
    if init in ("random", "zeros", "file"):
        return None
    if init in NAMED:
        return _named_start(init, tuple(config.stages))
    try:
        return parse(init, config.stages)
    except ValueError as exc:
        raise ConfigError(
            "init",
            init,
            template="unknown {option} {value!r}: " + f"{exc}; accepted: {', '.join(INIT_WORDS)} or a genome",
        ) from None


def _named_start(name: str, stages: tuple[int, ...]) -> Genome:
    """The named genome ``name`` on ``stages`` (its own stages when none are given). A new search
    never gets here with a clash: :meth:`SearchConfig.resolve` refuses other stages beside
    residual-40 (11,11,11) or paper-best. A run stored before that rule (residual-40 on 3,4,5,
    then the 19-bit residual genome) resumes from the genome it was started from."""
    own = named(name)
    if not stages or stages == own.stages:
        return own
    return named(name, stages)


def initial_population(config: SearchConfig, rng: np.random.Generator) -> list[Genome]:
    """Generation 0 of ``config`` drawn from ``rng`` (see the module docstring for each start).

    The population is ``config.population`` genomes, except for ``file``, which gives the
    genomes the file listed."""
    n, stages = int(config.population), tuple(config.stages)
    length = int(ops.stage_bounds(stages)[-1])
    if config.kind == "random" or config.init == "random":
        return ops.to_genomes(ops.init_random(n, length, rng, config.init_p), stages)
    if config.init == "zeros":
        return ops.to_genomes(ops.init_zeros(n, length), stages)
    if config.init == "file":
        if not config.init_genomes:
            raise ConfigError("init_genomes", template="the 'file' start needs genomes in {option}")
        return [resolve(text, stages) for text in config.init_genomes]
    base = base_genome(config)
    assert base is not None
    return ops.to_genomes(ops.init_from_base(base, n, rng, config.init_flips), base.stages)
