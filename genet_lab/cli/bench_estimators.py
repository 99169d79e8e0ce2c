"""``genet-lab bench estimators``: how well cheap estimators rank a table's structures.

Every estimator of :mod:`genet_lab.bench.estimators` (size, zero-cost proxies at initialisation,
early epochs and learning-curve extrapolations from the table's curves) scored by Kendall's tau
and Spearman's rho against the table's mean final accuracy, and against a long-fidelity table's
where ``--long`` names one, beside the noise ceiling (two single seeds of the same structures).
The proxies are computed once (about two minutes for 1,116 structures on one CPU thread) and
cached. This module parses, shows progress and prints; no torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from genet_lab.cli import options


def add_parser(bsub: Any) -> None:
    e = bsub.add_parser(
        "estimators",
        help="rank correlation of cheap estimators (size, zero-cost proxies, early epochs) with a table",
        description="Score every structure of a table with cheap estimators (#params, multiply-adds, depth, "
        "zero-cost proxies at initialisation, the accuracy after the first epochs, a learning-curve "
        "extrapolation) and print Kendall's tau and Spearman's rho against the table's mean final accuracy, "
        "beside the noise ceiling (tau between two single seeds). Proxies are cached in the user cache dir.",
    )
    e.add_argument("--table", required=True, metavar="NAME", help="a shipped table (see bench list) or a table file")
    e.add_argument("--long", metavar="TABLE", help="a long-fidelity table of the same space: also score against "
                   "its mean final accuracy")  # fmt: skip
    e.add_argument("--estimators", nargs="+", metavar="NAME", help="the estimators to score, space- or "
                   "comma-separated: params, macs, depth, synflow, snip, grad_norm, jacob_cov, naswot, epochK (the "
                   "accuracy after K epochs), extrapK (extrapolated from K epochs), final (default: all)")  # fmt: skip
    e.add_argument("--proxy-batch", type=options.positive_int, default=64, metavar="N", help="images in the "
                   "proxies' minibatch (default 64)")  # fmt: skip
    e.add_argument("--proxy-seed", type=options.seed_int, default=0, metavar="SEED", help="seed of the proxies' "
                   "weights and minibatch (default 0)")  # fmt: skip
    e.add_argument("--data-dir", metavar="DIR", help="where the table's data folder is on this machine, for the "
                   "proxies (default: the folder the table was built on)")  # fmt: skip
    options.add(e, "json", help="print one JSON object: every estimator's tau and rho, the noise ceiling")
    e.set_defaults(func=cmd_estimators)


class _Progress:
    """A rich bar on a terminal, else a line on stderr every 100 structures."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("proxies"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True))  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("proxies", total=total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif done == 1 or done % 100 == 0 or done == total:
            print(f"proxies: {done}/{total} structures", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _num(x: Any, width: int = 6) -> str:
    return "-".rjust(width) if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.3f}".rjust(width)


def cmd_estimators(args: argparse.Namespace) -> int:
    from genet_lab.bench.estimators import measure
    from genet_lab.bench.table import load_table

    table = load_table(args.table)
    long = load_table(args.long) if args.long else None
    names = [n for text in args.estimators or () for n in text.replace(",", " ").split()]
    progress = _Progress()
    try:
        out = measure(
            table, names, long, batch=args.proxy_batch, seed=args.proxy_seed, progress=progress, data_dir=args.data_dir
        )
    finally:
        progress.close()
    print(json.dumps(out) if args.json else _text(out))
    return 0


def _text(out: dict[str, Any]) -> str:
    long = out.get("long")
    lines = [
        f"table {out['table']}: {out['structures']} structures, {out['epochs']} epochs, {out['seeds']} seed(s); "
        f"target: {out['target']}" + (f"; long: {long['table']} ({long['epochs']} epochs)" if long else ""),
        "trained estimators: one seed's curve against the mean of the other seeds, averaged over seeds",
        "",
        f"{'estimator':<11} {'kind':<8} {'tau':>6} {'rho':>6}" + (f" {'tau long':>8} {'rho long':>8}" if long else "")
        + "  note",
    ]  # fmt: skip
    for r in out["estimators"]:
        note = f"{r['seconds']:.1f} s" if r["seconds"] else ("cached" if r["kind"] == "proxy" else "")
        if r["undefined"]:
            note += f" ({r['undefined']} undefined, ranked last)"
        if r.get("note"):
            note += ("; " if note else "") + r["note"]
        row = f"{r['name']:<11} {r['kind']:<8} {_num(r['tau'])} {_num(r['rho'])}"
        if long:
            row += f" {_num(r.get('tau_long'), 8)} {_num(r.get('rho_long'), 8)}"
        lines.append(row + ("  " + note if note else ""))
    lines.append("")
    lines.append(_ceiling("noise ceiling", out["noise_ceiling"]))
    if long:
        lines.append(_ceiling(f"noise ceiling of {long['table']}", long["noise_ceiling"]))
        sm = long["short_mean"]
        lines.append(f"{out['table']} mean against {long['table']} mean ({long['structures']} structures): "
                     f"tau {_num(sm['tau']).strip()}, rho {_num(sm['rho']).strip()}")  # fmt: skip
    return "\n".join(lines)


def _ceiling(label: str, c: dict[str, Any] | None) -> str:
    if c is None:
        return f"{label}: none (one seed)"
    t, r = ({k: _num(v).strip() for k, v in c[m].items()} for m in ("tau", "rho"))
    return (f"{label} (final accuracies of two seeds, mean [min, max] over {len(c['pairs'])} pairs): "
            f"tau {t['mean']} [{t['min']}, {t['max']}], rho {r['mean']} [{r['min']}, {r['max']}]")  # fmt: skip
