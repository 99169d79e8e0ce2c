"""Cheap estimators of a structure's quality, measured against a table (issue 21, item 7).

Three kinds of estimator, each a number per structure of a table, higher meaning better:

* **size** (no training): ``params`` and ``macs`` (the table's recorded counts, from
  :mod:`genet_lab.encoding.complexity`), ``depth`` (convolutions on the longest path through
  the stages' decoded graphs);
* **proxy** (at initialisation): the zero-cost proxies of :mod:`genet_lab.training.proxies`, on
  one minibatch of the table's own training split (its data set and split), weights and batch
  from one seed, cached on disk per table, settings and proxy so a second run is instant;
* **trained** (read from the table's curves, one training at a time): ``epochK``, the
  validation accuracy after K < E epochs (E the table's epochs); ``extrapK``, a learning-curve
  extrapolation of the first K epochs to epoch E (:func:`extrapolate`); ``final``, one
  training's final accuracy (the ``train`` fitness at the table's budget).

Each is scored by Kendall's tau-b and Spearman's rho against the table's mean final accuracy,
and against a long-fidelity table's mean where one is given. A trained estimator is computed
for each recorded seed and scored against the mean of the table's *other* seeds (its own
seed's noise would otherwise count as skill), the scores averaged over seeds; against a long
table, against the mean of the long table's other seeds (a seed fixes the initial weights at
both budgets). The noise ceiling is tau (and rho) between the final accuracies of two seeds, for
every pair of seeds. An undefined value (a singular NASWOT kernel, NaN jacob_cov) ranks its structure last.

torch is imported only to compute proxies (:func:`proxy_values`), never at import. Knows tables
and the training layer's proxies; nothing of evolution or front ends.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from genet_lab.bench.table import Table, shared_entries
from genet_lab.encoding.graph import decode
from genet_lab.errors import ConfigError, UsageError
from genet_lab.fileio import read_json_cache, write_json_cache
from genet_lab.training.proxies import PROXIES

__all__ = [
    "CACHE_VERSION",
    "EXTRAP_MIN_EPOCHS",
    "estimator_names",
    "estimator_values",
    "extrapolate",
    "kendall_tau",
    "measure",
    "noise_ceiling",
    "parse_estimators",
    "proxy_values",
    "spearman_rho",
]

SIZE = ("params", "macs", "depth")
EXTRAP_MIN_EPOCHS = 2
"""The fewest epochs a learning-curve extrapolation fits (two parameters)."""
CACHE_VERSION = 1
"""Part of a proxy cache's key: raise it when a proxy's computation changes."""
ERROR_FLOOR = 0.01
"""Validation error (percent) taken for a perfect epoch, whose logarithm is otherwise -inf."""
Progress = Callable[[int, int], None]


# -- rank correlations ------------------------------------------------------------------------------


def _finite(x: ArrayLike) -> np.ndarray:
    """``x`` with undefined values (NaN, +-inf) below every finite one, so they rank last, tied."""
    a = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        a = a.copy()
        a[bad] = (a[~bad].min() - 1.0) if (~bad).any() else 0.0
    return a


def kendall_tau(x: ArrayLike, y: ArrayLike) -> float:
    """Kendall's tau-b of two equally long sequences (ties on either side handled as tau-b does);
    NaN when either is constant."""
    a, b = _finite(x), _finite(y)
    if len(a) != len(b):
        raise ValueError(f"kendall_tau of sequences of lengths {len(a)} and {len(b)}")
    num = den_a = den_b = 0.0
    step = max(1, 2_000_000 // max(1, len(a)))  # rows at a time: memory bounded for large spaces
    for i in range(0, len(a), step):
        sa = np.sign(a[i : i + step, None] - a[None, :])
        sb = np.sign(b[i : i + step, None] - b[None, :])
        num += float((sa * sb).sum())
        den_a += float((sa * sa).sum())
        den_b += float((sb * sb).sum())
    return num / math.sqrt(den_a * den_b) if den_a and den_b else math.nan


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    sorted_a = a[order]
    start = 0
    for end in range(1, len(a) + 1):
        if end == len(a) or sorted_a[end] != sorted_a[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return ranks


def spearman_rho(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rho: Pearson's correlation of the average ranks; NaN when either is constant."""
    ra, rb = _ranks(_finite(x)), _ranks(_finite(y))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum()) / den if den else math.nan


# -- the estimators -----------------------------------------------------------------------------------


