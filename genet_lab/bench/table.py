"""A table file: one exported build, versioned, small, shipped in the package; and reading it.

Format (``NAME.json.gz``, gzip of one JSON object; :data:`FORMAT_NAME`, :data:`VERSION`)::

    {"format": "genet-lab-bench", "version": 1, "name": ..., "settings": {stages, dataset, data_dir,
     train_size, val_size, image_size, preset, epochs, batch_size, recipe, seeds, table_seed,
     threads, mode, group, sample},
     "versions": {"genet-lab", "torch", "python"}, "created": unix time, "exported": unix time,
     "complete": bool, "counts": {"structures", "structures_present", "trainings", "trainings_done"},
     "structures": [{"genome": notation, "bits", "key", "class_size", "params", "macs",
                     "runs": [{"seed", "val", "test", "seconds", "device", "failed",
                               "val_curve": [per epoch], "loss_curve": [per epoch]}]}]}

Accuracies are percent (4 decimals), losses 5 significant digits, seconds 3 decimals. A partial
export holds the structures with at least one finished seed and says so (``complete`` false and the
counts). :func:`load_table` reads a shipped table by name or any file by path; a genome maps to its
structure's entry through the structure key. No torch.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genet_lab.bench.settings import BenchSettings
from genet_lab.bench.store import BenchStore
from genet_lab.encoding.genome import Genome, parse
from genet_lab.encoding.graph import structure_key
from genet_lab.errors import ConfigError, UsageError
from genet_lab.fileio import atomic_write

__all__ = [
    "FORMAT_NAME",
    "TABLES_DIR",
    "VERSION",
    "Entry",
    "Run",
    "Spread",
    "Table",
    "export_build",
    "list_tables",
    "load_table",
    "shared_entries",
    "spread",
]

FORMAT_NAME, VERSION = "genet-lab-bench", 1
TABLES_DIR = Path(__file__).resolve().parent / "tables"
SUFFIX = ".json.gz"


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(float(x), digits)


def _sig(x: float | None, digits: int = 5) -> float | None:
    return None if x is None else float(f"{float(x):.{digits}g}")


# export ------------------------------------------------------------------------------------------


def table_dict(store: BenchStore, name: str) -> dict[str, Any]:
    """The table of a build (finished or partial) as the JSON object of the format."""
    by_structure: dict[int, list[dict[str, Any]]] = {}
    for t in store.done():
        by_structure.setdefault(t["structure"], []).append(t)
    structures = []
    for sid, bits, notation, key, size in store.structures():
        runs = by_structure.get(sid)
        if not runs:
            continue
        structures.append({
            "genome": notation, "bits": bits, "key": key, "class_size": size,
            "params": runs[0]["params"], "macs": runs[0]["macs"],
            "runs": [{
                "seed": r["seed"], "val": _round(r["val_accuracy"], 4), "test": _round(r["test_accuracy"], 4),
                "seconds": _round(r["seconds"], 3), "device": r["device"], "failed": r["failed"],
                "val_curve": [_round(p["val_accuracy"], 4) for p in r["curve"]],
                "loss_curve": [_sig(p["loss"]) for p in r["curve"]],
            } for r in runs],
        })  # fmt: skip
    counts = store.counts()
    total = sum(counts.values())
    return {
        "format": FORMAT_NAME, "version": VERSION, "name": name, "settings": store.settings.to_dict(),
        "versions": store.meta("versions"), "created": store.meta("created"), "exported": time.time(),
        "complete": counts["done"] == total,
        "counts": {"structures": len(store.structures()), "structures_present": len(structures),
                   "trainings": total, "trainings_done": counts["done"]},
        "structures": structures,
    }  # fmt: skip


def export_build(directory: str | Path, path: str | Path, name: str | None = None) -> dict[str, Any]:
    """Write the build in ``directory`` as a table file at ``path`` (atomically); what was written."""
    path = Path(path)
    name = name or path.name.removesuffix(SUFFIX).removesuffix(".json")
    with BenchStore(directory, readonly=True) as store:
        data = table_dict(store, name)
    blob = gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=9, mtime=0)
    atomic_write(path, blob, what="table")
    c = data["counts"]
    return {"path": str(path), "name": name, "bytes": len(blob), "complete": data["complete"],
            "structures": c["structures_present"], "trainings": c["trainings_done"]}  # fmt: skip


# reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One training of a structure: final validation and test accuracy (percent), its curves."""

    seed: int
    val: float
    test: float | None
    seconds: float
    val_curve: tuple[float, ...]
    loss_curve: tuple[float | None, ...]
    failed: bool = False
    device: str = "cpu"
    """Where it was trained (``cpu``, ``cuda:0``, ...)."""


