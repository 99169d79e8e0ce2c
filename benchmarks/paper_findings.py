"""Which of the paper's findings hold on a benchmark table, each with a 95% interval from many repeats.

For each setting (N, T) it runs, R times each with the same run seeds (so the comparisons are
paired), the paper's GA from a random start, random search, and the GA from N all-zero strings, in
memory on the table (:mod:`genet_lab.evolution.findings`), and measures against the table's truth
(every structure's mean over its recorded seeds):

(a) the GA's generation mean rises: the mean of generation T's table means minus generation 0's;
(b) the GA beats random search at the same N x (T + 1) evaluations: the table mean of the structure
    each returns (and regret, percentile, P(top 1%), winner's curse; best-so-far curves);
(c) an all-zero start catches up with a random start: the gap in generation mean at 0 and at T;
(d) with two settings (default: the laptop's N=10, T=10 and the paper's N=20, T=50), what the
    larger budget changes.

It prints markdown tables and writes every figure as JSON (default
``benchmarks/results/paper_findings-<table>.json``); ``--png`` draws the curves.

    .venv/bin/python benchmarks/paper_findings.py                          # digits-334-e6, 1,000 repeats
    .venv/bin/python benchmarks/paper_findings.py --table FILE --repeats 200 --settings laptop=10,10
    .venv/bin/python benchmarks/paper_findings.py --png docs/experiments/findings-digits-334-e6.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from genet_lab.bench.table import load_table
from genet_lab.errors import ConfigError, UsageError
from genet_lab.evolution.findings import arms_of, run_arm, summarize_findings
from genet_lab.evolution.inmemory import Lookup

RESULTS = Path(__file__).resolve().parent / "results"
CURVE_POINTS = (0, 1, 2, 3, 5, 10, 20, 30, 40, 50)


def parse_settings(text: str) -> dict[str, tuple[int, int]]:
    """``name=N,T;name=N,T`` -> {name: (N, T)}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        try:
            name, nt = part.split("=")
            n, t = (int(x) for x in nt.split(","))
        except ValueError:
            raise UsageError(f"setting {part!r} is not NAME=N,T (for example laptop=10,10)") from None
        out[name.strip()] = (n, t)
    if not out:
        raise UsageError("no setting given; accepted: NAME=N,T[;NAME=N,T...]")
    return out


def ci(c: dict[str, Any] | None, digits: int = 2, sign: bool = False) -> str:
    """``mean [low, high]`` of a mean_ci (or a Wilson proportion) as text."""
    if not c:
        return "-"
    m = c.get("mean", c.get("p"))
    if m is None:
        return "-"
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    if c.get("low") is None:
        return f.format(m)
    return f"{f.format(m)} [{c['low']:.{digits}f}, {c['high']:.{digits}f}]"


