"""The report's figures: Figure 3, GA against random search, Figure 4 in the paper's layout,
parent against child and the Pareto view.

Each function draws data it is given (summaries, or what :mod:`genet_lab.evolution.analysis`
computed and tested without a figure) into a matplotlib ``Figure`` that is not registered
with pyplot (no backend switch, so a Jupyter kernel keeps its inline plots; nothing to
close), and returns it; :func:`save` writes it. The notebook widgets draw the same figures.
No torch, no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genet_lab.evolution.analysis import COSTS, ParentChild, ParentFitness, StructurePoint, front_of
from genet_lab.evolution.genes import GeneFrequencies


def new_figure(width: float, height: float, ncols: int = 1, dpi: int = 110) -> tuple[Any, Any]:
    """A pyplot-free Figure (no backend switch, nothing to close) and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    return fig, fig.subplots(1, ncols)


def save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    return path


def run_label(s: dict[str, Any], run: Path) -> str:
    """A run's legend label from its summary."""
    c = s["config"]
    return f"{'GA' if s['kind'] == 'ga' else 'random'} init={c.get('init')} seed={s['seed']} ({run.name})"


def figure3(items: Sequence[tuple[str, dict[str, Any]]]) -> Any:
    """Mean fitness per generation with bars from min to max (Fig. 3), one series per (label, summary)."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = new_figure(7, 4.2)
    n = len(items)
    for k, (label, s) in enumerate(items):
        g = s["generations"]
        x = [r["gen"] + (k - (n - 1) / 2) * 0.12 for r in g]
        mean = [r["mean"] for r in g]
        err = [[r["mean"] - r["min"] for r in g], [r["max"] - r["mean"] for r in g]]
        ax.errorbar(x, mean, yerr=err, marker="o", ms=3.5, capsize=2.5, lw=1.3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel(items[0][1]["unit"])
    ax.set_title("Mean fitness per generation (bars: min to max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def figure_search(series: Sequence[tuple[str, str, Sequence[tuple[int, float]]]], unit: str) -> Any:
    """Best single evaluation so far against trained evaluations, one step line per
    (label, kind, points); GA solid, random search dashed."""
    fig, ax = new_figure(7, 4.2)
    for label, kind, pts in series:
        if pts:
            ax.step(*zip(*pts), where="post", lw=1.3, ls="-" if kind == "ga" else "--", label=label)
    ax.set_xlabel("trained evaluations")
    ax.set_ylabel(f"best so far ({unit})")
    ax.set_title("GA vs random search at equal budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def figure4_paper(points: Sequence[ParentChild], unit: str = "accuracy") -> Any:
    """The paper's Figure 4: x = first parent, y = second parent (0 for a mutation); a dot is
    bigger and redder the higher the child's accuracy."""
    fig, ax = new_figure(5.5, 5)
    if points:
        child = [p.child for p in points]
        lo, hi = min(child), max(child)
        span = (hi - lo) or 1.0
        sizes = [12 + 110 * ((c - lo) / span) ** 1.5 for c in child]
        dots = ax.scatter(
            [p.first for p in points],
            [p.second for p in points],
            s=sizes,
            c=child,
            cmap="coolwarm",
            vmin=lo,
            vmax=hi,
            alpha=0.75,
            edgecolors="k",
            linewidths=0.3,
        )
        fig.colorbar(dots, ax=ax, label=f"child's {unit}")
        top = max(max(p.first, p.second) for p in points)
        ax.set_ylim(-0.04 * top, 1.04 * top)  # from 0, where the mutations sit, as in the paper
    n_mut = sum(p.op == "mutation" for p in points)
    ax.set_xlabel(f"first parent's {unit}")
    ax.set_ylabel(f"second parent's {unit} (0: mutation)")
    ax.set_title(f"Parents and child (Fig. 4): {n_mut} mutations on the x axis, {len(points) - n_mut} crossovers")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    return fig


