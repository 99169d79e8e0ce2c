"""Which of the paper's findings hold on a benchmark table: many seeded repeats, each measured by the table.

The paper (Xie & Yuille, sections 4.1.1-4.1.3) reports three things about its GA: the population's
mean accuracy rises over the generations (Table 1, Figure 3); the GA beats random search at an equal
number of evaluations (1,020); a start from N all-zero strings catches up with a random start (about
5 generations to reach the random start's first generation, no difference by about 30). On a table
each can be measured against the truth (every structure's mean over its recorded seeds) with
thousands of repeats instead of one run:

* an **arm** is one search (GA from a random start, random search, GA from all-zero strings) at one
  setting (N, T); repeat r of every arm has the same run seed (:func:`.repeats.repeat_seed`), so a GA
  and a random search share generation 0 and every comparison is a paired one;
* each repeat is run by :func:`.inmemory.run_in_memory` (the engine's exact rules, proven equal to
  the engine and the store) with ``record``: its log gives every generation's individuals, each
  judged by its structure's table mean (``true``) beside the fitness selection used (``observed``);
* :func:`summarize_findings` turns the repeats into the findings, each with a 95% interval (normal,
  over repeats, as :func:`genet_lab.bench.compare.mean_ci`; Wilson for proportions) and a verdict
  that only the interval decides.

Knows the config, the in-memory driver, the table and the compare metrics; no store, no torch, no
printing (``benchmarks/paper_findings.py`` prints and writes).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from genet_lab.bench.compare import Outcome, Scores, mean_ci, summarize, wilson
from genet_lab.errors import UsageError
from genet_lab.evolution.config import TABLE_PREFIX, SearchConfig
from genet_lab.evolution.inmemory import Lookup, Trace, run_in_memory
from genet_lab.evolution.repeats import repeat_seed

__all__ = [
    "ARM_KINDS",
    "Arm",
    "Repeat",
    "arms_of",
    "generation_means",
    "run_arm",
    "split_half",
    "summarize_findings",
    "table_context",
    "verdict",
]

ARM_KINDS: dict[str, dict[str, str]] = {
    "ga": {"kind": "ga", "init": "random"},
    "random": {"kind": "random", "init": "random"},
    "ga-zeros": {"kind": "ga", "init": "zeros"},
}
"""The three searches of every setting: the paper's GA from a random start, random search, the GA
from N all-zero strings (section 4.1.2); each with the paper's p_M, q_M, p_C, q_C."""


@dataclass(frozen=True)
class Arm:
    """One search at one setting: ``name`` is ``<search>@<setting>`` (``ga@laptop``)."""

    search: str
    setting: str
    population: int
    generations: int

    @property
    def name(self) -> str:
        return f"{self.search}@{self.setting}"

    @property
    def evaluations(self) -> int:
        return self.population * (self.generations + 1)

    def config(self, table_ref: str, seed: int = 0) -> SearchConfig:
        """The resolved config of this arm on ``table_ref`` with run seed ``seed``."""
        fields = ARM_KINDS[self.search]
        return SearchConfig(
            fitness=TABLE_PREFIX + table_ref,
            kind=fields["kind"],
            init=fields["init"],
            population=self.population,
            generations=self.generations,
            seed=seed,
        ).resolve()


def arms_of(settings: Mapping[str, tuple[int, int]]) -> list[Arm]:
    """Every search at every setting (name -> (N, T)), in order."""
    for name, (n, t) in settings.items():
        if n < 1 or t < 1:
            raise UsageError(f"setting {name}: N and T must be at least 1, got N={n}, T={t}")
    return [Arm(search, name, n, t) for name, (n, t) in settings.items() for search in ARM_KINDS]


@dataclass
class Repeat:
    """One repeat of an arm: what it returned, and each generation's mean (table truth and observed)."""

    outcome: Outcome
    true: np.ndarray
    """(T + 1,): generation t's mean of its individuals' table means (its structures' truth)."""
    observed: np.ndarray
    """(T + 1,): generation t's mean fitness, the averaging rule selection used (the paper's Table 1 average)."""
    best: np.ndarray
    """(T + 1,): the table mean of the run's best so far at the end of generation t."""


def generation_means(trace: Trace, lookup: Lookup, generations: int) -> tuple[np.ndarray, np.ndarray]:
    """(true, observed) mean of each generation 0..T of a recorded trace (NaN for a generation not run)."""
    true_sum, obs_sum = np.zeros(generations + 1), np.zeros(generations + 1)
    count, obs_count = np.zeros(generations + 1), np.zeros(generations + 1)
    entries: dict[str, int] = {}
    for gen, _index, bits, _seed, _acc, _reused in trace.log:
        entry = entries.get(bits)
        if entry is None:
            entry = entries[bits] = lookup.find(np.frombuffer(bits.encode(), dtype=np.uint8) - ord("0"))[0]
        true_sum[gen] += lookup.means[entry] if entry >= 0 else np.nan
        count[gen] += 1
    for gen, _index, fit in trace.fitness:
        obs_sum[gen] += fit
        obs_count[gen] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return true_sum / count, obs_sum / obs_count