@dataclass(frozen=True)
class Entry:
    """One structure of a table: its canonical genome, key, class size, size, runs and their mean."""

    genome: Genome
    key: str
    class_size: int
    params: int
    macs: int
    runs: tuple[Run, ...]

    @property
    def mean(self) -> float:
        return sum(r.val for r in self.runs) / len(self.runs)

    @property
    def test_mean(self) -> float | None:
        tests = [r.test for r in self.runs if r.test is not None]
        return sum(tests) / len(tests) if tests else None


class Table:
    """A loaded table: lookups by genome (any bit string of a structure), means, ranks."""

    def __init__(self, data: dict[str, Any], source: str):
        self.source = source
        self.name: str = data["name"]
        self.settings = BenchSettings.from_dict(data["settings"])
        self.versions: dict[str, Any] = data.get("versions") or {}
        self.complete: bool = bool(data["complete"])
        self.counts: dict[str, int] = data["counts"]
        self.entries: list[Entry] = [_entry(s, self.settings.stages) for s in data["structures"]]
        self._by_key = {e.key: e for e in self.entries}
        self._sorted_means = sorted(e.mean for e in self.entries)

    @property
    def stages(self) -> tuple[int, ...]:
        return self.settings.stages

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, genome: Genome | str) -> Entry:
        """The entry of ``genome``'s structure; a one-line error for a genome of another space or a
        structure a partial table does not hold."""
        space = ",".join(map(str, self.stages))
        if isinstance(genome, str):
            try:
                genome = parse(genome, self.stages)
            except ValueError as exc:
                raise UsageError(
                    f"{genome!r} is not a genome of table {self.name}'s space (stages {space}): {exc}"
                ) from None
        if tuple(genome.stages) != self.stages:
            raise UsageError(f"genome {genome.notation()} is not of table {self.name}'s space (stages {space})")
        hit = self._by_key.get(structure_key(genome))
        if hit is None:
            raise UsageError(f"table {self.name} is partial and holds no entry for {genome.notation()}")
        return hit

    def mean(self, genome: Genome | str) -> float:
        """Mean final validation accuracy (percent) over the structure's seeds."""
        return self.entry(genome).mean

    def rank(self, genome: Genome | str) -> int:
        """1 for the best mean; ties share the best rank."""
        import bisect

        m = self.entry(genome).mean
        return len(self._sorted_means) - bisect.bisect_right(self._sorted_means, m) + 1

    def percentile(self, genome: Genome | str) -> float:
        """Percent of the table's structures whose mean is strictly lower."""
        import bisect

        m = self.entry(genome).mean
        return 100.0 * bisect.bisect_left(self._sorted_means, m) / len(self._sorted_means)

    def best(self) -> Entry:
        return max(self.entries, key=lambda e: e.mean)

    def spread(self) -> Spread:
        """How much the structures differ against the seed noise (see :func:`spread`)."""
        return spread([[r.val for r in e.runs] for e in self.entries])


@dataclass(frozen=True)
class Spread:
    """Between-structure spread against seed noise, in accuracy points (see :func:`spread`)."""

    structures: int
    seeds: float
    """Mean number of seeds per structure."""
    mean: float
    sd_of_means: float
    """Standard deviation of the structures' mean accuracies (seed noise included)."""
    noise_sd: float | None
    """Pooled within-structure standard deviation: one training's seed noise (None with one seed)."""
    between_sd: float | None
    """The spread of the structures' true means: ``sqrt(max(0, sd_of_means^2 - noise_sd^2 / seeds))``."""

    @property
    def ratio(self) -> float | None:
        """between_sd / noise_sd: how many single-training noise sds the structures span (1 sd)."""
        if self.between_sd is None or not self.noise_sd:
            return None
        return self.between_sd / self.noise_sd

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "ratio": self.ratio}


