"""Population benchmark: one network at a time against a batched group, side by side.

For N individuals of the paper's (3,4,5) space (random genomes, seeded), at 8x8x1
(digits-like) and 32x32x3 (CIFAR-like) input with the trainer's default batch sizes for
digits and CIFAR-10 and per-individual batches (every individual has its own seed, as in
evolve):

* loop: each network trained for ``--steps`` SGD steps, one after the other;
* batched: the N networks as one :class:`genet_lab.training.batched.BatchedGeNet` for the same steps;
* auto: what :func:`genet_lab.training.population.plan_population` chooses (a fresh probe, the
  cache pointed at a temporary folder).

Rounds alternate loop and batched; medians over ``--repeats``. Images per second count one
image through one individual as one (so both columns are "individual-images per second").
Achieved FLOP/s uses 6 x MACs per image (2 FLOPs per multiply-add, backward about twice the
forward), MACs of each individual's own network from genet_lab.encoding.complexity (the batched
group's extra work on nodes a genome does not use is not counted as useful), against a
large fp32 matmul measured in the same run. Optionally one generation of evolve's default
training fitness on digits (N evaluations, 1 epoch each), loop against train_population.

Usage: python benchmarks/bench_population.py [--json] [--n 20] [--steps 4] [--repeats 3]
       [--sizes 8,32] [--no-generation] [--device cpu] [--threads N]
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import get_preset
from genet_lab.training.batched import BatchedGeNet, group_loss
from genet_lab.training.config import default_train_config
from genet_lab.training.devices import device_name, resolve_device, synchronize
from genet_lab.training.network import build_network

SHAPES = {8: (1, "digits"), 32: (3, "cifar10")}


def random_genomes(n, seed=0, stages=(3, 4, 5)):
    rng = np.random.default_rng(seed)
    length = sum(k * (k - 1) // 2 for k in stages)
    return [Genome(stages, tuple(int(b) for b in rng.integers(0, 2, length))) for _ in range(n)]


def matmul_flops(device, n=2048, reps=5):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    times = []
    for _ in range(reps):
        synchronize(device)
        t = time.perf_counter()
        a @ b
        synchronize(device)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def time_loop(nets, batches, device):
    opts = [torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4) for m in nets]
    synchronize(device)
    t = time.perf_counter()
    for g, (m, opt) in enumerate(zip(nets, opts)):
        m.train()
        for x, y in batches:
            loss = F.cross_entropy(m(x[g]), y[g])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    synchronize(device)
    return time.perf_counter() - t


def time_batched(model, batches, device):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    model.train()
    synchronize(device)
    t = time.perf_counter()
    for x, y in batches:
        xb = x.permute(1, 0, 2, 3, 4).reshape(x.shape[1], -1, *x.shape[3:])  # (B, G*C, H, W)
        _, loss = group_loss(model(xb), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(device)
    return time.perf_counter() - t


def bench_size(size, genomes, args, device):
    from genet_lab.training.population import plan_population

    channels, dataset = SHAPES[size]
    cfg = default_train_config(dataset, device=str(device), precision="fp32", channels_last="off")
    net = get_preset("paper-cifar10").with_input(channels, size, 10)
    n, bs = len(genomes), cfg.batch_size
    gen = torch.Generator().manual_seed(size)
    batches = [
        (
            torch.randn(n, bs, channels, size, size, generator=gen).to(device),
            torch.randint(0, 10, (n, bs), generator=gen).to(device),
        )
        for _ in range(args.steps)
    ]
    nets = [build_network(g, net).to(device) for g in genomes]
    model = BatchedGeNet(genomes, net).to(device)
    time_loop(nets, batches[:1], device)  # warm-up
    time_batched(model, batches[:1], device)
    loop_t, batched_t = [], []
    for _ in range(args.repeats):
        loop_t.append(time_loop(nets, batches, device))
        batched_t.append(time_batched(model, batches, device))
    images = n * bs * args.steps
    loop_s, batched_s = statistics.median(loop_t), statistics.median(batched_t)
    flops = 6 * sum(complexity(g, net).macs for g in genomes) * bs * args.steps
    t0 = time.perf_counter()
    plan = plan_population(genomes, net, cfg, device, "auto", shared=False)
    probe_s = time.perf_counter() - t0
    return {
        "input": f"{size}x{size}x{channels}",
        "batch_size": bs,
        "steps": args.steps,
        "loop_ips": round(images / loop_s, 1),
        "batched_ips": round(images / batched_s, 1),
        "ratio": round(loop_s / batched_s, 3),
        "auto_choice": plan.mode,
        "auto_probe": {
            "loop_step_s": plan.loop_step_s,
            "batched_step_s": plan.batched_step_s,
            "seconds": round(probe_s, 2),
        },
        "loop_gflops": round(flops / loop_s / 1e9, 3),
        "batched_gflops": round(flops / batched_s / 1e9, 3),
        "loop_rounds_s": [round(t, 3) for t in loop_t],
        "batched_rounds_s": [round(t, 3) for t in batched_t],
    }


def bench_generation(n, device):
    """One generation of evolve's default training fitness on digits: loop vs train_population."""
    from dataclasses import replace

    from genet_lab.evolution.engine import SearchConfig, evaluation_seed
    from genet_lab.evolution.fitness import make_fitness
    from genet_lab.training.population import train_population

    search = SearchConfig(population=n, train={"device": str(device)})
    fitness = make_fitness(search)
    genomes = random_genomes(n, seed=1)
    seeds = [evaluation_seed(search.seed, 0, i) for i in range(n)]
    t = time.perf_counter()
    loop = [fitness.evaluate(g, s).accuracy for g, s in zip(genomes, seeds)]
    loop_s = time.perf_counter() - t
    cfgs = [replace(fitness.base_config, seed=s) for s in seeds]
    t = time.perf_counter()
    res = train_population(genomes, fitness.net_config, fitness.data, cfgs, mode="batched")
    batched_s = time.perf_counter() - t
    batched = [0.0 if r.failed else 100.0 * r.val_accuracy for r in res]
    return {
        "population": n,
        "epochs": fitness.base_config.epochs,
        "batch_size": fitness.base_config.batch_size,
        "train_images": len(fitness.data.train_y),
        "loop_s": round(loop_s, 2),
        "batched_s": round(batched_s, 2),
        "ratio": round(loop_s / batched_s, 3),
        "mean_abs_accuracy_gap_points": round(statistics.fmean(abs(a - b) for a, b in zip(loop, batched)), 3),
        "loop_mean_accuracy": round(statistics.fmean(loop), 2),
        "batched_mean_accuracy": round(statistics.fmean(batched), 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="(kept for the issue's command line; JSON is always last)")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="8,32")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--no-generation", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ["GENET_LAB_CACHE"] = tempfile.mkdtemp(prefix="genet-bench-")  # a fresh probe, not a cached one
    device = resolve_device(args.device)
    torch.manual_seed(0)
    genomes = random_genomes(args.n)
    out = {
        "machine": {
            "device": device_name(device),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_avg_start": os.getloadavg()[0],
        },
        "flops_estimate": "6 x MACs per image (fwd + bwd), each individual's own network",
    }
    out["matmul_gflops"] = round(matmul_flops(device) / 1e9, 2)
    print(f"machine: {out['machine']}; large fp32 matmul: {out['matmul_gflops']} GFLOP/s", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench_size(size, genomes, args, device)
        r["loop_peak_fraction"] = round(r["loop_gflops"] / out["matmul_gflops"], 4)
        r["batched_peak_fraction"] = round(r["batched_gflops"] / out["matmul_gflops"], 4)
        out[f"{size}x{size}"] = r
        print(
            f"{r['input']} batch {r['batch_size']}: loop {r['loop_ips']} img/s, batched {r['batched_ips']} img/s, "
            f"ratio {r['ratio']}x, auto -> {r['auto_choice']} (probe {r['auto_probe']}), "
            f"GFLOP/s loop {r['loop_gflops']} batched {r['batched_gflops']}",
            flush=True,
        )
    if not args.no_generation:
        try:
            g = bench_generation(args.n, device)
        except ImportError as exc:  # the evolution engine is not there
            g = {"skipped": str(exc)}
        out["evolve_generation_digits"] = g
        print(f"one generation of evolve on digits: {g}", flush=True)
    out["machine"]["load_avg_end"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