def run_arm(arm: Arm, table_ref: str, lookup: Lookup, repeats: int, seed: int = 0) -> list[Repeat]:
    """``repeats`` seeded runs of ``arm`` on the table (repeat r: run seed ``repeat_seed(seed, r)``)."""
    base = arm.config(table_ref)
    out = []
    for r in range(repeats):
        trace = run_in_memory(replace(base, seed=repeat_seed(seed, r)), lookup, record=True)
        true, observed = generation_means(trace, lookup, arm.generations)
        best = np.array([v for _, v in trace.outcome.curve], dtype=np.float64)
        out.append(Repeat(trace.outcome, true, observed, best))
    return out


# -- the table itself ---------------------------------------------------------------------------------


def split_half(runs: Sequence[Sequence[float]], limit: int = 50) -> dict[str, Any] | None:
    """How far above the median the structure that looks best really is, free of its own luck.

    For each way of splitting the seeds into a half A (``s // 2`` seeds) and the rest B (the first
    ``limit`` splits in lexicographic order), the structure with the best mean over A is judged by
    its mean over B, against the median of every structure's mean over B. Needs the same number of
    seeds (>= 2) for every structure; None otherwise."""
    counts = {len(r) for r in runs}
    if len(counts) != 1 or min(counts) < 2 or len(runs) < 2:
        return None
    vals = np.asarray(runs, dtype=np.float64)
    s = vals.shape[1]
    gaps, picked_above = [], []
    for a in itertools.islice(itertools.combinations(range(s), s // 2), limit):
        b = [k for k in range(s) if k not in a]
        mean_a, mean_b = vals[:, list(a)].mean(axis=1), vals[:, b].mean(axis=1)
        top = int(np.argmax(mean_a))
        gaps.append(float(mean_b[top] - np.median(mean_b)))
        picked_above.append(float(mean_a[top] - np.median(mean_a)))
    return {
        "splits": len(gaps),
        "half": s // 2,
        "gap": statistics.fmean(gaps),
        "gap_as_selected": statistics.fmean(picked_above),
        "gaps": gaps,
    }


def table_context(table: Any) -> dict[str, Any]:
    """The table's facts the findings are read against: its settings, spread, best and median."""
    means = np.array([e.mean for e in table.entries], dtype=np.float64)
    spread = table.spread()
    zero = table.entry("".join("0" for _ in range(sum(k * (k - 1) // 2 for k in table.stages))))
    scores = Scores(means.tolist())
    zi = table.entries.index(zero)
    st = table.settings
    return {
        "name": table.name,
        "stages": list(table.stages),
        "dataset": st.dataset,
        "epochs": st.epochs,
        "seeds": len(st.seeds),
        "structures": len(table.entries),
        "complete": table.complete,
        "best_mean": float(means.max()),
        "best": table.best().genome.notation(),
        "median_mean": float(np.median(means)),
        "mean_of_means": float(means.mean()),
        "best_minus_median": float(means.max() - np.median(means)),
        "spread": spread.to_dict(),
        "split_half": split_half([[r.val for r in e.runs] for e in table.entries]),
        "all_zero": {
            "mean": float(means[zi]),
            "percentile": float(scores.percentile[zi]),
            "rank": int(scores.rank[zi]),
        },
    }


# -- the findings -------------------------------------------------------------------------------------


def verdict(ci: Mapping[str, Any], positive: str = "yes", negative: str = "reversed") -> str:
    """What a difference's 95% interval says: ``positive`` above 0, ``negative`` below, else unresolved."""
    low, high = ci.get("low"), ci.get("high")
    if low is None or high is None:
        return "too few repeats"
    if low > 0:
        return positive
    if high < 0:
        return negative
    return "no difference resolved"


def _curve(rows: np.ndarray) -> dict[str, list[float | None]]:
    """Mean and 95% interval at each column (generation) over the rows (repeats)."""
    cis = [mean_ci(rows[:, j]) for j in range(rows.shape[1])]
    return {k: [c[k] for c in cis] for k in ("mean", "low", "high")}


def _stack(reps: Sequence[Repeat], field: str) -> np.ndarray:
    return np.array([getattr(r, field) for r in reps], dtype=np.float64)


def _indistinguishable_from(gaps: np.ndarray) -> int | None:
    """The first generation from which every later gap's 95% interval holds 0 (None: never)."""
    first = None
    for t in range(gaps.shape[1]):
        c = mean_ci(gaps[:, t])
        holds = c["low"] is not None and c["low"] <= 0 <= c["high"]
        first = (t if first is None else first) if holds else None
    return first


def _setting(table: Any, scores: Scores, runs: Mapping[str, Sequence[Repeat]], setting: str) -> dict[str, Any]:
    ga, rs, zero = (runs[f"{s}@{setting}"] for s in ARM_KINDS)
    t = len(ga[0].true) - 1
    ga_true, rs_true, zero_true = _stack(ga, "true"), _stack(rs, "true"), _stack(zero, "true")
    rise = ga_true[:, -1] - ga_true[:, 0]
    rise_ci = mean_ci(rise)
    ga_obs = _stack(ga, "observed")

    def returned(reps: Sequence[Repeat]) -> np.ndarray:
        return scores.means[[r.outcome.entry for r in reps]]

    ga_ret, rs_ret, zero_ret = returned(ga), returned(rs), returned(zero)
    diff = ga_ret - rs_ret
    diff_ci = mean_ci(diff)
    evaluations = int(ga[0].outcome.evaluations)
    compared = summarize(table, {"ga": [r.outcome for r in ga], "random": [r.outcome for r in rs]}, evaluations)
    gaps = zero_true - ga_true
    zero_curve, start0 = _curve(zero_true)["mean"], float(np.nanmean(ga_true[:, 0]))
    reach = next((g for g, v in enumerate(zero_curve) if v is not None and v >= start0), None)
    gap0, gap_t = mean_ci(gaps[:, 0]), mean_ci(gaps[:, -1])
    zero_behind = gap0["high"] is not None and gap0["high"] < 0
    return {
        "population": _n(ga),
        "generations": t,
        "evaluations": evaluations,
        "repeats": len(ga),
        "rise": {
            "gen0": mean_ci(ga_true[:, 0]),
            "genT": mean_ci(ga_true[:, -1]),
            "difference": rise_ci,
            "share_rising": wilson(int((rise > 0).sum()), len(rise)),
            "observed_difference": mean_ci(ga_obs[:, -1] - ga_obs[:, 0]),
            "versus_random_at_T": mean_ci(ga_true[:, -1] - rs_true[:, -1]),
            "curves": {"ga": _curve(ga_true), "random": _curve(rs_true), "ga_observed": _curve(ga_obs)},
            "verdict": verdict(rise_ci, "yes: the mean rises", "no: it falls"),
        },
        "ga_vs_random": {
            "ga_true": mean_ci(ga_ret),
            "random_true": mean_ci(rs_ret),
            "difference": diff_ci,
            "regret_ga": compared["strategies"]["ga"]["regret"],
            "regret_random": compared["strategies"]["random"]["regret"],
            "percentile_ga": compared["strategies"]["ga"]["percentile"],
            "percentile_random": compared["strategies"]["random"]["percentile"],
            "top1_ga": compared["strategies"]["ga"]["top1"],
            "top1_random": compared["strategies"]["random"]["top1"],
            "curse_ga": compared["strategies"]["ga"]["curse"],
            "curse_random": compared["strategies"]["random"]["curse"],
            "p_ga_better": wilson(int((diff > 0).sum()), len(diff)),
            "p_equal": wilson(int((diff == 0).sum()), len(diff)),
            "p_random_better": wilson(int((diff < 0).sum()), len(diff)),
            "observed_difference": mean_ci([a.outcome.observed - b.outcome.observed for a, b in zip(ga, rs)]),
            "best_so_far": {"ga": _curve(_stack(ga, "best")), "random": _curve(_stack(rs, "best"))},
            "evaluations_per_generation": _n(ga),
            "verdict": verdict(diff_ci, "yes: the GA returns better structures", "no: random search does better"),
        },
        "zero_start": {
            "all_zero_mean": float(zero_true[0, 0]) if zero_true.size else None,
            "gap_gen0": gap0,
            "gap_genT": gap_t,
            "returned_gap": mean_ci(zero_ret - ga_ret),
            "gap_curve": _curve(gaps),
            "zero_curve": _curve(zero_true),
            "reaches_random_gen0_at": reach,
            "indistinguishable_from": _indistinguishable_from(gaps),
            "verdict": (
                "moot: the all-zero start begins ahead"
                if verdict(gap0) == "yes"
                else (
                    "yes: it catches up"
                    if zero_behind and verdict(gap_t) != "reversed"
                    else ("no: it stays behind" if zero_behind else "moot: it does not start behind")
                )
            ),  # fmt: skip
        },
    }


def _n(reps: Sequence[Repeat]) -> int:
    """N of an arm: its evaluations over its generations (every arm here trains every individual)."""
    return int(reps[0].outcome.evaluations // len(reps[0].true))


def summarize_findings(table: Any, runs: Mapping[str, Sequence[Repeat]], settings: Sequence[str]) -> dict[str, Any]:
    """Every finding at every setting, and (with two or more settings) the later settings' GA and
    random search against the first's (paired by repeat: the same run seeds)."""
    scores = Scores.of(table)
    out: dict[str, Any] = {"table": table_context(table), "settings": {}}
    for s in settings:
        out["settings"][s] = _setting(table, scores, runs, s)
    base = settings[0]
    out["versus_first_setting"] = {}
    for s in settings[1:]:
        row = {}
        for search in ("ga", "random"):
            a = scores.means[[r.outcome.entry for r in runs[f"{search}@{s}"]]]
            b = scores.means[[r.outcome.entry for r in runs[f"{search}@{base}"]]]
            row[search] = {"setting": s, "against": base, "difference": mean_ci(a - b)}
        out["versus_first_setting"][s] = row
    return out
