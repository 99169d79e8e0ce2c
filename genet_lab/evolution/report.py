"""Reports of stored runs: Table 1, Figures 3 to 5, the Pareto view, and GA against random search.

Orchestration only: reads run stores (read-only, so a running search may be reported), hands
the records to :mod:`~genet_lab.evolution.analysis` (what is computed),
:mod:`~genet_lab.evolution.tables` (text) and :mod:`~genet_lab.evolution.figures` (matplotlib
Figures, no pyplot state), and writes the files. No torch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genet_lab.errors import ConfigError, UsageError, show
from genet_lab.evolution import analysis, figures, reproduce, tables
from genet_lab.evolution.figures import run_label, save
from genet_lab.evolution.genes import GeneFrequencies, gene_frequencies
from genet_lab.evolution.records import Individual
from genet_lab.evolution.store import RunStore, is_run_dir
from genet_lab.evolution.tables import table1
from genet_lab.fileio import current_umask, remove_stale_temporaries, temporary_prefix, why_not_written

__all__ = [
    "best_so_far",
    "compare",
    "figure3",
    "figure5",
    "find_runs",
    "individuals_csv",
    "run_summary",
    "table1",
    "write_report",
]


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories named in ``paths``; a folder that is not a run contributes the runs directly inside it."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if is_run_dir(p):
            runs.append(p)
        elif p.is_dir():
            inner = sorted(q for q in p.iterdir() if is_run_dir(q))
            if not inner:
                raise UsageError(f"{show(p)} is neither a run directory nor a folder of runs (no run.sqlite found)")
            runs += inner
        else:
            raise UsageError(f"{show(p)} does not exist; give a run directory (made by genet-lab evolve)")
    return runs


def _individuals(run: Path) -> list[Individual]:
    with RunStore(run, readonly=True) as st:
        return st.individuals()


def run_summary(run: Path) -> dict[str, Any]:
    """What ``report --json`` prints for one run (see :func:`~genet_lab.evolution.analysis.summarize`),
    with the population's genes over time (:func:`~genet_lab.evolution.genes.gene_frequencies`)."""
    with RunStore(run, readonly=True) as st:
        config, inds = st.config(), st.individuals()
        out = analysis.summarize(config, st.generations(), inds, st.status())
    out["genes"] = gene_frequencies(inds, config["stages"]).to_dict()
    return out


def individuals_csv(run: Path) -> str:
    """``individuals.csv`` of one run."""
    return tables.individuals_csv(_individuals(run))


def best_so_far(run: Path) -> list[tuple[int, float]]:
    """(trained evaluations so far, best single evaluation so far), in evaluation order."""
    return analysis.best_so_far(_individuals(run))


def compare(runs: list[Path]) -> dict[str, Any] | None:
    """GA against random search, when both kinds are present: per-run bests and GA wins by seed
    (see :func:`~genet_lab.evolution.analysis.compare`)."""
    return analysis.compare([(str(r), run_summary(r)) for r in runs])


# -- figures -------------------------------------------------------------------------


def figure3(items: list[tuple[Path, dict[str, Any]]], path: Path) -> None:
    """Mean fitness per generation with bars from min to max (Fig. 3), one series per run."""
    save(figures.figure3([(run_label(s, run), s) for run, s in items]), path)


def figure_search(runs: list[Path], sums: list[dict[str, Any]], path: Path) -> None:
    """Best single evaluation so far against evaluations: GA and random search side by side."""
    series = [(run_label(s, run), s["kind"], best_so_far(run)) for run, s in zip(runs, sums)]
    save(figures.figure_search(series, sums[0]["unit"]), path)


def figure_parent_child(run: Path, path: Path, unit: str | None) -> dict[str, dict[str, Any]]:
    """Each changed child against its parents' fitness (not a figure of the paper); returns the
    correlations per operator."""
    points, corr = analysis.parent_child(_individuals(run))
    save(figures.figure_parent_child(points, corr, str(unit)), path)
    return corr


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
    inds = _individuals(run)
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


def _genes(s: dict[str, Any]) -> GeneFrequencies:
    g = s["genes"]
    return GeneFrequencies(
        tuple(g["stages"]),
        tuple(g["generations"]),
        tuple(tuple(r) for r in g["frequencies"]),
        tuple(g["individuals"]),
        tuple(g["distinct_structures"]),
    )


def _genes_line(genes: GeneFrequencies, name: str) -> str:
    """The report's sentence on the genes figure: diversity first to last, bits fixed at the end."""
    div = genes.diversity
    fixed = sum(v in (0.0, 1.0) for v in genes.frequencies[-1]) if genes.frequencies else 0
    return (
        f"Genes over time ({name}): structure diversity (distinct structures / N) {div[0]:.2f} in generation "
        f"{genes.generations[0]}, {div[-1]:.2f} in generation {genes.generations[-1]}; {fixed} of "
        f"{len(genes.labels)} bits the same in every individual of the last generation.\n"
    )