def markdown(summary: dict[str, Any], repeats: int, seconds: float) -> str:
    t = summary["table"]
    sp, sh = t["spread"], t["split_half"]
    lines = [
        f"## Table `{t['name']}`: stages {','.join(map(str, t['stages']))}, {t['dataset']}, {t['epochs']} epochs, "
        f"{t['seeds']} seeds, {t['structures']:,} structures",
        "",
        "| | value |",
        "|---|---|",
        f"| best mean | {t['best_mean']:.2f}% (`{t['best']}`) |",
        f"| median of the structures' means | {t['median_mean']:.2f}% |",
        f"| best minus median (the best mean still holds its own luck) | {t['best_minus_median']:.2f} points |",
    ]
    if sh:
        lines.append(
            f"| the structure best on {sh['half']} seeds, judged on the others, above their median "
            f"(mean of {sh['splits']} splits) | {sh['gap']:.2f} points (it looked {sh['gap_as_selected']:.2f} above) |"
        )
    if sp["between_sd"] is not None:
        lines.append(f"| between-structure sd, noise removed / seed noise | {sp['between_sd']:.2f} / "
                     f"{sp['noise_sd']:.2f} points (ratio {sp['ratio']:.2f}) |")  # fmt: skip
    z = t["all_zero"]
    lines += [f"| the all-zero network | {z['mean']:.2f}%, rank {z['rank']}, {z['percentile']:.1f}th percentile |", ""]
    for name, s in summary["settings"].items():
        r, g, zs = s["rise"], s["ga_vs_random"], s["zero_start"]
        lines += [
            f"### Setting `{name}`: N={s['population']}, T={s['generations']} ({s['evaluations']:,} evaluations), "
            f"{s['repeats']:,} repeats",
            "",
            "| finding | measure | value [95% CI] | verdict |",
            "|---|---|---|---|",
            f"| (a) the mean rises | GA's generation mean (table truth), gen 0 / gen {s['generations']} | "
            f"{ci(r['gen0'])} / {ci(r['genT'])} | |",
            f"| | rise, gen {s['generations']} minus gen 0 | {ci(r['difference'], sign=True)} | {r['verdict']} |",
            f"| | rise of the observed mean (the fitness selection used) | "
            f"{ci(r['observed_difference'], sign=True)} | |",
            f"| | share of repeats whose mean rose | {ci(r['share_rising'], 3)} | |",
            f"| | GA's gen {s['generations']} minus random search's batch {s['generations']} | "
            f"{ci(r['versus_random_at_T'], sign=True)} | |",
            f"| (b) GA beats random search | table mean of the returned structure, GA / random | "
            f"{ci(g['ga_true'])} / {ci(g['random_true'])} | |",
            f"| | GA minus random (paired) | {ci(g['difference'], sign=True)} | {g['verdict']} |",
            f"| | regret, GA / random | {ci(g['regret_ga'])} / {ci(g['regret_random'])} | |",
            f"| | percentile, GA / random | {ci(g['percentile_ga'], 1)} / {ci(g['percentile_random'], 1)} | |",
            f"| | P(top 1%), GA / random | {ci(g['top1_ga'], 3)} / {ci(g['top1_random'], 3)} | |",
            f"| | P(GA's better / equal / random's better) | {ci(g['p_ga_better'], 3)} / {ci(g['p_equal'], 3)} / "
            f"{ci(g['p_random_better'], 3)} | |",
            f"| | best observed fitness, GA minus random (the paper's comparison) | "
            f"{ci(g['observed_difference'], sign=True)} | |",
            f"| | winner's curse (observed minus table mean), GA / random | {ci(g['curse_ga'])} / "
            f"{ci(g['curse_random'])} | |",
            f"| (c) an all-zero start catches up | all-zero start minus random start, gen 0 | "
            f"{ci(zs['gap_gen0'], sign=True)} | {zs['verdict']} |",
            f"| | the same at gen {s['generations']} | {ci(zs['gap_genT'], sign=True)} | |",
            f"| | returned structure, all-zero minus random start | {ci(zs['returned_gap'], sign=True)} | |",
            f"| | first generation whose all-zero mean reaches the random start's gen 0 | "
            f"{zs['reaches_random_gen0_at']} | |",
            f"| | first generation from which no gap is resolved | {zs['indistinguishable_from']} | |",
            "",
            "Generation means (table truth, mean over repeats) and the table mean of the best so far:",
            "",
            "| gen | GA | random | GA, all-zero start | GA best so far | random best so far |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        cur, best = r["curves"], g["best_so_far"]
        for k in [k for k in CURVE_POINTS if k <= s["generations"]] + (
            [s["generations"]] if s["generations"] not in CURVE_POINTS else []
        ):
            lines.append(
                f"| {k} | {cur['ga']['mean'][k]:.2f} | {cur['random']['mean'][k]:.2f} | "
                f"{zs['zero_curve']['mean'][k]:.2f} | {best['ga']['mean'][k]:.2f} | {best['random']['mean'][k]:.2f} |"
            )
        lines.append("")
    for name, row in summary["versus_first_setting"].items():
        lines += [f"### (d) setting `{name}` against `{row['ga']['against']}` (table mean of the returned structure)",
                  "", "| search | difference [95% CI] |", "|---|---|"]  # fmt: skip
        lines += [f"| {k} | {ci(v['difference'], sign=True)} |" for k, v in row.items()] + [""]
    lines.append(f"{repeats:,} repeats per arm, seeded; {seconds:.0f} s.")
    return "\n".join(lines)


def figure(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = summary["settings"]
    fig, axes = plt.subplots(2, len(settings), figsize=(6 * len(settings), 7.5), squeeze=False)
    for j, (name, s) in enumerate(settings.items()):
        gens = list(range(s["generations"] + 1))
        cur = {"GA": s["rise"]["curves"]["ga"], "random search": s["rise"]["curves"]["random"],
               "GA, all-zero start": s["zero_start"]["zero_curve"]}  # fmt: skip
        for ax, curves, title in (
            (axes[0][j], cur, "generation mean (table truth)"),
            (axes[1][j], {"GA": s["ga_vs_random"]["best_so_far"]["ga"],
                          "random search": s["ga_vs_random"]["best_so_far"]["random"]}, "best so far (table truth)"),
        ):  # fmt: skip
            for label, c in curves.items():
                ax.plot(gens, c["mean"], label=label)
                ax.fill_between(gens, c["low"], c["high"], alpha=0.25)
            ax.set_title(f"{name}: N={s['population']}, T={s['generations']}; {title}", fontsize=9)
            ax.set_xlabel("generation")
            ax.set_ylabel("accuracy (%)")
            ax.legend(fontsize=8)
    fig.suptitle(f"{summary['table']['name']}: {next(iter(settings.values()))['repeats']:,} repeats, 95% CI")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="digits-334-e6", help="a shipped table's name or a table file")
    ap.add_argument("--repeats", type=int, default=1000, help="repeats per arm (default 1,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--settings", default="laptop=10,10;paper=20,50",
                    help="NAME=N,T;... (default: laptop=10,10;paper=20,50; the first is the base of (d))")  # fmt: skip
    ap.add_argument("--out", help="the JSON file (default benchmarks/results/paper_findings-<table>.json)")
    ap.add_argument("--png", help="also draw the curves here")
    args = ap.parse_args(argv)
    try:
        if args.repeats < 2:
            raise UsageError(f"repeats must be at least 2 (an interval needs two), got {args.repeats}")
        settings = parse_settings(args.settings)
        table = load_table(args.table)
        if not table.complete:
            raise UsageError(f"table {table.name} is partial; the findings need every structure's mean")
        lookup = Lookup(table)
        start, runs, seconds = time.perf_counter(), {}, {}
        for arm in arms_of(settings):
            t0 = time.perf_counter()
            runs[arm.name] = run_arm(arm, args.table, lookup, args.repeats, args.seed)
            seconds[arm.name] = time.perf_counter() - t0
            print(f"{arm.name}: {args.repeats} repeats in {seconds[arm.name]:.1f} s", file=sys.stderr, flush=True)
        summary = summarize_findings(table, runs, list(settings))
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = time.perf_counter() - start
    summary["method"] = {
        "repeats": args.repeats, "seed": args.seed, "settings": {k: list(v) for k, v in settings.items()},
        "seconds": seconds, "total_seconds": total,
        "ci": "95%: normal (mean +- 1.96 sd/sqrt(R)) over repeats, paired by run seed for differences; Wilson "
              "score for proportions",
        "truth": "a structure's table mean: its mean final validation accuracy over the table's recorded seeds",
    }  # fmt: skip
    print(markdown(summary, args.repeats, total))
    out = Path(args.out) if args.out else RESULTS / f"paper_findings-{table.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)
    if args.png:
        figure(summary, Path(args.png))
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