def extrapolate(curve: Sequence[float], k: int, target: int) -> float:
    """Validation accuracy (percent) at epoch ``target`` predicted from the first ``k`` epochs of
    ``curve``: a power law in the error, 100 - acc(t) = b * t^(-c), fitted by least squares on
    log(error) against log(t) (Hestness et al. 2017's learning-curve form, without its floor: two
    parameters, so two epochs suffice and the prediction stays below 100)."""
    if k < EXTRAP_MIN_EPOCHS or len(curve) < k:
        raise ValueError(f"extrapolate needs {EXTRAP_MIN_EPOCHS} <= k <= {len(curve)} epochs, got {k}")
    t = np.log(np.arange(1, k + 1, dtype=np.float64))
    err = np.log(np.maximum(100.0 - np.asarray(curve[:k], dtype=np.float64), ERROR_FLOOR))
    slope, intercept = np.polyfit(t, err, 1)
    return float(100.0 - math.exp(intercept + slope * math.log(target)))


def estimator_names(table: Table) -> list[str]:
    """Every estimator of ``table``, in the order they are reported."""
    e = table.settings.epochs or 0
    return [*SIZE, *PROXIES, *(f"epoch{k}" for k in range(1, e)),
            *(f"extrap{k}" for k in range(EXTRAP_MIN_EPOCHS, e)), "final"]  # fmt: skip


def kind(name: str) -> str:
    return "size" if name in SIZE else "proxy" if name in PROXIES else "trained"


def parse_estimators(table: Table, names: Sequence[str] | None) -> list[str]:
    """``names`` checked against ``table``'s estimators (all of them for None or empty); an unknown
    one is a :class:`ConfigError` listing what is accepted."""
    known = estimator_names(table)
    if not names:
        return known
    for name in names:
        if name not in known:
            raise ConfigError("estimators", name, accepted=known, what="estimator")
    return list(dict.fromkeys(names))


def _seed_runs(table: Table) -> list[tuple[int, list[Any]]]:
    """(seed, each structure's run of it) for every seed recorded for all the structures (a partial
    table may lack some), by seed."""
    common = set.intersection(*({r.seed for r in en.runs} for en in table.entries))
    return [(seed, [next(r for r in en.runs if r.seed == seed) for en in table.entries]) for seed in sorted(common)]


def _per_seed(table: Table, name: str) -> list[np.ndarray]:
    """A trained estimator's value per structure, one array per seed of :func:`_seed_runs`."""
    e = table.settings.epochs or 0
    out = []
    seed_runs = _seed_runs(table)
    if not seed_runs:
        raise UsageError(f"table {table.name} has no seed recorded for every structure; {name} needs one")
    for _seed, runs in seed_runs:
        if name == "final":
            vals = [r.val for r in runs]
        elif name.startswith("epoch"):
            k = int(name[5:])
            vals = [r.val_curve[k - 1] if len(r.val_curve) >= k else math.nan for r in runs]
        else:
            k = int(name[6:])
            vals = [extrapolate(r.val_curve, k, e) if len(r.val_curve) >= k else math.nan for r in runs]
        out.append(np.asarray(vals, dtype=np.float64))
    return out


def size_values(table: Table, name: str) -> np.ndarray:
    if name == "depth":
        return np.asarray([sum(g.depth for g in decode(en.genome)) for en in table.entries], dtype=np.float64)
    return np.asarray([getattr(en, name) for en in table.entries], dtype=np.float64)


