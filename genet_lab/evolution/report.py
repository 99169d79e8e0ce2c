"""Reports of stored runs: Table 1, Figures 3 to 5, the Pareto view, and GA against random search.

Reads run stores only (read-only, so a running search may be reported);
plots with matplotlib Figure objects (no pyplot state). What the newer tables and
figures show is computed in :mod:`genet_lab.evolution.analysis`. No torch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import statistics
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genet_lab.errors import UsageError, show
from genet_lab.evolution import analysis, figures
from genet_lab.evolution.config import UNITS, parse_objective
from genet_lab.evolution.figures import new_figure, run_label, save
from genet_lab.evolution.records import Individual
from genet_lab.evolution.store import RunStore, is_run_dir
from genet_lab.evolution.tables import (
    STAT_KEYS,
    generations_csv,
    pareto_table,
    single_csv,
    single_table,
    table1,
)
from genet_lab.fileio import current_umask


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories named in ``paths``; a folder that is not a run contributes the runs directly inside it."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if is_run_dir(p):
            runs.append(p)
        elif p.is_dir():
            inner = sorted(q for q in p.iterdir() if is_run_dir(q))
            if not inner:
                raise UsageError(f"{p} is neither a run directory nor a folder of runs (no run.sqlite found)")
            runs += inner
        else:
            raise UsageError(f"{p} does not exist; give a run directory (made by genet-lab evolve)")
    return runs


def _trained(inds: Iterable[Individual]) -> list[Individual]:
    """Finished evaluations that were trained (not copied from an identical structure)."""
    return [i for i in inds if i.state in ("done", "failed") and not i.reused]


def _accuracy(ind: Individual) -> float:
    if ind.accuracy is None:
        raise ValueError(f"individual {ind.gen}:{ind.index} is {ind.state} but has no accuracy")
    return ind.accuracy


def fitness_label(cfg: dict[str, Any]) -> str:
    """What the stored (selection) fitness is: the unit, with the objective's penalty when there is one."""
    unit = UNITS.get(cfg["fitness"], cfg["fitness"])
    kind, lam = parse_objective(cfg.get("objective", "accuracy"))
    penalty = "" if kind == "accuracy" else f" - {lam:g} x log10({'parameters' if kind == 'params' else 'mult-adds'})"
    return f"{unit}{penalty}, averaged over occurrences"


def run_summary(run: Path) -> dict[str, Any]:
    """What ``report --json`` prints for one run (a JSON object: plain dicts and lists).

    ``generations`` is Table 1 of the fitness selection used, as stored; ``table1`` recomputes it
    per source (``validation``; ``test`` when the run measured test accuracy, else None);
    ``single_evaluations`` has the same columns over single trainings; ``pareto`` lists the
    structures on the accuracy / parameters and accuracy / multiply-adds fronts.
    """
    with RunStore(run, readonly=True) as st:
        cfg, gens, inds, status = st.config(), st.generations(), st.individuals(), st.status()
    trained = _trained(inds)
    by = "structure_key" if cfg.get("reuse_structures") else "bits"
    has_test = any(i.test_accuracy is not None for i in trained)
    return {
        "kind": cfg["kind"],
        "seed": cfg["seed"],
        "fitness": cfg["fitness"],
        "unit": UNITS.get(cfg["fitness"]),
        "objective": cfg.get("objective", "accuracy"),
        "fitness_label": fitness_label(cfg),
        "config": cfg,
        "state": status.state,
        "generations": [{k: getattr(g, k) for k in STAT_KEYS} for g in gens],
        "table1": {
            "validation": analysis.averaged_table(inds, "validation", by),
            "test": analysis.averaged_table(inds, "test", by) if has_test else None,
        },
        "single_evaluations": {
            "validation": analysis.single_stats(inds, "validation"),
            "test": analysis.single_stats(inds, "test") if has_test else None,
        },
        "evaluations": len(trained),
        "reused": sum(i.reused for i in inds),
        "failed": sum(i.state == "failed" for i in inds),
        "seconds": sum(i.seconds or 0.0 for i in trained),
        "best": status.best,
        "best_fitness": status.best_fitness,
        "best_single": max((_accuracy(i) for i in trained), default=None),
        "best_single_test": max((i.test_accuracy for i in trained if i.test_accuracy is not None), default=None),
        "pareto": analysis.pareto(analysis.structure_points(inds)),
    }


