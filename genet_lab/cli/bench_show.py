"""``genet-lab bench show GENOME``: one entry of a table and the train command that reproduces it.

The entry of the genome's structure (any member of its class, in the paper's notation, as bits or
by name): its canonical genome, key, class size, size, every recorded seed with its curve, its rank
and percentile in the table, and per seed the ``genet-lab train`` command that trains it again
(:mod:`genet_lab.bench.reproduce`). This module parses, picks the table and prints; no torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from genet_lab.cli import options
from genet_lab.encoding.genome import NAMED, RENAMED, parse, resolve
from genet_lab.errors import UsageError


def add_parser(bsub: Any) -> None:
    s = bsub.add_parser(
        "show",
        help="one entry of a table (seeds, curves, rank) and the train command that reproduces it",
        description="Print the entry of GENOME's structure in a table, and the exact 'genet-lab train' command "
        "that reproduces one of its recorded seeds.",
    )
    s.add_argument(
        "genome",
        metavar="GENOME",
        help="any genome of the structure: the paper's notation, bits of the table's space, or a name",
    )
    s.add_argument("--table", metavar="NAME", help="a shipped table (see bench list) or a table file "
                   "(default: the shipped table of the genome's space)")  # fmt: skip
    s.add_argument("--seed", type=options.seed_int, help="the recorded seed whose command to print (default: the "
                   "first recorded)")  # fmt: skip
    s.add_argument("--data-dir", metavar="DIR", help="where the table's data folder is on this machine, for the "
                   "command (default: the folder the table was built on)")  # fmt: skip
    options.add(s, "json", help="print one JSON object: the entry, each seed with its reproducing command")
    s.set_defaults(func=cmd_show)


def _fits(text: str, stages: tuple[int, ...]) -> bool:
    """Whether ``text`` reads as a genome of ``stages``."""
    try:
        genome = _genome(text, stages)
        return tuple((parse(genome, stages) if isinstance(genome, str) else genome).stages) == stages
    except ValueError:
        return False


def _genome(text: str, stages: tuple[int, ...]) -> Any:
    """``text`` as a genome where it is a name (built on ``stages`` unless it has stages of its own),
    else as it is: notation or bits, which the table parses against its own space."""
    key = text.strip().lower()
    return resolve(text, stages) if key in NAMED or key in RENAMED else text


def _pick_table(text: str) -> str:
    """The shipped table of the genome's space; where several hold it, the one with the most seeds,
    then the most epochs (``digits-334-e6`` before its one-seed 18-epoch fidelity)."""
    from genet_lab.bench.table import list_tables

    rows = list_tables()
    if len(rows) == 1:
        return str(rows[0]["name"])
    fits = [r for r in rows if _fits(text, tuple(int(k) for k in r["space"].split(",")))]
    if fits:  # the space's main table: the most seeds, then the longest budget
        fits.sort(key=lambda r: (r["seeds"], r["epochs"]), reverse=True)
        if len(fits) == 1 or (fits[0]["seeds"], fits[0]["epochs"]) != (fits[1]["seeds"], fits[1]["epochs"]):
            return str(fits[0]["name"])
    if not rows:
        raise UsageError("no tables are shipped in this package; give --table FILE")
    names = ", ".join(f"{r['name']} (stages {r['space']})" for r in (fits or rows))
    which = "several shipped tables hold this genome's space" if fits else "no shipped table holds this genome"
    raise UsageError(f"{which}: {names}; name one with --table")


def entry_report(table: Any, text: str, data_dir: str | None = None) -> dict[str, Any]:
    """Everything ``bench show`` prints, as one JSON-ready dict."""
    from genet_lab.bench.reproduce import table_reproduction

    entry = table.entry(_genome(text, table.stages))
    s = table.settings
    folder = s.data_dir if data_dir is None else str(data_dir)
    runs = []
    for run in entry.runs:
        rep = table_reproduction(table, entry, run, data_dir)
        runs.append({
            "seed": run.seed, "val": run.val, "test": run.test, "seconds": run.seconds, "failed": run.failed,
            "val_curve": list(run.val_curve), "loss_curve": list(run.loss_curve),
            "command": rep.command(), "argv": ["genet-lab", *rep.argv()],
        })  # fmt: skip
    return {
        "table": table.name,
        "source": table.source,
        "space": ",".join(map(str, table.stages)),
        "settings": s.to_dict(),
        "versions": table.versions,
        "asked": text,
        "genome": entry.genome.notation(),
        "bits": "".join(map(str, entry.genome.bits)),
        "key": entry.key,
        "class_size": entry.class_size,
        "params": entry.params,
        "macs": entry.macs,
        "mean": entry.mean,
        "test_mean": entry.test_mean,
        "rank": table.rank(entry.genome),
        "structures": len(table),
        "percentile": table.percentile(entry.genome),
        "exact": s.mode == "loop",
        "data_dir": folder,
        "data_missing": folder is not None and not Path(folder).is_dir(),
        "runs": runs,
    }


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _text(r: dict[str, Any]) -> str:
    s, pick = r["settings"], r["reproduce"]
    lines = [
        f"table       {r['table']}: stages {r['space']}, {s['dataset']}, {s['epochs']} epochs, batch "
        f"{s['batch_size']}, recipe {s['recipe']}, table seed {s['table_seed']}, {s['threads']} thread(s), {s['mode']}",
        f"structure   {r['genome']}"
        + ("" if r["asked"].strip() == r["genome"] else f"  (asked: {r['asked'].strip()})"),
        f"key         {r['key']}  (class of {r['class_size']} genome(s))",
        f"size        {r['params']:,} parameters, {r['macs']:,} multiply-adds",
        f"mean        val {_f(r['mean'])}%, test {_f(r['test_mean'])}% over {len(r['runs'])} seed(s)",
        f"rank        {r['rank']} of {r['structures']} (percentile {r['percentile']:.1f}: the share with a lower mean)",
        "",
        "seed  val %   test %  seconds  val % per epoch",
    ]
    for x in r["runs"]:
        curve = " ".join(f"{v:.1f}" for v in x["val_curve"])
        val = "failed" if x["failed"] else _f(x["val"])
        lines.append(f"{x['seed']:<5} {val:<7} {_f(x['test']):<7} {x['seconds']:<8.2f} {curve}")
    how = "exactly on a like machine" if r["exact"] else "up to float rounding (the table was built batched)"
    lines += ["", f"reproduce seed {pick['seed']} (recorded val {_f(pick['val'])}%; {how}):", f"  {pick['command']}"]
    if r["data_missing"]:
        lines.append(f"note: the data folder {r['data_dir']} is not on this machine; give --data-dir where your copy "
                     "of the table's data is (docs/bench.md says how each shipped table's data was made)")  # fmt: skip
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    from genet_lab.bench.table import load_table

    table = load_table(args.table or _pick_table(args.genome))
    report = entry_report(table, args.genome, args.data_dir)
    runs = report["runs"]
    pick = runs[0] if args.seed is None else next((x for x in runs if x["seed"] == args.seed), None)
    if pick is None:
        have = ", ".join(str(x["seed"]) for x in runs)
        raise UsageError(f"table {report['table']} recorded seeds {have} of {report['genome']}, not --seed {args.seed}")
    report["reproduce"] = pick
    print(json.dumps(report) if args.json else _text(report))
    return 0