# -- proxies, cached ----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """$GENET_LAB_CACHE or ~/.cache/genet-lab, as the data cache (whose module imports torch)."""
    env = os.environ.get("GENET_LAB_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "genet-lab") / "estimators"


def cache_path(table: Table, proxy: str, batch: int, seed: int) -> Path:
    """The cache file of one proxy on one table: named by the table and the proxy, keyed by a
    digest of the table's settings, the minibatch, the seed and the cache version."""
    key = {"settings": table.settings.to_dict(), "proxy": proxy, "batch": batch, "seed": seed,
           "version": CACHE_VERSION, "torch": table.versions.get("torch")}  # fmt: skip
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"{table.name}-{proxy}-{digest}.json"


def proxy_values(
    table: Table,
    names: Sequence[str],
    batch: int = 64,
    seed: int = 0,
    progress: Progress | None = None,
    data_dir: str | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """(proxy -> value per structure, proxy -> seconds computed by this call) for the proxies
    ``names``; cached values are read, missing ones computed (torch, one thread) and written
    every 100 structures, so an interrupted run keeps what it did. ``data_dir`` is where the
    table's data folder is on this machine, where not where it was built (same cache)."""
    paths = {p: cache_path(table, p, batch, seed) for p in names}
    cached = {p: {k: v for k, v in read_json_cache(paths[p]).items()} for p in names}
    todo = [en for en in table.entries if any(en.key not in cached[p] for p in names)]
    seconds = dict.fromkeys(names, 0.0)
    if todo:
        _compute(table, names, todo, cached, paths, seconds, batch, seed, progress, data_dir)
    values = {p: np.asarray([_number(cached[p][en.key]) for en in table.entries]) for p in names}
    return values, seconds


def _number(v: Any) -> float:
    return math.nan if v is None else float(v)


def _compute(
    table: Table,
    names: Sequence[str],
    todo: Sequence[Any],
    cached: dict[str, dict[str, Any]],
    paths: dict[str, Path],
    seconds: dict[str, float],
    batch: int,
    seed: int,
    progress: Progress | None,
    data_dir: str | None,
) -> None:
    import torch

    from genet_lab.bench.worker import Trainer
    from genet_lab.training.proxies import minibatch, score

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks; the machine is shared
    try:
        settings = table.settings if data_dir is None else replace(table.settings, data_dir=str(data_dir))
        if settings.data_dir is not None and not Path(settings.data_dir).expanduser().is_dir():
            how = "give --data-dir where your copy of it is" if data_dir is None else "give the folder of your copy"
            raise UsageError(
                f"the proxies of table {table.name} are computed on its data, folder {settings.data_dir}, which "
                f"is not on this machine: {how} (docs/bench.md says how each shipped table's data was made), or "
                "leave the proxies out with --estimators"
            )
        trainer = Trainer(settings, device="cpu")  # the data and network a training of the table used
        x, y = minibatch(trainer.data, batch, seed)
        for i, en in enumerate(todo, 1):
            for p in names:
                if en.key in cached[p]:
                    continue
                start = time.perf_counter()
                v = score(p, en.genome, trainer.net_config, x, y, seed)
                seconds[p] += time.perf_counter() - start
                cached[p][en.key] = v if math.isfinite(v) else None
            if i % 100 == 0:
                for p in names:
                    write_json_cache(paths[p], cached[p])
            if progress is not None:
                progress(i, len(todo))
    finally:  # also on Ctrl-C: what was computed is kept
        for p in names:
            write_json_cache(paths[p], cached[p])
        torch.set_num_threads(threads)


# -- measuring --------------------------------------------------------------------------------------


def noise_ceiling(table: Table) -> dict[str, Any] | None:
    """tau and rho between the final accuracies of two seeds of every structure, for every pair of
    seeds: mean, min, max and each pair; None for a table of one seed."""
    finals = [(seed, np.asarray([r.val for r in runs])) for seed, runs in _seed_runs(table)]
    if len(finals) < 2:
        return None
    rows: list[dict[str, Any]] = [{"seeds": [a, b], "tau": _mean([kendall_tau(fa, fb)]),
                                   "rho": _mean([spearman_rho(fa, fb)])}
                                  for (a, fa), (b, fb) in combinations(finals, 2)]  # fmt: skip
    return {m: _spread([math.nan if r[m] is None else r[m] for r in rows]) for m in ("tau", "rho")} | {"pairs": rows}


def _mean(values: Sequence[float]) -> float | None:
    """The mean; None (JSON's null) where a correlation was undefined (a constant estimator)."""
    m = float(np.mean(values))
    return m if math.isfinite(m) else None


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values):
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values))}


def _others_mean(table: Table, seed: int) -> np.ndarray:
    """Each structure's mean final accuracy over its seeds other than ``seed`` (all of them when it
    has no other)."""
    out = []
    for en in table.entries:
        others = [r.val for r in en.runs if r.seed != seed] or [r.val for r in en.runs]
        out.append(sum(others) / len(others))
    return np.asarray(out)


def _long_target(table: Table, long: Table) -> tuple[np.ndarray, np.ndarray]:
    """(indices of ``table``'s entries the long table holds, their long means); a long table of
    another space, or sharing no structure, is a :class:`ConfigError`."""
    idx, means = shared_entries(table, long, "long")
    if not idx:
        raise ConfigError(
            "long", long.name, template=f"{{option}} table {{value}} shares no structure with {table.name}"
        )
    return np.asarray(idx), np.asarray(means)


def _long_without(table: Table, long: Table, idx: np.ndarray, seed: int) -> np.ndarray | None:
    """The long means of ``table``'s entries ``idx`` over the long table's seeds other than
    ``seed`` (a training seed fixes the initial weights and first batches at both budgets, so one
    seed's short and long trainings share part of their noise); None where a structure has no
    other seed there."""
    by_key = {en.key: en for en in long.entries}
    out = []
    for i in idx:
        others = [r.val for r in by_key[table.entries[i].key].runs if r.seed != seed]
        if not others:
            return None
        out.append(sum(others) / len(others))
    return np.asarray(out)


