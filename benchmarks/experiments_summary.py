"""The tables of docs/experiments.md from the runs benchmarks/experiments.sh made.

    .venv/bin/python benchmarks/experiments_summary.py runs/digits [runs/digits-retrain.tsv] [--figure fig.png]

Prints markdown: GA against random search per paired seed (same seed: the same generation 0),
the all-zero start against the random one, and the best structures retrained (when the TSV of
experiments.sh is given).
"""

from __future__ import annotations

import csv
import statistics as st
import sys
from pathlib import Path

from genet_lab.evolution.report import best_so_far, run_summary


def _runs(root: Path) -> dict[str, dict]:
    out = {}
    for d in sorted(root.iterdir()):
        if (d / "run.sqlite").exists():
            s = run_summary(d)
            if s["state"] == "finished":
                out[d.name] = s
            else:
                print(f"(skipped {d.name}: {s['state']})", file=sys.stderr)
    return out


def _half_best(run: Path) -> float:
    """Best single evaluation within the first half of the budget."""
    pts = best_so_far(run)
    half = pts[-1][0] / 2 if pts else 0
    return max((b for n, b in pts if n <= half), default=float("nan"))


def figure(runs: dict[str, dict], path: Path, title: str) -> None:
    """Generation mean averaged over seeds (band: min to max over seeds), per kind of run."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.8), dpi=110)
    ax = fig.subplots()
    for prefix, label, style in (
        ("ga-s", "GA, random start", "-o"),
        ("ga-zeros-s", "GA, all-zero start", "-s"),
        ("rs-s", "random search (batch means)", "--^"),
    ):
        series = [[g["mean"] for g in s["generations"]] for n, s in runs.items() if n.startswith(prefix)]
        if not series:
            continue
        t = min(len(x) for x in series)
        cols = [[x[i] for x in series] for i in range(t)]
        mean = [st.mean(c) for c in cols]
        ax.plot(range(t), mean, style, ms=4, label=f"{label} ({len(series)} seeds)")
        ax.fill_between(range(t), [min(c) for c in cols], [max(c) for c in cols], alpha=0.15)
    ax.set_xlabel("generation")
    ax.set_ylabel("generation mean, val. accuracy %")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str]) -> int:
    fig_path = None
    if "--figure" in argv:
        i = argv.index("--figure")
        fig_path = Path(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    root = Path(argv[0])
    runs = _runs(root)
    if fig_path:
        figure(runs, fig_path, f"{root.name}: mean over seeds of each generation's mean (band: min-max over seeds)")
    seeds = sorted(int(n.split("-s")[1]) for n in runs if n.startswith("ga-s"))
    print(
        "| seed | GA best single | random best single | GA final mean | random last batch mean "
        "| GA max gen. mean | random max batch mean |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|")
    wins, ties, diffs, mean_diffs = 0, 0, [], []
    for s in seeds:
        ga, rs = runs.get(f"ga-s{s}"), runs.get(f"rs-s{s}")
        if not (ga and rs):
            continue
        g, r = ga["generations"], rs["generations"]
        wins += ga["best_single"] > rs["best_single"]
        ties += ga["best_single"] == rs["best_single"]
        diffs.append(ga["best_single"] - rs["best_single"])
        mean_diffs.append(g[-1]["mean"] - r[-1]["mean"])
        print(
            f"| {s} | {ga['best_single']:.2f} | {rs['best_single']:.2f} | {g[-1]['mean']:.2f} | "
            f"{r[-1]['mean']:.2f} | {max(x['mean'] for x in g):.2f} | {max(x['mean'] for x in r):.2f} |"
        )
    n = len(diffs)
    if n:
        sd = st.stdev(diffs) if n > 1 else float("nan")
        msd = st.stdev(mean_diffs) if n > 1 else float("nan")
        print(
            f"\nGA's best single evaluation above random search's on {wins} of {n} paired seeds "
            f"({ties} ties); difference {st.mean(diffs):+.2f} +- {sd:.2f} (mean +- sd over seeds). "
            f"Final GA generation mean minus random search's last batch mean: {st.mean(mean_diffs):+.2f} "
            f"+- {msd:.2f}."
        )
    zeros = sorted(n for n in runs if n.startswith("ga-zeros-s"))
    if zeros:
        print(
            "\n| run | gen. 0 mean | reaches the random start's gen. 0 mean at | final mean | "
            "random start (same seed) final mean |"
        )
        print("|:--|--:|--:|--:|--:|")
        for name in zeros:
            z = runs[name]["generations"]
            ga = runs.get(f"ga-s{name.split('-s')[-1]}")
            level = ga["generations"][0]["mean"] if ga else float("nan")
            at = next((x["gen"] for x in z if x["mean"] >= level), None)
            print(
                f"| {name} | {z[0]['mean']:.2f} | {at if at is not None else 'not reached'} (level {level:.2f}) | "
                f"{z[-1]['mean']:.2f} | {ga['generations'][-1]['mean'] if ga else float('nan'):.2f} |"
            )
    if len(argv) > 1 and Path(argv[1]).exists():
        rows = list(csv.DictReader(open(argv[1]), delimiter="\t"))
        by: dict[str, list[float]] = {}
        best: dict[str, str] = {}
        for row in rows:
            by.setdefault(row["run"], []).append(100 * float(row["val_accuracy"]))
            best[row["run"]] = row["best"]
        print("\n| run | best structure | retrained (mean of 2 seeds) |")
        print("|:--|:--|--:|")
        for name, accs in by.items():
            print(f"| {name} | `{best[name]}` | {st.mean(accs):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
