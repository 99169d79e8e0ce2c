"""Run summaries as text: Table 1, single-training statistics and the Pareto fronts, in markdown and CSV.

Pure functions over the JSON-shaped summary of :func:`genet_lab.evolution.report.run_summary`
(plain dicts and lists), so a summary read back from ``report --json`` renders the same. Knows
no store, no matplotlib, no torch.
"""

from __future__ import annotations

import csv
import io
from typing import Any

STAT_KEYS = ("gen", "max", "min", "mean", "median", "std", "best")
"""Table 1's columns, as ``report --json`` and ``table1.csv`` name them."""
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
