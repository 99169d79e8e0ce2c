"""Search on the short fidelity or on the long one? Every strategy, judged by the long table's truth.

Two tables of one space at two budgets (default ``cifar16-333-e4`` and ``cifar16-333-e12``: the
same 216 structures and seeds at 4 and 12 epochs). Each strategy of ``bench compare`` runs
``--repeats`` times (repeat r with the same run seed everywhere):

- on the long table, ``--budget`` evaluations: the reference;
- on the short table, the same number of evaluations (equal evaluations: a third of the cost at
  4 against 12 epochs);
- on the short table, as many evaluations as the long search's training cost buys (equal compute:
  ``--budget`` x long epochs / short epochs; an epoch costs the same at both budgets, the same
  network and data).

Every returned structure, and every point of the anytime curves, is judged by the long table's
mean (``bench compare --truth``). Printed as a markdown table (regret and P(top 1%) with 95%
intervals, and each short search's regret minus the long search's); every figure goes to
``benchmarks/results/short_vs_long-<short>-<long>.json`` and ``--png`` draws the anytime curves
against the compute spent, in long trainings.

    .venv/bin/python benchmarks/short_vs_long.py
    .venv/bin/python benchmarks/short_vs_long.py --budget 300 --png docs/experiments/short_vs_long-b300.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from paper_findings import ci  # this folder's script: the same interval text

from genet_lab.bench.compare import Scores, difference, summarize, truth_means
from genet_lab.bench.table import load_table
from genet_lab.errors import UsageError
from genet_lab.evolution.repeats import STRATEGIES, check_names, run_repeats

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", default="cifar16-333-e4", help="the short-fidelity table (default cifar16-333-e4)")
    p.add_argument("--long", default="cifar16-333-e12", help="the long-fidelity table, the truth (default -e12)")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--repeats", type=int, default=1000)
    p.add_argument("--budget", type=int, default=100, help="evaluations of the long search (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="where to write every figure (default benchmarks/results/...)")
    p.add_argument("--png", type=Path, help="draw the anytime curves against compute here")
    args = p.parse_args(argv)
    short, long = load_table(args.short), load_table(args.long)
    if not (short.settings.epochs and long.settings.epochs and short.settings.epochs < long.settings.epochs):
        raise UsageError(f"--short {short.name} must have fewer epochs than --long {long.name}")
    if len(long.settings.seeds) < 2:  # its only training is its mean: a search on it sees the truth itself
        raise UsageError(
            f"--long {long.name} has one seed, so a search on it sees its truth without noise; give a long "
            "table of two or more seeds (bench compare --truth judges the short search alone)"
        )
    factor = long.settings.epochs / short.settings.epochs
    names = check_names([n.strip() for n in args.strategies.split(",") if n.strip()])
    arms = {
        "long": (args.long, args.budget, 1.0),
        "short, equal evaluations": (args.short, args.budget, 1 / factor),
        "short, equal compute": (args.short, round(args.budget * factor), 1 / factor),
    }
    start = time.perf_counter()
    out: dict[str, Any] = {"short": short.name, "long": long.name, "factor": factor, "budget": args.budget,
                           "repeats": args.repeats, "seed": args.seed, "arms": {}}  # fmt: skip
    raw: dict[str, dict[str, np.ndarray]] = {}
    for arm, (ref, budget, cost) in arms.items():
        table, results, seconds = run_repeats(ref, names, args.repeats, budget, args.seed, truth=long)
        summary = summarize(table, results, budget, truth=long)
        summary.update(cost_per_evaluation=cost, seconds=seconds)
        out["arms"][arm] = summary
        scores = Scores(truth_means(table, long))
        raw[arm] = {n: scores.regret(results[n]) for n in names}
    for arm in list(arms)[1:]:
        out["arms"][arm]["versus_long"] = {n: difference(raw[arm][n], raw["long"][n]) for n in names}
    out["seconds"] = time.perf_counter() - start
    print(markdown(out, names))
    path = args.json or RESULTS / f"short_vs_long-{short.name}-{long.name}-b{args.budget}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {path}")
    if args.png:
        figure(out, names, args.png)
        print(f"wrote {args.png}")
    return 0


def markdown(out: dict[str, Any], names: list[str]) -> str:
    arms = out["arms"]
    b, f = out["budget"], out["factor"]
    lines = [
        f"Searches judged by `{out['long']}`'s means; `{out['short']}` costs 1/{f:g} of a long training. "
        f"{out['repeats']:,} repeats per strategy and arm, 95% CIs.",
        "",
        f"| strategy | long, {b} evaluations: regret | P(top 1%) | short, {b} evaluations: regret | minus long | "
        f"short, {round(b * f)} evaluations (equal compute): regret | minus long | P(top 1%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        lo, se, sc = (arms[a]["strategies"][n] for a in arms)
        ve, vc = (arms[a]["versus_long"][n] for a in list(arms)[1:])
        lines.append(
            f"| {n} | {ci(lo['regret'])} | {ci(lo['top1'], 3)} | {ci(se['regret'])} | {ci(ve, sign=True)} | "
            f"{ci(sc['regret'])} | {ci(vc, sign=True)} | {ci(sc['top1'], 3)} |"
        )
    lines.append(f"\n{sum(out['arms'][a]['seconds'][n] for a in arms for n in names):.0f} s of searches.")
    return "\n".join(lines)


def figure(out: dict[str, Any], names: list[str], path: Path) -> None:
    from matplotlib.figure import Figure

    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.6 * rows + 0.5))
    grid = fig.subplots(rows, cols, sharey=True, squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, n in zip(axes, names):
        for arm, style in zip(out["arms"], ("-", ":", "--")):
            a = out["arms"][arm]
            any_ = a["strategies"][n]["anytime"]
            x = np.asarray(any_["evaluations"], dtype=float) * a["cost_per_evaluation"]
            y = np.asarray([np.nan if v is None else v for v in any_["true"]], dtype=float)
            ax.plot(x, y, style, lw=1.5, label=f"{arm} (regret {a['strategies'][n]['regret']['mean']:.2f})")
        ax.axhline(out["arms"]["long"]["best_mean"], color="k", lw=0.6, ls=":")
        ax.set_title(n)
        ax.set_xlabel(f"compute (trainings of {out['long']})")
        ax.set_xlim(0, out["budget"])
        ax.legend(fontsize=7, loc="lower right")
    for row in grid:
        row[0].set_ylabel(f"{out['long']} mean of best so far (%)")
    fig.suptitle(f"search on {out['short']} or {out['long']}, judged by {out['long']}: {out['repeats']:,} repeats")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
