"""Time the exact space count (`genet-lab space`) and canonical keys.

Usage: python benchmarks/bench_space.py [--json] [--repeats 3]
Each figure is the median of --repeats fresh runs (caches cleared). The last line
with --json is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from genet_lab.encoding.genome import paper_best, residual_40
from genet_lab.encoding.graph import decode, structure_key
from genet_lab.encoding.space import count_space, stage_classes


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        stage_classes.cache_clear()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def key_rate(genome, n=200):
    t0 = time.perf_counter()
    for _ in range(n):
        for st in decode(genome):  # fresh StageGraph objects: nothing cached
            _ = st.canonical
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    out = {}
    for stages in [(3,), (4,), (5,), (6,), (3, 4, 5)]:
        name = ",".join(map(str, stages))
        secs = timed(lambda stages=stages: count_space(stages), args.repeats)
        res = count_space(stages)
        out[name] = {"seconds": round(secs, 4), "strings": res["strings"], "distinct": res["distinct"]}
        print(f"space {name:>8}: {res['strings']:>9,} strings, {res['distinct']:>7,} distinct, median {secs:.3f} s")
    for label, g in (("paper-best", paper_best()), ("residual-40", residual_40())):
        rate = key_rate(g)
        out[f"keys_per_second_{label}"] = round(rate, 1)
        print(f"structure keys per second ({label}, {g.length} bits): {rate:,.0f}")
    assert structure_key(paper_best())
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