def _run_section(run: Path, s: dict[str, Any], out: Path, stem: str, plots: bool) -> tuple[list[str], list[Path]]:
    """One run's markdown and files."""
    md = tables.run_section(run_label(s, run), str(run), s) + reproduce.markdown(run)
    files = [
        (f"{stem}table1.csv", tables.generations_csv(s)),
        (f"{stem}individuals.csv", individuals_csv(run)),
        (f"{stem}single_evaluations.csv", tables.single_csv(s)),
    ]
    if s["table1"]["test"] is not None:
        files.append((f"{stem}table1_test.csv", tables.generations_csv(s, "test")))
    written = []
    for name, text in files:
        (out / name).write_text(text)
        written.append(out / name)
    if plots and s["generations"]:
        if s["kind"] == "ga":
            path = out / f"{stem}fig_parent_child.png"
            corr = figure_parent_child(run, path, s["unit"])
            written.append(path)
            md.append(
                f"Parent against child ({path.name}): "
                + ", ".join(
                    f"{op} n={v['n']} r={'n/a' if v['r'] is None else format(v['r'], '.2f')}" for op, v in corr.items()
                )
                + "\n"
            )
        path = save(
            figures.figure_genes(_genes(s), f"Genes over time: {run_label(s, run)}"), out / f"{stem}fig_genes.png"
        )
        written.append(path)
        md.append(_genes_line(_genes(s), path.name))
        files_new, md_new = _paper_figures(run, s, out, stem)
        written += files_new
        md += md_new
        written += figure5(run, out, stem)
    return md, written


def write_report(runs: list[Path], out: Path, plots: bool = True) -> list[Path]:
    """report.md, CSVs and figures for ``runs`` into ``out``; returns the files written.

    Every run is read before anything is made (a rejected store leaves nothing behind); the
    files are written into a temporary folder next to ``out`` and moved into ``out`` at the end,
    so a failure (a full disk, a read-only folder) is one line and leaves no partial report.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(
            "out",
            show(out),
            template="{option} {value} is a file; give a folder for report.md, the CSVs and the figures",
        )
    _refuse_links_out_of_runs(out, runs)
    sums = [run_summary(r) for r in runs]
    parent = out.parent
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    # An existing folder (a mount point too) gets its temporary inside it, so that every move is
    # a rename on one file system; a new one is made beside it and renamed into place.
    where = out if out.is_dir() else parent
    tmp: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(where, out.name)  # left by a report killed before its rename
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(out.name), suffix=".tmp", dir=where))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700; the report folder follows the umask
        names = [p.name for p in _write_files(runs, sums, tmp, plots)]
        if where == out:
            for name in names:
                os.replace(tmp / name, out / name)
            tmp.rmdir()
        else:
            os.rename(tmp, out)
        tmp = None
    except OSError as exc:
        why = why_not_written(exc).replace("{", "{{").replace("}", "}}")
        raise ConfigError(
            "out",
            show(out),
            template="cannot write the report to {value}: " + why + "; nothing was written (or give {option} "
            "another folder)",
        ) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            for p in missing:  # deepest first; only folders this call made
                with contextlib.suppress(OSError):
                    p.rmdir()
    return [out / name for name in names]


def _refuse_links_out_of_runs(out: Path, runs: list[Path]) -> None:
    """A report folder inside a run directory must stay inside it: a symbolic link planted there
    (``ln -s ../victim run/report``) would let a run received from someone else overwrite files
    elsewhere. Elsewhere ``out`` may be a link (the user chose it)."""
    target = Path(os.path.normpath(out.absolute()))
    for run in runs:
        home = Path(os.path.normpath(run.absolute()))
        if target == home or home not in target.parents:
            continue
        real, real_home = out.resolve(), run.resolve()
        if real != real_home and real_home not in real.parents:
            raise ConfigError(
                "out",
                show(out),
                template="{value} is inside run directory "
                + show(run).replace("{", "{{").replace("}", "}}")
                + " but a symbolic link leads it outside the run; a run's report stays inside the run: remove "
                "the link, or give {option} a folder of your own",
            )


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
    cmp = analysis.compare([(str(r), s) for r, s in zip(runs, sums)])
    if cmp:
        md += tables.compare_section(cmp)
        if plots:
            figure_search(runs, sums, out / "fig_ga_vs_random.png")
            written.append(out / "fig_ga_vs_random.png")
    (out / "report.md").write_text("\n".join(md) + "\n")
    written.append(out / "report.md")
    return written
