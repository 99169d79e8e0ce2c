"""Overhead of one generation of the genetic process, everything but training.

Measured side by side, medians over many repetitions:

* operators: roulette selection, stage crossover, bit-flip mutation (numpy) for N = 20, L = 19;
* breeding + bookkeeping: the engine's generation with a zero-cost fitness (toy), i.e.
  operators, complexity and structure keys (cached per genome), and the SQLite
  store (one transaction per evaluation, WAL), per generation.

The target is under 10 ms per generation for N = 20. The last line is one JSON object.
Run: .venv/bin/python benchmarks/bench_operators.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from genet_lab.evolution import SearchConfig, start_run
from genet_lab.evolution import operators as ops


def bench_operators(n: int = 20, reps: int = 2000) -> float:
    rng = np.random.default_rng(0)
    bounds = ops.stage_bounds((3, 4, 5))
    pop = ops.init_random(n, int(bounds[-1]), rng)
    fitness = rng.random(n) * 10 + 70
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        sel = ops.select_roulette(fitness, rng)
        child, crossed, _ = ops.crossover_stages(pop[sel], rng, bounds, 0.2, 0.2)
        child, _ = ops.mutate_flip(child, rng, 0.8, 0.05, exclude=crossed)
        times.append(time.perf_counter() - t0)
        pop = child
    return statistics.median(times) * 1e3


def bench_engine(n: int = 20, generations: int = 30, reps: int = 5) -> tuple[float, float]:
    """Median ms per generation of a whole toy run, and of the same run with reused structures."""
    out = []
    for reuse in (False, True):
        per_gen = []
        for r in range(reps):
            with tempfile.TemporaryDirectory() as d:
                cfg = SearchConfig(fitness="toy", population=n, generations=generations, seed=r, reuse_structures=reuse)
                t0 = time.perf_counter()
                start_run(Path(d) / "run", cfg)
                per_gen.append((time.perf_counter() - t0) / (generations + 1))
        out.append(statistics.median(per_gen) * 1e3)
    return out[0], out[1]


def main() -> None:
    op_ms = bench_operators()
    engine_ms, reuse_ms = bench_engine()
    print(f"operators only (select + crossover + mutate), N=20, L=19: {op_ms:.3f} ms per generation (median)")
    print(
        f"engine per generation with a zero-cost fitness (operators, complexity, structure keys, SQLite): "
        f"{engine_ms:.2f} ms (median)"
    )
    print(f"  same with --reuse-structures: {reuse_ms:.2f} ms")
    print(
        f"target 10 ms: operators {10 / op_ms:.0f}x under, engine {10 / engine_ms:.1f}x "
        f"{'under' if engine_ms < 10 else 'OVER'}"
    )
    print(
        json.dumps(
            {
                "operators_ms": round(op_ms, 4),
                "engine_ms_per_generation": round(engine_ms, 3),
                "engine_reuse_ms_per_generation": round(reuse_ms, 3),
                "n": 20,
                "target_ms": 10,
            }
        )
    )


if __name__ == "__main__":
    main()
