"""Run summaries as text: Table 1, single-training statistics, the Pareto fronts, a run's
section of report.md and GA against random search, in markdown and CSV.

Pure functions over the JSON-shaped summary of :func:`genet_lab.evolution.analysis.summarize`
(plain dicts and lists), so a summary read back from ``report --json`` renders the same, and
over individual records for ``individuals.csv``. Knows no store, no matplotlib, no torch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from genet_lab.evolution.records import Individual
from genet_lab.evolution.stats import STAT_KEYS

__all__ = [
    "SINGLE_KEYS",
    "STAT_KEYS",
    "compare_section",
    "generations_csv",
    "individuals_csv",
    "pareto_table",
    "run_section",
    "single_csv",
    "single_table",
    "table1",
]

INDIVIDUAL_KEYS = (
    "gen",
    "index",
    "genome",
    "op",
    "parents",
    "changed",
    "accuracy",
    "test_accuracy",
    "fitness",
    "state",
    "reused",
    "seconds",
    "params",
    "macs",
    "structure_key",
)
"""The columns of ``individuals.csv``."""
SINGLE_KEYS = ("source", "gen", "n", "max", "min", "mean", "median", "std", "best")
"""The columns of ``single_evaluations.csv``."""


def _stat_rows(rows: list[dict[str, Any]], every: int, n: bool = False) -> list[str]:
    picked = [g for g in rows if g["gen"] % every == 0 or g is rows[-1]]
    out = [
        "| Gen |" + (" n |" if n else "") + " Max | Min | Avg | Med | Std-D | Best network structure |",
        "|---:|" + ("---:|" if n else "") + "---:|---:|---:|---:|---:|:---|",
    ]
    for g in picked:
        count = f" {g['n']} |" if n else ""
        out.append(
            f"| {g['gen']:02d} |{count} {g['max']:.2f} | {g['min']:.2f} | {g['mean']:.2f} "
            f"| {g['median']:.2f} | {g['std']:.2f} | `{g['best']}` |"
        )
    return out


def table1(summary: dict[str, Any], every: int = 1, source: str = "fitness") -> str:
    """Table 1 as markdown: one row per generation (``every`` > 1 thins the middle rows).

    ``source``: ``fitness`` (what selection used, as stored), ``validation`` or ``test``
    (accuracy averaged over occurrences, recomputed from the evaluations); the first line says which.
    """
    if source == "fitness":
        rows = summary["generations"]
        head = f"Fitness, what selection used (validation): {summary.get('fitness_label', summary['unit'])}"
    elif source == "validation":
        rows = summary["table1"]["validation"]
        head = f"Validation accuracy, averaged over occurrences, without the objective's penalty ({summary['unit']})"
    else:
        rows = summary["table1"]["test"] or []
        head = "Test accuracy %, averaged over occurrences as the fitness is (never seen by selection)"
    return "\n".join([head, "", *_stat_rows(rows, every)]) + "\n"


def single_table(summary: dict[str, Any], source: str = "validation", every: int = 1) -> str:
    """Statistics over single trainings per generation (n: trainings counted), as markdown."""
    rows = summary["single_evaluations"][source] or []
    head = (
        f"Single trainings, {source} accuracy (each training on its own; copies of a genome are "
        "separate trainings, so generation 0 of a uniform start has a spread)"
    )
    return "\n".join([head, "", *_stat_rows(rows, every, n=True)]) + "\n"


def generations_csv(summary: dict[str, Any], source: str = "fitness") -> str:
    """Table 1 as CSV: the stored fitness, or ``table1[source]`` (validation or test)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(STAT_KEYS)
    for g in summary["generations"] if source == "fitness" else summary["table1"][source] or []:
        w.writerow([g[k] for k in STAT_KEYS])
    return buf.getvalue()