def figure_parent_child(points: Sequence[ParentFitness], corr: dict[str, dict[str, Any]], unit: str = "") -> Any:
    """Each changed child's own evaluation against its parents' fitness, mutations and crossovers
    marked with their correlation ``r``, and the line child = parent (not a figure of the paper:
    how much of its parents' fitness a child keeps)."""
    fig, ax = new_figure(5.5, 5)
    for op, style in (("mutation", dict(marker="o", c="tab:blue")), ("crossover", dict(marker="^", c="tab:red"))):
        xy = [(p.parent, p.child) for p in points if p.op == op]
        if xy:
            r = corr.get(op, {}).get("r")
            lab = f"{op} (n={len(xy)}" + (f", r={r:.2f})" if r is not None else ")")
            ax.scatter(*zip(*xy), s=16, alpha=0.6, label=lab, **style)
    if points:
        lo = min(min(p.parent, p.child) for p in points)
        hi = max(max(p.parent, p.child) for p in points)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, alpha=0.5, label="child = parent")
    ax.set_xlabel(f"parent fitness (mean of both parents for crossover)\n{unit}")
    ax.set_ylabel("child's own evaluation")
    ax.set_title("Parent vs child (changed children only)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def figure_pareto(points: Sequence[StructurePoint], unit: str = "accuracy") -> Any:
    """Accuracy against parameters and against multiply-adds (log scale over a decade or more), every evaluated
    structure a dot, the non-dominated front joined and ringed."""
    from matplotlib.ticker import EngFormatter, NullFormatter

    fig, axes = new_figure(10, 4.2, ncols=2)
    for ax, cost in zip(axes, COSTS):
        known = [p for p in points if getattr(p, cost)]
        if known:
            ax.scatter(
                [getattr(p, cost) for p in known],
                [p.accuracy for p in known],
                s=14,
                alpha=0.45,
                color="tab:blue",
                label=f"evaluated structures (n={len(known)})",
            )
            front = front_of(known, cost)
            ax.step(
                [getattr(p, cost) for p in front], [p.accuracy for p in front], where="post", color="tab:red", lw=1.2
            )
            ax.scatter(
                [getattr(p, cost) for p in front],
                [p.accuracy for p in front],
                s=46,
                facecolors="none",
                edgecolors="tab:red",
                linewidths=1.3,
                label=f"non-dominated (n={len(front)})",
            )
            costs = [getattr(p, cost) for p in known]
            if max(costs) >= 10 * min(costs):  # a log axis only where sizes span a decade or more
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on a short log range
            ax.xaxis.set_major_formatter(EngFormatter())  # 25k, 3.5M
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xlabel("parameters" if cost == "params" else "multiply-adds")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("Accuracy against size: higher and further left is better", fontsize=10)
    return fig


def figure_genes(genes: GeneFrequencies, title: str = "") -> Any:
    """The population's genes over time: a heatmap of generations (rows) x bits (columns, the paper's
    order, grouped by stage), the share of individuals with each bit set, beside the structure
    diversity (distinct structures / N) per generation."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    bits = len(genes.labels)
    fig = Figure(figsize=(min(14.0, 3.5 + 0.3 * bits), 2.2 + 0.16 * max(len(genes.generations), 8)), dpi=110)
    ax, ax_div = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(4, bits), 4]})
    rows = [list(r) for r in genes.frequencies] or [[0.0] * bits]
    first, last = (genes.generations[0], genes.generations[-1]) if genes.generations else (0, 0)
    image = ax.imshow(
        rows,
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        origin="upper",
        extent=(-0.5, bits - 0.5, last + 0.5, first - 0.5),
    )
    for a, _b in genes.stage_spans()[1:]:
        ax.axvline(a - 0.5, color="white", lw=2)
    ax.set_xticks(range(bits))
    ax.set_xticklabels([label.split(" ")[1] for label in genes.labels], rotation=90, fontsize=7)
    for s, (a, b) in enumerate(genes.stage_spans(), 1):
        ax.text((a + b - 1) / 2, first - 0.6, f"stage {s}", ha="center", va="bottom", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("generation")
    ax.set_xlabel("bit (edge i-j: node i feeds node j), the paper's order")
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.01, label="share of individuals with the bit set")
    ax_div.plot(genes.diversity, genes.generations, "o-", color="tab:red", ms=3)
    ax_div.set_xlim(0, 1.05)
    ax_div.set_ylim(last + 0.5, first - 0.5)
    ax_div.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_div.set_xlabel("distinct structures / N")
    ax_div.set_title("diversity", fontsize=9)
    ax_div.grid(alpha=0.3)
    fig.suptitle(title or "The population's genes over time", fontsize=10)
    return fig
