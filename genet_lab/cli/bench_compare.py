"""``genet-lab bench compare``: search strategies repeated on a table at an equal budget, judged by its truth.

Each strategy (:data:`genet_lab.evolution.repeats.STRATEGIES`) runs ``--repeats`` times in memory
(the engine's rules, proved equal by a test) until ``--budget`` trained evaluations; the metrics
(:mod:`genet_lab.bench.compare`) are printed as a table, or one JSON object with ``--json``;
``--out DIR`` writes ``compare.json`` and the anytime curves ``anytime.png``. This module parses,
prints and words errors as flags.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from genet_lab.cli import options

DEFAULT_REPEATS = 1000
DEFAULT_BUDGET = 1000


def add_parser(bsub: Any) -> None:
    from genet_lab.evolution.repeats import STRATEGIES

    names = ", ".join(STRATEGIES)
    c = bsub.add_parser(
        "compare",
        help="repeat search strategies on a table at an equal budget and judge what they return",
        description="Run each search strategy many times on a benchmark table, each until the same number of "
        "evaluations, and report with 95% confidence intervals the table mean of the structure each search "
        "returns (not the lucky sample it was picked by), the regret to the table's best mean, its percentile, "
        "P(a top-1% structure), the winner's curse (observed minus true fitness) and anytime curves.",
    )
    c.add_argument("--table", required=True, metavar="NAME", help="a shipped table's name (see bench list) or a "
                   "table file")  # fmt: skip
    c.add_argument("--strategies", default=",".join(STRATEGIES), metavar="A,B,...",
                   help=f"comma-separated, from: {names} (default: all). ga: the paper's GA, N=20; ga-reuse: the "
                   "same with --reuse-structures; aging: aging evolution (Real et al. 2019), 10 children a "
                   "generation, P=50, S=10; local: local search (White et al. 2020), N=L; random: N=20")  # fmt: skip
    c.add_argument("--repeats", type=options.positive_int, default=DEFAULT_REPEATS,
                   help=f"runs of each strategy (default {DEFAULT_REPEATS})")  # fmt: skip
    c.add_argument("--budget", type=options.positive_int, default=DEFAULT_BUDGET,
                   help=f"trained evaluations per run (default {DEFAULT_BUDGET}; a converged GA with reuse may stop "
                   "short at 4x the generations the budget pays for: the evaluations used are reported)")  # fmt: skip
    c.add_argument("--seed", type=options.seed_int, default=0, help="seed of the repeats (default 0; repeat r "
                   "of every strategy has the same run seed)")  # fmt: skip
    c.add_argument("--truth", metavar="TABLE", help="judge the returned structures by this table's means: another "
                   "fidelity of the same space (search on a 4-epoch table, judged by its 12-epoch one; default: "
                   "--table itself)")  # fmt: skip
    c.add_argument("--out", metavar="DIR", help="write compare.json and anytime.png (the anytime curves) here")
    options.add(c, "json")
    c.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from genet_lab.bench.compare import anytime_figure, summarize
    from genet_lab.errors import UsageError
    from genet_lab.evolution.repeats import check_names, run_repeats

    names = check_names([n.strip() for n in args.strategies.split(",") if n.strip()])
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")

    def progress(name: str, repeats: int, seconds: float) -> None:
        print(f"{name}: {repeats} repeats in {seconds:.1f} s", file=sys.stderr, flush=True)

    from genet_lab.bench.table import load_table

    truth = load_table(args.truth) if args.truth else None
    start = time.perf_counter()
    table, results, seconds = run_repeats(args.table, names, args.repeats, args.budget, args.seed, progress, truth)
    summary = summarize(table, results, args.budget, truth=truth)
    summary.update(repeats=args.repeats, seed=args.seed, seconds=seconds, total_seconds=time.perf_counter() - start)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(summary, indent=1) + "\n")
        anytime_figure(summary, out / "anytime.png")
    if args.json:
        print(json.dumps(summary))
        return 0
    print(render(summary))
    if out is not None:
        print(f"wrote {out / 'compare.json'} and {out / 'anytime.png'}")
    return 0


def _ci(m: dict[str, Any], digits: int = 2) -> str:
    if m["mean"] is None:
        return "n/a"
    if m["low"] is None:
        return f"{m['mean']:.{digits}f}"
    return f"{m['mean']:.{digits}f} [{m['low']:.{digits}f}, {m['high']:.{digits}f}]"


def render(summary: dict[str, Any]) -> str:
    """The summary as a text table, one row per strategy."""
    truth = summary.get("truth", summary["table"])
    judged = "" if truth == summary["table"] else f", judged by table {truth}'s means"
    lines = [
        f"table {summary['table']}{judged}: {summary['structures']:,} structures, best mean "
        f"{summary['best_mean']:.2f}% ({summary['best']}); top 1% = the {summary['top1_count']} best means",
        f"{summary['repeats']:,} repeats per strategy, budget {summary['budget']:,} evaluations; "
        f"95% CI {summary['ci'].split(': ', 1)[1]}",
        "",
        f"{'strategy':<9} {'true mean %':<22} {'regret':<20} {'percentile':<22} {'P(top 1%)':<20} "
        f"{'winner curse':<20} {'evals':>5}  regret vs {next(iter(summary['strategies']))}",
    ]
    for name, s in summary["strategies"].items():
        t, versus = s["top1"], s["versus"]["regret"]
        top = f"{t['p']:.3f} [{t['low']:.3f}, {t['high']:.3f}]"
        lines.append(
            f"{name:<9} {_ci(s['true']):<22} {_ci(s['regret']):<20} {_ci(s['percentile'], 1):<22} {top:<20} "
            f"{_ci(s['curse']):<20} {s['evaluations']['mean']:>5.0f}  {'-' if versus is None else _ci(versus)}"
        )
    if judged:
        lines.append(f"(winner curse: observed fitness minus the structure's mean in {summary['table']}, the table "
                     "searched)")  # fmt: skip
    return "\n".join(lines)