def individuals_csv(run: Path) -> str:
    with RunStore(run, readonly=True) as st:
        inds = st.individuals()
    keys = (
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
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(keys)
    for i in inds:
        w.writerow([" ".join(map(str, i.parents)) if k == "parents" else getattr(i, k) for k in keys])
    return buf.getvalue()


def best_so_far(run: Path) -> list[tuple[int, float]]:
    """(trained evaluations so far, best single evaluation so far), in evaluation order."""
    with RunStore(run, readonly=True) as st:
        inds = _trained(st.individuals())
    out, best = [], float("-inf")
    for n, i in enumerate(inds, 1):
        best = max(best, _accuracy(i))
        out.append((n, best))
    return out


def compare(runs: list[Path]) -> dict[str, Any] | None:
    """GA against random search, when both kinds are present: per-run bests and GA wins by seed."""
    sums = [(r, run_summary(r)) for r in runs]
    kinds = {s["kind"] for _, s in sums}
    if kinds != {"ga", "random"}:
        return None
    table = [
        {
            "run": str(r),
            "kind": s["kind"],
            "seed": s["seed"],
            "init": s["config"].get("init"),
            "evaluations": s["evaluations"],
            "best_single": s["best_single"],
            "best_fitness": s["best_fitness"],
            "best": s["best"],
            "final_mean": s["generations"][-1]["mean"] if s["generations"] else None,
        }
        for r, s in sums
    ]
    # pair each random search with the randomly initialised GA run of the same seed
    ga = {t["seed"]: t for t in table if t["kind"] == "ga" and t["init"] == "random"}
    rnd = {t["seed"]: t for t in table if t["kind"] == "random"}
    # a run with nothing evaluated yet has no best: it is not paired
    pairs = [
        (ga[s], rnd[s])
        for s in sorted(set(ga) & set(rnd))
        if ga[s]["best_single"] is not None and rnd[s]["best_single"] is not None
    ]
    wins = sum(g["best_single"] > r["best_single"] for g, r in pairs)
    return {"runs": table, "paired_seeds": len(pairs), "ga_wins": wins}


# -- figures -------------------------------------------------------------------------


def figure3(items: list[tuple[Path, dict[str, Any]]], path: Path) -> None:
    """Mean fitness per generation with bars from min to max (Fig. 3), one series per run."""
    save(figures.figure3([(run_label(s, run), s) for run, s in items]), path)


def figure_search(runs: list[Path], sums: list[dict[str, Any]], path: Path) -> None:
    """Best single evaluation so far against evaluations: GA and random search side by side."""
    series = [(run_label(s, run), s["kind"], best_so_far(run)) for run, s in zip(runs, sums)]
    save(figures.figure_search(series, sums[0]["unit"]), path)


def figure4(run: Path, path: Path) -> dict[str, dict[str, Any]]:
    """Child fitness against parent fitness for changed children (Fig. 4); returns the correlations."""
    import numpy as np

    with RunStore(run, readonly=True) as st:
        inds = st.individuals()
        unit = UNITS.get(st.config()["fitness"])
    fit = {(i.gen, i.index): i.fitness for i in inds}
    pts: dict[str, list[tuple[float, float]]] = {"mutation": [], "crossover": []}
    for i in inds:
        if i.op in pts and i.changed and i.accuracy is not None and i.state != "pending":
            parents = [f for f in (fit.get((i.gen - 1, p)) for p in i.parents) if f is not None]
            if len(parents) == len(i.parents):
                pts[i.op].append((statistics.fmean(parents), i.accuracy))
    fig, ax = new_figure(5.5, 5)
    corr: dict[str, float | None] = {}
    for op, style in (("mutation", dict(marker="o", c="tab:blue")), ("crossover", dict(marker="^", c="tab:red"))):
        xy = pts[op]
        if len(xy) >= 3:
            a = np.array(xy)
            corr[op] = float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]) if a[:, 0].std() > 0 and a[:, 1].std() > 0 else None
        if xy:
            lab = f"{op} (n={len(xy)}" + (f", r={corr[op]:.2f})" if corr.get(op) is not None else ")")
            ax.scatter(*zip(*xy), s=16, alpha=0.6, label=lab, **style)
    all_xy = pts["mutation"] + pts["crossover"]
    if all_xy:
        lo = min(min(p) for p in all_xy)
        hi = max(max(p) for p in all_xy)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, alpha=0.5, label="child = parent")
    ax.set_xlabel(f"parent fitness (mean of both parents for crossover)\n{unit}")
    ax.set_ylabel("child's own evaluation")
    ax.set_title("Parent vs child (changed children only)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save(fig, path)
    return {op: {"n": len(v), "r": corr.get(op)} for op, v in pts.items()}


def figure5(run: Path, out: Path, stem: str) -> list[Path]:
    """The final generation's best structure and the run's best, drawn (graphviz PNG or text)."""
    from genet_lab.encoding.draw import genome_text, have_dot, render
    from genet_lab.encoding.genome import parse

    with RunStore(run, readonly=True) as st:
        gens = st.generations()
        status = st.status()
    if not gens:
        return []
    picks = {"final": gens[-1].best, "overall": status.best}
    written = []
    for name, notation in picks.items():
        if notation is None:
            continue
        g = parse(notation)
        if have_dot():
            p = out / f"{stem}fig5_{name}.png"
            p.write_bytes(render(g, "png", title=f"{name} best: {notation}"))
        else:
            p = out / f"{stem}fig5_{name}.txt"
            p.write_text(genome_text(g) + "\n")
        written.append(p)
    return written


def _paper_figures(run: Path, s: dict[str, Any], out: Path, stem: str) -> tuple[list[Path], list[str]]:
    """Figure 4 in the paper's layout and the Pareto view of one run: files written, markdown lines."""
    with RunStore(run, readonly=True) as st:
        inds = st.individuals()
    unit = s["unit"] or "accuracy"
    written, md = [], []
    if s["kind"] == "ga":
        pts = analysis.figure4_points(inds)
        path = figures.save(figures.figure4_paper(pts, unit), out / f"{stem}fig4_paper.png")
        written.append(path)
        md.append(
            f"Figure 4 in the paper's layout ({path.name}): {len(pts)} changed children, "
            f"{sum(p.op == 'mutation' for p in pts)} of them mutations (on the x axis).\n"
        )
    points = analysis.structure_points(inds)
    if points:
        written.append(figures.save(figures.figure_pareto(points, unit), out / f"{stem}fig_pareto.png"))
    return written, md


def _run_section(run: Path, s: dict[str, Any], out: Path, stem: str, plots: bool) -> tuple[list[str], list[Path]]:
    """One run's markdown and files."""
    c = s["config"]
    every = 1 if len(s["generations"]) <= 21 else 5
    md = [
        f"## {run_label(s, run)}",
        "",
        f"`{run}`: {s['state']}, N={c['population']}, T={c['generations']}, data {c['dataset']}, "
        f"fitness {s['fitness']}, objective {s['objective']}, {s['evaluations']} trainings ({s['reused']} reused, "
        f"{s['failed']} failed), {s['seconds']:.0f} s of evaluation.",
        "",
        "### Table 1 (validation fitness)",
        "",
        table1(s, every=every),
    ]
    if s["objective"] != "accuracy":
        md += ["### Table 1 (validation accuracy, no penalty)", "", table1(s, every=every, source="validation")]
    if s["table1"]["test"] is not None:
        md += ["### Table 1 (test accuracy, as the paper's caption)", "", table1(s, every=every, source="test")]
    md += ["### Single trainings (validation)", "", single_table(s, "validation", every)]
    if s["single_evaluations"]["test"] is not None:
        md += ["### Single trainings (test)", "", single_table(s, "test", every)]
    if s["best"]:
        md.append(f"Best individual: `{s['best']}` (fitness {s['best_fitness']:.2f}).\n")
    if s["pareto"]:
        md += ["### Pareto view", "", pareto_table(s)]
    files = [
        (f"{stem}table1.csv", generations_csv(s)),
        (f"{stem}individuals.csv", individuals_csv(run)),
        (f"{stem}single_evaluations.csv", single_csv(s)),
    ]
    if s["table1"]["test"] is not None:
        files.append((f"{stem}table1_test.csv", generations_csv(s, "test")))
    written = []
    for name, text in files:
        (out / name).write_text(text)
        written.append(out / name)
    if plots and s["generations"]:
        if s["kind"] == "ga":
            corr = figure4(run, out / f"{stem}fig4_parent_child.png")
            written.append(out / f"{stem}fig4_parent_child.png")
            md.append(
                "Parent-child correlation (Fig. 4): "
                + ", ".join(
                    f"{op} n={v['n']} r={'n/a' if v['r'] is None else format(v['r'], '.2f')}" for op, v in corr.items()
                )
                + "\n"
            )
        files_new, md_new = _paper_figures(run, s, out, stem)
        written += files_new
        md += md_new
        written += figure5(run, out, stem)
    return md, written


def _num(value: float | None) -> str:
    """A number for a markdown table; '-' for one a run does not have yet (nothing finished)."""
    return "-" if value is None else f"{value:.2f}"


def write_report(runs: list[Path], out: Path, plots: bool = True) -> list[Path]:
    """report.md, CSVs and figures for ``runs`` into ``out``; returns the files written.

    Every run is read before anything is made (a rejected store leaves nothing behind); the
    files are written into a temporary folder next to ``out`` and moved into ``out`` at the end,
    so a failure (a full disk, a read-only folder) is one line and leaves no partial report.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {show(out)} is a file; give a folder for report.md, the CSVs and the figures")
    sums = [run_summary(r) for r in runs]
    parent = out.parent
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    tmp: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700; the report folder follows the umask
        names = [p.name for p in _write_files(runs, sums, tmp, plots)]
        if out.exists():
            for name in names:
                os.replace(tmp / name, out / name)
            tmp.rmdir()
        else:
            os.rename(tmp, out)
        tmp = None
    except OSError as exc:
        raise UsageError(
            f"cannot write the report to {show(out)}: {exc.strerror or exc}; nothing was written "
            "(free some space, or give --out a writable folder)"
        ) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            for p in missing:  # deepest first; only folders this call made
                with contextlib.suppress(OSError):
                    p.rmdir()
    return [out / name for name in names]


def _write_files(runs: list[Path], sums: list[dict[str, Any]], out: Path, plots: bool) -> list[Path]:
    written: list[Path] = []
    md = ["# genet-lab report", ""]
    for k, (run, s) in enumerate(zip(runs, sums)):
        stem = "" if len(runs) == 1 else f"{k:02d}_{run.name}_"
        lines, files = _run_section(run, s, out, stem, plots)
        md += lines
        written += files
    if plots and any(s["generations"] for s in sums):
        figure3([(r, s) for r, s in zip(runs, sums) if s["generations"]], out / "fig3_mean_fitness.png")
        written.append(out / "fig3_mean_fitness.png")
    cmp = compare(runs)
    if cmp:
        md += [
            "## GA vs random search",
            "",
            "| run | kind | seed | trainings | best single | best fitness | final mean |",
            "|:--|:--|--:|--:|--:|--:|--:|",
        ]
        for t in cmp["runs"]:
            md.append(
                f"| {Path(t['run']).name} | {t['kind']} | {t['seed']} | {t['evaluations']} | "
                f"{_num(t['best_single'])} | {_num(t['best_fitness'])} | {_num(t['final_mean'])} |"
            )
        md.append(
            f"\nGA's best single evaluation beats random search's on {cmp['ga_wins']} of "
            f"{cmp['paired_seeds']} paired seeds (GA runs with random initialisation).\n"
        )
        if plots:
            figure_search(runs, sums, out / "fig_ga_vs_random.png")
            written.append(out / "fig_ga_vs_random.png")
    (out / "report.md").write_text("\n".join(md) + "\n")
    written.append(out / "report.md")
    return written