def single_csv(summary: dict[str, Any]) -> str:
    """Statistics over single trainings, one row per (source, generation)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(SINGLE_KEYS)
    for source, rows in summary["single_evaluations"].items():
        for g in rows or []:
            w.writerow([source if k == "source" else g[k] for k in SINGLE_KEYS])
    return buf.getvalue()


def pareto_table(summary: dict[str, Any]) -> str:
    """The structures on the accuracy / parameters or accuracy / multiply-adds front, as markdown."""
    out = [
        f"Pareto fronts (accuracy: {summary['unit']}, mean of each structure's trainings; maximise it, "
        "minimise parameters or multiply-adds)",
        "",
        "| genome | accuracy | parameters | mult-adds | non-dominated on |",
        "|:--|--:|--:|--:|:--|",
    ]
    for e in summary["pareto"]:
        out.append(
            f"| `{e['genome']}` | {e['accuracy']:.2f} | {e['params'] or '-'} | {e['macs'] or '-'} "
            f"| {', '.join(e['fronts'])} |"
        )
    return "\n".join(out) + "\n"


def individuals_csv(inds: Iterable[Individual]) -> str:
    """Every individual with its evaluation, one row each (parents space-separated)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(INDIVIDUAL_KEYS)
    for i in inds:
        w.writerow([" ".join(map(str, i.parents)) if k == "parents" else getattr(i, k) for k in INDIVIDUAL_KEYS])
    return buf.getvalue()


def run_section(title: str, run: str, s: Mapping[str, Any]) -> list[str]:
    """One run's section of report.md (heading, budget, the Table 1s, single trainings, the best
    individual, the Pareto table), as markdown lines."""
    c = s["config"]
    every = 1 if len(s["generations"]) <= 21 else 5
    md = [
        f"## {title}",
        "",
        f"`{run}`: {s['state']}, N={c['population']}, T={c['generations']}, data {c['dataset']}, "
        f"fitness {s['fitness']}, objective {s['objective']}, {s['evaluations']} trainings ({s['reused']} reused, "
        f"{s['failed']} failed), {s['seconds']:.0f} s of evaluation.",
        "",
        "### Table 1 (validation fitness)",
        "",
        table1(dict(s), every=every),
    ]
    if s["objective"] != "accuracy":
        md += ["### Table 1 (validation accuracy, no penalty)", "", table1(dict(s), every=every, source="validation")]
    if s["table1"]["test"] is not None:
        md += ["### Table 1 (test accuracy, as the paper's caption)", "", table1(dict(s), every=every, source="test")]
    md += ["### Single trainings (validation)", "", single_table(dict(s), "validation", every)]
    if s["single_evaluations"]["test"] is not None:
        md += ["### Single trainings (test)", "", single_table(dict(s), "test", every)]
    if s["best"]:
        md.append(f"Best individual: `{s['best']}` (fitness {s['best_fitness']:.2f}).\n")
    if s["pareto"]:
        md += ["### Pareto view", "", pareto_table(dict(s))]
    return md


def _num(value: float | None) -> str:
    """A number for a markdown table; '-' for one a run does not have yet (nothing finished)."""
    return "-" if value is None else f"{value:.2f}"


def compare_section(cmp: Mapping[str, Any]) -> list[str]:
    """GA against random search (:func:`genet_lab.evolution.analysis.compare`) as markdown lines."""
    md = [
        "## GA vs random search",
        "",
        "| run | kind | seed | trainings | best single | best fitness | final mean |",
        "|:--|:--|--:|--:|--:|--:|--:|",
    ]
    for t in cmp["runs"]:
        md.append(
            f"| {PurePath(t['run']).name} | {t['kind']} | {t['seed']} | {t['evaluations']} | "
            f"{_num(t['best_single'])} | {_num(t['best_fitness'])} | {_num(t['final_mean'])} |"
        )
    md.append(
        f"\nGA's best single evaluation beats random search's on {cmp['ga_wins']} of "
        f"{cmp['paired_seeds']} paired seeds (GA runs with random initialisation).\n"
    )
    return md
