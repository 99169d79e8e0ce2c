"""Genetic operators of Algorithm 1 (section 3.2) as pure functions over bit arrays.

A population is a ``numpy`` array of shape (N, L) and dtype uint8 holding N
individuals of L bits each, in the paper's bit order (see
:mod:`genet_lab.encoding.genome`). Every operator returns new arrays and takes a
required ``rng: numpy.random.Generator``; none keeps state, so a run is
reproduced from the seed and the RNG state alone.

Names follow DEAP (``init_*``, ``select_*``, ``crossover_*``, ``mutate_*``).
Knows numpy and genomes, nothing about training, torch or storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genet_lab.encoding.genome import Genome, check_stages, resolve, stage_length
from genet_lab.errors import UsageError

# -- helpers -------------------------------------------------------------------


def stage_bounds(stages: Sequence[int]) -> np.ndarray:
    """Offsets ``[0, L_1, L_1 + L_2, ..., L]`` of each stage's bits in the flat string."""
    lengths = [stage_length(k) for k in check_stages(stages)]
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def to_genomes(pop: np.ndarray, stages: Sequence[int]) -> list[Genome]:
    """Rows of ``pop`` as :class:`Genome` values."""
    stages = tuple(stages)
    return [Genome(stages, tuple(int(b) for b in row)) for row in np.asarray(pop)]


def from_genomes(genomes: Sequence[Genome]) -> np.ndarray:
    """Genomes (all with the same stages) as an (N, L) uint8 array."""
    if not genomes:
        raise ValueError("need at least one genome")
    stages = genomes[0].stages
    for g in genomes:
        if g.stages != stages:
            raise ValueError(
                f"all genomes must share stage sizes {','.join(map(str, stages))}; got {','.join(map(str, g.stages))}"
            )
    return np.array([g.bits for g in genomes], dtype=np.uint8)


def _check_prob(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} is a probability and must be in [0, 1], got {p}")
    return p


def _check_pop(pop: np.ndarray) -> np.ndarray:
    pop = np.asarray(pop)
    if pop.ndim != 2:
        raise ValueError(f"a population is an (N, L) array, got shape {pop.shape}")
    return pop


# -- initialisation (section 3.2.1) ---------------------------------------------


