"""How fast are searches on a table: the engine through the run store against the in-memory driver.

``bench compare`` repeats every strategy a thousand times; it runs them with
:func:`genet_lab.evolution.inmemory.run_in_memory`, which a test proves evaluates exactly what the
engine does. This measures, per strategy, on one table (default digits-334-e6) and one budget:

- engine: one run of ``--budget`` evaluations through :func:`genet_lab.evolution.run.start_run`
  (the SQLite run store in a temporary folder, serial executor), evaluations per second;
- in-memory: ``--repeats`` runs of the same budget with :func:`run_in_memory`, evaluations per second
  (the table lookup warmed first, as in a compare after its first repeats);
- the projected time of a default ``bench compare`` (1,000 repeats of every strategy).

Each figure is the median of ``--trials`` (default 3) timings on one CPU thread.

    .venv/bin/python benchmarks/bench_compare.py
    .venv/bin/python benchmarks/bench_compare.py --strategies ga,local --budget 500 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from genet_lab.bench.table import load_table
from genet_lab.evolution.inmemory import Lookup, run_in_memory
from genet_lab.evolution.repeats import STRATEGIES, repeat_seed, strategy_config
from genet_lab.evolution.run import start_run
from genet_lab.evolution.store import RunStore


def engine_rate(config, budget: int) -> float:
    """Trained evaluations per second of one run of N x (T + 1) >= ``budget`` individuals through the store."""
    n = config.population
    config = replace(config, generations=-(-budget // n) - 1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        start_run(Path(tmp) / "run", config)
        seconds = time.perf_counter() - start
        with RunStore(Path(tmp) / "run", readonly=True) as store:
            trained, _reused = store.evaluation_counts()
    return trained / seconds


def memory_rate(config, lookup: Lookup, budget: int, repeats: int) -> float:
    """Trained evaluations per second of ``repeats`` in-memory runs at ``budget``."""
    start = time.perf_counter()
    done = sum(run_in_memory(replace(config, seed=repeat_seed(0, r)), lookup, budget).outcome.evaluations
               for r in range(repeats))  # fmt: skip
    return done / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="digits-334-e6")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=50, help="in-memory runs per timing (default 50)")
    ap.add_argument("--trials", type=int, default=3, help="timings per figure; the median is printed")
    ap.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = ap.parse_args()
    lookup = Lookup(load_table(args.table))
    rows = []
    for name in args.strategies.split(","):
        config = strategy_config(name, args.table, args.budget)
        run_in_memory(config, lookup, args.budget)  # warm the lookup's caches
        for r in range(20):
            run_in_memory(replace(config, seed=r + 10**6), lookup, args.budget)
        engine = statistics.median(engine_rate(config, args.budget) for _ in range(args.trials))
        memory = statistics.median(memory_rate(config, lookup, args.budget, args.repeats) for _ in range(args.trials))
        # the evaluations a default compare's 1,000 repeats use (a converged ga-reuse uses fewer)
        used = statistics.fmean(
            run_in_memory(replace(config, seed=repeat_seed(0, r)), lookup, args.budget).outcome.evaluations
            for r in range(args.repeats)
        )
        rows.append({"strategy": name, "engine_per_s": engine, "memory_per_s": memory, "speedup": memory / engine,
                     "evaluations_per_run": used, "compare_1000_s": 1000 * used / memory})  # fmt: skip
        r = rows[-1]
        print(f"{name:<9} engine {engine:8.0f} evaluations/s   in-memory {memory:8.0f} evaluations/s   "
              f"x{r['speedup']:.0f}   1,000 repeats: {r['compare_1000_s']:.0f} s", flush=True)  # fmt: skip
    total = sum(r["compare_1000_s"] for r in rows)
    print(f"projected default bench compare ({len(rows)} strategies x 1,000 repeats, budget {args.budget}): "
          f"{total:.0f} s")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"table": args.table, "budget": args.budget, "rows": rows,
                                               "compare_1000_s": total}, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
