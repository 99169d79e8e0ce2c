"""bf16 autocast against fp32 on the CPU, paired on a shipped table's trainings.

``--precision auto`` takes bf16 wherever a probe times it at least 10% faster than fp32, and
CI's CPU did for digits' networks, so a default training there runs in bf16. Whether that
costs accuracy was shown only on 3 seeds of one genome (docs/benchmarks.md). A table entry
was trained in fp32 (its builds pin the precision) and reproduces exactly, so retraining a
random sample of its entries, every recorded seed, with only ``--precision bf16`` changed
gives paired differences: same split, same initial weights, same batches.

For each table: one fp32 retraining per sampled structure (it must equal the table: the
pairing holds) and a bf16 retraining per recorded seed; printed are the paired difference
(bf16 minus fp32, validation points) with the 95% interval of its mean over structures (a
structure's pairs averaged first, so each structure counts once), the table's seed noise
beside it, the share of pairs bf16 lost, and the seconds ratio. Results are appended to a
JSON-lines file as they come, so a killed run goes on where it stopped (``--out``).

Usage: python benchmarks/bench_precision.py [--tables digits-334-e6,cifar16-333-e4]
       [--structures 12] [--data-dir DIR] [--out benchmarks/results/precision.jsonl]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import random
import statistics
import sys
from pathlib import Path

from genet_lab.bench.compare import mean_ci
from genet_lab.bench.reproduce import table_reproduction
from genet_lab.bench.table import load_table
from genet_lab.cli.main import main as cli_main


def train(argv: list[str]) -> dict:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main([*argv, "--json"])
    if rc != 0:
        raise SystemExit(f"train failed ({rc}): {err.getvalue().strip()}")
    return json.loads(out.getvalue())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="digits-334-e6,cifar16-333-e4")
    ap.add_argument("--structures", type=int, default=12, help="random entries per table")
    ap.add_argument("--data-dir", help="the table's data folder on this machine (image-folder tables)")
    ap.add_argument("--out", default="benchmarks/results/precision.jsonl")
    ap.add_argument("--sample-seed", type=int, default=20261206)
    args = ap.parse_args()

    out = Path(args.out)
    done: dict[tuple, dict] = {}
    if out.exists():
        for line in out.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[(rec["table"], rec["genome"], rec["seed"], rec["precision"])] = rec
    summary = {}
    for name in args.tables.split(","):
        table = load_table(name)
        entries = random.Random(args.sample_seed).sample(table.entries, min(args.structures, len(table.entries)))
        groups: list[list[float]] = []
        exact = 0
        seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for entry in entries:
            groups.append([])
            for i, run in enumerate(entry.runs):
                precisions = ("fp32", "bf16") if i == 0 else ("bf16",)
                for precision in precisions:
                    key = (name, entry.genome.notation(), run.seed, precision)
                    if key not in done:
                        rep = table_reproduction(table, entry, run, args.data_dir)
                        res = train(dataclasses.replace(rep, options={**rep.options, "precision": precision}).argv())
                        rec = {"table": name, "genome": key[1], "seed": run.seed, "precision": precision}
                        rec.update(val=100 * res["val_accuracy"], seconds=res["seconds"], table_val=run.val)
                        with out.open("a") as f:
                            f.write(json.dumps(rec) + "\n")
                        done[key] = rec
                        print(f"{name} {key[1]} seed {run.seed} {precision}: {rec['val']:.2f} "
                              f"(table fp32 {run.val:.2f}) {rec['seconds']:.1f} s", flush=True)  # fmt: skip
                    rec = done[key]
                    seconds[precision].append(rec["seconds"])
                    if precision == "fp32":
                        exact += abs(rec["val"] - run.val) <= 1e-3
                        if abs(rec["val"] - run.val) > 1e-3:
                            print(f"  note: fp32 retraining differs from the table by {rec['val'] - run.val:+.3f}")
                    if precision == "bf16":
                        groups[-1].append(rec["val"] - run.val)
        pairs = [d for g in groups for d in g]
        sp = table.spread()
        interval = mean_ci([statistics.fmean(g) for g in groups])  # every structure has all its seeds
        lo, hi = interval["low"], interval["high"]
        summary[name] = {
            "structures": len(entries),
            "pairs": len(pairs),
            "fp32_exact": f"{exact}/{len(entries)}",
            "mean_diff": statistics.fmean(pairs),
            "ci95": [lo, hi],
            "median_diff": statistics.median(pairs),
            "sd_diff": statistics.stdev(pairs),
            "bf16_lower_share": sum(d < 0 for d in pairs) / len(pairs),
            "seed_noise_sd": sp.noise_sd,
            "between_sd": sp.between_sd,
            "seconds_fp32_median": statistics.median(seconds["fp32"]),
            "seconds_bf16_median": statistics.median(seconds["bf16"]),
        }
        s = summary[name]
        print(
            f"\n{name}: {s['pairs']} pairs over {s['structures']} structures (fp32 retrainings equal to the "
            f"table: {s['fp32_exact']})\n"
            f"  bf16 - fp32 validation: mean {s['mean_diff']:+.2f} points [95% {lo:+.2f}, {hi:+.2f}], "
            f"median {s['median_diff']:+.2f}, sd {s['sd_diff']:.2f}; bf16 lower in {100 * s['bf16_lower_share']:.0f}%\n"
            f"  the table's seed noise sd {sp.noise_sd:.2f}, between-structure sd {sp.between_sd:.2f}\n"
            f"  seconds per training, medians: fp32 {s['seconds_fp32_median']:.2f}, bf16 "
            f"{s['seconds_bf16_median']:.2f} ({s['seconds_fp32_median'] / s['seconds_bf16_median']:.2f}x)",
            flush=True,
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