def estimator_values(
    table: Table,
    names: Sequence[str] | None = None,
    batch: int = 64,
    seed: int = 0,
    progress: Progress | None = None,
    data_dir: str | None = None,
) -> tuple[dict[str, list[np.ndarray]], dict[str, float]]:
    """(estimator -> its values, in the order of ``table.entries``: one array for a size or proxy
    estimator, one per seed index for a trained one; proxy -> seconds computed by this call): what
    a scatter plot of an estimator against the table needs."""
    names = parse_estimators(table, names)
    proxies = [n for n in names if kind(n) == "proxy"]
    pvals, pseconds = proxy_values(table, proxies, batch, seed, progress, data_dir) if proxies else ({}, {})
    out = {}
    for name in names:
        k = kind(name)
        out[name] = (
            [pvals[name]] if k == "proxy" else [size_values(table, name)] if k == "size" else _per_seed(table, name)
        )
    return out, pseconds


def measure(
    table: Table,
    names: Sequence[str] | None = None,
    long: Table | None = None,
    batch: int = 64,
    seed: int = 0,
    progress: Progress | None = None,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Every estimator ``names`` (default all) of ``table`` scored against its mean final accuracy
    (and ``long``'s), with the noise ceiling: the JSON object ``bench estimators`` prints."""
    names = parse_estimators(table, names)
    if len(table) < 2:
        raise UsageError(f"table {table.name} holds {len(table)} structure(s); ranking needs at least 2")
    target = np.asarray([en.mean for en in table.entries])
    long_idx, long_mean = _long_target(table, long) if long is not None else (None, None)
    start = time.perf_counter()
    found, pseconds = estimator_values(table, names, batch, seed, progress, data_dir)
    proxy_wall = time.perf_counter() - start
    seeds = [s for s, _ in _seed_runs(table)]  # a trained estimator's seeds, in its per-seed order
    others = [_others_mean(table, s) for s in seeds]  # each seed's target: the mean of the other seeds
    # against the long table: each seed against the long table's other seeds (None: it has none)
    without = (
        [_long_without(table, long, long_idx, s) for s in seeds] if long is not None and long_idx is not None else []
    )
    rows = []
    for name in names:
        k = kind(name)
        per_seed = found[name]
        trained = k == "trained"
        targets = others if trained else [target]
        row: dict[str, Any] = {"name": name, "kind": k, "tau": None, "rho": None}
        if trained and len(per_seed) < 2:  # its only training is the target itself
            row["note"] = "one seed: no target independent of it"
        else:
            row["tau"] = _mean([kendall_tau(v, t) for v, t in zip(per_seed, targets)])
            row["rho"] = _mean([spearman_rho(v, t) for v, t in zip(per_seed, targets)])
        if long is not None and long_idx is not None and long_mean is not None:
            pairs = [(v[long_idx], long_mean) for v in per_seed]
            if trained:
                pairs = [(v[long_idx], t) for v, t in zip(per_seed, without) if t is not None] or pairs
                if all(t is None for t in without):
                    shared = "long: every seed is shared with the long table"
                    row["note"] = f"{row['note']}; {shared}" if "note" in row else shared
            row["tau_long"] = _mean([kendall_tau(v, t) for v, t in pairs])
            row["rho_long"] = _mean([spearman_rho(v, t) for v, t in pairs])
        row["seeds"] = len(per_seed) if trained else None
        row["seconds"] = pseconds.get(name) if k == "proxy" else None
        row["undefined"] = int(np.sum(~np.isfinite(np.concatenate(per_seed))))
        rows.append(row)
    out: dict[str, Any] = {
        "table": table.name, "structures": len(table), "epochs": table.settings.epochs,
        "seeds": len(table.settings.seeds), "target": "mean final validation accuracy over the table's seeds",
        "noise_ceiling": noise_ceiling(table), "proxy": {"batch": batch, "seed": seed, "seconds": proxy_wall},
        "estimators": rows,
    }  # fmt: skip
    if long is not None and long_idx is not None and long_mean is not None:
        short = target[long_idx]
        agree = {"tau": _mean([kendall_tau(short, long_mean)]), "rho": _mean([spearman_rho(short, long_mean)])}
        out["long"] = {"table": long.name, "epochs": long.settings.epochs, "structures": len(long_idx),
                       "seeds": len(long.settings.seeds), "noise_ceiling": noise_ceiling(long),
                       "short_mean": agree}  # fmt: skip
    return out
