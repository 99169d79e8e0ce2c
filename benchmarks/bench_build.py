"""Build benchmark: trainings per second of ``genet-lab bench build``, loop against batched, 1 and
2 worker processes, on the embedded digits at the table's budget (6 epochs, batch 32, fast).

``--n`` structures of stages (3,3,4) (a seeded sample of the 1,116, seed 0 each) are trained the way
a build trains them (:class:`genet_lab.bench.worker.Trainer`: the data loaded once, TrainFitness's
config) in each of these settings, data loading and worker start-up excluded:

* loop-1w: one network at a time in this process (threads: all CPUs, the build's default);
* loop-1w-1t: the same on one thread;
* batched-1w: groups of ``--group`` networks as one population (train_population, mode batched);
* loop-2w: two worker processes, one thread each, one network per task;
* batched-2w: two worker processes, one thread each, one group per task.

Rounds repeat ``--repeats`` times; the medians of trainings per second and their ratios to loop-1w
are printed, and how far the batched results lie from the loop's (the same trainings up to float
rounding, see genet_lab/training/population.py). The last line is one JSON object.

Usage: python benchmarks/bench_build.py [--n 20] [--group 8] [--repeats 1] [--only loop-1w,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from concurrent.futures import wait
from dataclasses import replace

from genet_lab.bench.settings import BenchSettings
from genet_lab.bench.structures import iter_structures
from genet_lab.bench.worker import Trainer, WorkerPool

SETTINGS = ("loop-1w", "loop-1w-1t", "batched-1w", "loop-2w", "batched-2w")


def _jobs(n: int) -> list[tuple[int, int, str]]:
    structures = list(iter_structures((3, 3, 4)))
    picked = sorted(random.Random(0).sample(range(len(structures)), n))
    return [(i, 0, structures[i].genome.bitstring()) for i in picked]


def _chunks(jobs: list, size: int) -> list[list]:
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def _in_process(settings: BenchSettings, jobs: list, mode: str, group: int, threads: int) -> tuple[float, list]:
    trainer = Trainer(replace(settings, threads=threads), "cpu")
    trainer.train(jobs[:1], "loop")  # warm-up (first-call costs)
    start = time.perf_counter()
    out = []
    for chunk in _chunks(jobs, group if mode == "batched" else 1):
        out += trainer.train(chunk, mode)
    return time.perf_counter() - start, out


def _pool(settings: BenchSettings, jobs: list, mode: str, group: int) -> tuple[float, list]:
    pool = WorkerPool(settings, 2, "cpu")
    try:
        wait([pool.submit(jobs[:1], "loop"), pool.submit(jobs[1:2], "loop")])  # both workers up, data loaded
        start = time.perf_counter()
        size = group if mode == "batched" else 1
        futures = [pool.submit(c, mode) for c in _chunks(jobs, size)]
        out = [r for f in futures for r in f.result()]
        return time.perf_counter() - start, out
    finally:
        pool.shutdown()


def run(name: str, settings: BenchSettings, jobs: list, group: int) -> tuple[float, list]:
    cpus = os.cpu_count() or 1
    return {
        "loop-1w": lambda: _in_process(settings, jobs, "loop", group, cpus),
        "loop-1w-1t": lambda: _in_process(settings, jobs, "loop", group, 1),
        "batched-1w": lambda: _in_process(settings, jobs, "batched", group, cpus),
        "loop-2w": lambda: _pool(settings, jobs, "loop", group),
        "batched-2w": lambda: _pool(settings, jobs, "batched", group),
    }[name]()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", default=",".join(SETTINGS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    settings = BenchSettings((3, 3, 4), seeds=(0,)).resolved()
    jobs = _jobs(args.n)
    names = args.only.split(",")
    rates: dict[str, list[float]] = {n: [] for n in names}
    results: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name in names:
            seconds, out = run(name, settings, jobs, args.group)
            rates[name].append(len(jobs) / seconds)
            results[name] = {(sid, seed): rec for sid, seed, rec in out}
            print(f"{name}: {len(jobs)} trainings in {seconds:.1f} s = {len(jobs) / seconds:.3f} trainings/s")
    medians = {n: statistics.median(r) for n, r in rates.items()}
    base = medians.get("loop-1w")
    ref = results.get("loop-1w-1t") or results.get("loop-1w")
    drift = {}
    for name, res in results.items():
        if ref is not None:
            drift[name] = max(abs(res[k]["val_accuracy"] - ref[k]["val_accuracy"]) for k in ref)
    for name, m in medians.items():
        ratio = f", x{m / base:.2f} of loop-1w" if base else ""
        print(f"{name:11s} median {m:.3f} trainings/s{ratio}; max |val acc - loop's| {drift.get(name, 0):.3f} points")
    print(json.dumps({"n": len(jobs), "group": args.group, "cpus": os.cpu_count(), "repeats": args.repeats,
                      "trainings_per_second": medians, "max_val_drift_points": drift}))  # fmt: skip


if __name__ == "__main__":
    main()