def init_random(n: int, length: int, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """N random individuals: every bit b_{0,n}^l ~ Bernoulli(p), independently.

    ``p`` is the probability of a 1 bit; the paper uses p = 0.5.
    """
    p = _check_prob("p", p)
    return (rng.random((n, length)) < p).astype(np.uint8)


def init_zeros(n: int, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """N all-zero individuals, the naive start of section 4.1.2 (``rng`` is unused)."""
    return np.zeros((n, length), dtype=np.uint8)


def init_from_base(
    base: Genome | np.ndarray | Sequence[int], n: int, rng: np.random.Generator, flips: int = 2
) -> np.ndarray:
    """N copies of ``base``, each with ``flips`` distinct bits, chosen uniformly, flipped.

    ``flips = 0`` gives N identical copies. Used to start from a known design
    (e.g. the 40-layer ``residual-40`` genome) instead of random strings.
    """
    bits = np.asarray(base.bits if isinstance(base, Genome) else base, dtype=np.uint8)
    length = bits.shape[0]
    if not 0 <= flips <= length:
        raise ValueError(f"flips must be between 0 and L={length}, got {flips}")
    pop = np.tile(bits, (n, 1))
    for row in pop:
        idx = rng.choice(length, size=flips, replace=False)
        row[idx] ^= 1
    return pop


def read_genome_file(path: str | Path, stages: Sequence[int] | None = None) -> list[Genome]:
    """Genomes listed in a text file, one a line (notation, bits with ``stages``, or a name).

    Blank lines and lines starting with ``#`` are skipped. A file that cannot be read, or a
    line that is not a genome, is a :class:`~genet_lab.errors.UsageError` naming the file (and
    the line).
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"genome file {path} is a folder; give a text file with one genome a line")
    if not path.is_file():
        raise UsageError(f"genome file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"genome file {path} is not UTF-8 text; give one genome a line in paper notation") from None
    genomes = []
    for lineno, line in enumerate(text.splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            genomes.append(resolve(text, stages))
        except ValueError as exc:
            raise UsageError(f"{path}:{lineno}: {exc}") from None
    if not genomes:
        raise UsageError(f"genome file {path} lists no genomes (one per line, paper notation)")
    return genomes


def init_from_file(
    path: str | Path, n: int, rng: np.random.Generator | None = None, stages: Sequence[int] | None = None
) -> np.ndarray:
    """The N genomes listed in ``path`` (see :func:`read_genome_file`), in file order.

    The file must list exactly N genomes, all with the same stage sizes
    (``rng`` is unused).
    """
    genomes = read_genome_file(path, stages)
    if len(genomes) != n:
        raise UsageError(f"genome file {path} lists {len(genomes)} genomes but the population size is {n}")
    return from_genomes(genomes)


# -- selection (section 3.2.2) --------------------------------------------------


def roulette_probabilities(fitness: Sequence[float]) -> np.ndarray:
    """Selection probabilities: proportional to r_n - r_0 with r_0 = min_n r_n.

    The worst individual(s) get probability 0; when every r_n is equal the
    draw is uniform (the paper leaves this case open; uniform keeps N).
    """
    r = np.asarray(fitness, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise ValueError("fitness must be a non-empty 1-D sequence")
    if not np.all(np.isfinite(r)):
        raise ValueError("fitness values must be finite (a failed individual has fitness 0)")
    w = r - r.min()
    total = w.sum()
    if total <= 0.0:
        return np.full(r.size, 1.0 / r.size)
    return w / total


def select_roulette(fitness: Sequence[float], rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Russian roulette: ``n`` (default N) independent draws over the population.

    Individual n is drawn with probability proportional to r_{t-1,n} - r_{t-1,0},
    where r_{t-1,0} is the smallest fitness, so the worst is never drawn and an
    individual may be drawn several times. Returns the drawn indices (int64).
    """
    probs = roulette_probabilities(fitness)
    n = probs.size if n is None else int(n)
    # Inverse-CDF draws: one uniform per slot, so the RNG use is fixed.
    cdf = np.cumsum(probs)
    u = rng.random(n) * cdf[-1]
    # u lands in [cdf[i-1], cdf[i]); a zero-width interval (the worst) is never hit.
    return np.searchsorted(cdf, u, side="right").astype(np.int64)


# -- crossover and mutation (section 3.2.3) -------------------------------------


def crossover_stages(
    pop: np.ndarray, rng: np.random.Generator, bounds: Sequence[int] | np.ndarray, pc: float = 0.2, qc: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-wise crossover over pairs (1,2), (3,4), ... (0-based rows (0,1), (2,3), ...).

    Each pair is crossed with probability p_C; in a crossed pair every stage s
    is exchanged between the two individuals, as a whole, with probability q_C.
    With odd N the last individual has no partner. ``bounds`` are the stage
    offsets from :func:`stage_bounds`.

    Returns ``(children, crossed, partner)``: the new population, a bool mask
    of the rows that took part in a crossover (whether or not a stage was
    actually exchanged) and each row's partner index (-1 for none).
    """
    pop = _check_pop(pop)
    pc, qc = _check_prob("pC", pc), _check_prob("qC", qc)
    edges = np.asarray(bounds, dtype=np.int64)
    if edges[0] != 0 or edges[-1] != pop.shape[1] or np.any(np.diff(edges) <= 0):
        raise ValueError(f"stage bounds {edges.tolist()} do not split {pop.shape[1]} bits into stages")
    n, num_stages = pop.shape[0], edges.size - 1
    pairs = n // 2
    child = pop.copy()
    crossed = np.zeros(n, dtype=bool)
    partner = np.full(n, -1, dtype=np.int64)
    do_pair = rng.random(pairs) < pc
    swap = rng.random((pairs, num_stages)) < qc
    for k in np.flatnonzero(do_pair):
        a, b = 2 * k, 2 * k + 1
        crossed[a] = crossed[b] = True
        partner[a], partner[b] = b, a
        for s in np.flatnonzero(swap[k]):
            lo, hi = edges[s], edges[s + 1]
            child[a, lo:hi], child[b, lo:hi] = pop[b, lo:hi], pop[a, lo:hi]
    return child, crossed, partner


def mutate_flip(
    pop: np.ndarray, rng: np.random.Generator, pm: float = 0.8, qm: float = 0.05, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Bit-flip mutation of every individual not in ``exclude`` (the crossed rows).

    Each such individual is mutated with probability p_M; a mutated
    individual has each bit flipped independently with probability q_M.
    Returns ``(children, mutated)``: the new population and a bool mask of the
    rows chosen for mutation (a chosen row may end up unchanged).
    """
    pop = _check_pop(pop)
    pm, qm = _check_prob("pM", pm), _check_prob("qM", qm)
    n = pop.shape[0]
    excluded = np.zeros(n, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool)
    if excluded.shape != (n,):
        raise ValueError(f"exclude must be a bool mask of length {n}")
    mutated = (rng.random(n) < pm) & ~excluded
    flips = (rng.random(pop.shape) < qm) & mutated[:, None]
    return pop ^ flips.astype(np.uint8), mutated


DEFAULTS = {"population": 20, "generations": 50, "pm": 0.8, "qm": 0.05, "pc": 0.2, "qc": 0.2, "stages": (3, 4, 5)}
"""The paper's settings (section 4.1.1): N, T, p_M, q_M, p_C, q_C and (K_1, K_2, K_3)."""