def spread(runs: Sequence[Sequence[float]]) -> Spread:
    """The spread of structures with the accuracies ``runs[i]`` of structure ``i``'s seeds: the sd of
    their means, the pooled seed sd (each structure's sample variance, weighted by its degrees of
    freedom) and the between-structure sd corrected for the noise the means still carry."""
    runs = [list(r) for r in runs if len(r)]
    if len(runs) < 2:
        raise UsageError(f"the spread of structures needs at least 2 structures with a result, not {len(runs)}")
    means = [sum(r) / len(r) for r in runs]
    grand = sum(means) / len(means)
    var_means = sum((m - grand) ** 2 for m in means) / (len(means) - 1)
    dof = sum(len(r) - 1 for r in runs)
    seeds = sum(len(r) for r in runs) / len(runs)
    if dof == 0:
        return Spread(len(runs), seeds, grand, math.sqrt(var_means), None, None)
    within = sum(sum((x - m) ** 2 for x in r) for r, m in zip(runs, means)) / dof
    # each mean averages n_i seeds; the harmonic mean of n_i is the right divisor for its noise
    n_h = len(runs) / sum(1 / len(r) for r in runs)
    between = math.sqrt(max(0.0, var_means - within / n_h))
    return Spread(len(runs), seeds, grand, math.sqrt(var_means), math.sqrt(within), between)


def _entry(s: dict[str, Any], stages: tuple[int, ...]) -> Entry:
    runs = tuple(
        Run(int(r["seed"]), float(r["val"]), r["test"], float(r["seconds"]), tuple(r["val_curve"]),
            tuple(r["loss_curve"]), bool(r.get("failed", False)), str(r.get("device") or "cpu"))
        for r in s["runs"]
    )  # fmt: skip
    genome = Genome.from_bits(s["bits"], stages)
    return Entry(genome, s["key"], int(s["class_size"]), int(s["params"]), int(s["macs"]), runs)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is damaged or not a table file ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise UsageError(f"{path} is not a genet-lab bench table (no format {FORMAT_NAME!r})")
    if data.get("version") != VERSION:
        raise UsageError(f"{path} is a table of format version {data.get('version')}; this genet-lab reads {VERSION}")
    return data


def shipped() -> dict[str, Path]:
    """Name -> file of every table shipped in the package."""
    return {p.name.removesuffix(SUFFIX): p for p in sorted(TABLES_DIR.glob(f"*{SUFFIX}"))}


def shared_entries(table: Table, other: Table, option: str) -> tuple[list[int], list[float]]:
    """(indices of ``table``'s entries that ``other`` holds, their means in ``other``), matched by
    structure key: ``other`` read as another fidelity of ``table``'s space (``bench estimators
    --long``, ``bench compare --truth``). A :class:`ConfigError` of field ``option`` where ``other``
    is of another space."""
    if tuple(other.stages) != tuple(table.stages):
        space, mine = (",".join(map(str, t.stages)) for t in (other, table))
        raise ConfigError(
            option,
            other.name,
            template=f"{{option}} table {{value}} is of stages {space}, not of table {table.name}'s space "
            f"(stages {mine}); a table of the same space is needed",
        )
    means = {e.key: e.mean for e in other.entries}
    idx = [i for i, e in enumerate(table.entries) if e.key in means]
    return idx, [means[table.entries[i].key] for i in idx]


def load_table(name_or_path: str | Path) -> Table:
    """A shipped table by name, or a table file by path; one-line errors for an unknown name and a
    damaged or foreign file."""
    tables = shipped()
    if str(name_or_path) in tables:
        path = tables[str(name_or_path)]
    else:
        path = Path(name_or_path)
        if not path.is_file():
            known = ", ".join(tables) or "none shipped yet"
            raise UsageError(f"unknown table {str(name_or_path)!r}: neither a shipped table ({known}) nor a file")
    try:
        st = path.stat()
    except OSError as exc:
        raise UsageError(f"cannot read table {path}: {exc.strerror or exc}") from None
    return _load(str(path.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> Table:
    """A table file read once per version of it (a front end resolving a config per keystroke, a
    search's every evaluation); a changed file (its time or size) is read again."""
    data = _read(Path(path))
    try:
        return Table(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path} is damaged: {type(exc).__name__} {exc}") from None


def list_tables() -> list[dict[str, Any]]:
    """Space, data set, budget, seeds, size and completeness of every shipped table."""
    rows = []
    for name, path in shipped().items():
        data = _read(path)
        s = data["settings"]
        rows.append({
            "name": name, "space": ",".join(map(str, s["stages"])), "dataset": s["dataset"], "epochs": s["epochs"],
            "batch_size": s["batch_size"], "recipe": s["recipe"], "seeds": len(s["seeds"]),
            "image_size": s.get("image_size"), "train_size": s.get("train_size"), "val_size": s.get("val_size"),
            "structures": len(data["structures"]),
            "bytes": path.stat().st_size, "complete": data["complete"], "counts": data["counts"],
        })  # fmt: skip
    return rows
