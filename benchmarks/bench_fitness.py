"""Does the train fitness tell architectures apart? Signal, noise and rank fidelity per recipe.

For each data set, a fixed panel of genomes (the named ones plus seeded random ones, stages
3,4,5) is trained at the short budget that ``genet-lab evolve`` uses, several seeds each, with
every recipe asked for, side by side in one run; and once more at a reference budget
(``--ref-factor`` times the epochs, the default recipe, ``--ref-seeds`` seeds) whose mean
ranking stands in for the truth. Printed per data set and recipe:

- per genome: mean and sample sd of validation accuracy (%) over seeds;
- within: the pooled within-genome sd (root of the mean per-genome variance);
- between: the sd of the genome means; SNR = between / within;
- s/train: the median seconds of one training (one CPU thread, fp32, as evolve trains);
- tau: Kendall's tau between the short-budget means and the reference means.

The recipes are :data:`genet_lab.training.recipes.RECIPES`: ``legacy`` is what every default
used before this benchmark, ``fast`` the default it chose, ``paper`` section 4.1.1. A recipe
may carry overrides for an ablation: ``fast+dropout=0.5``.

    .venv/bin/python benchmarks/bench_fitness.py                      # all three data sets
    .venv/bin/python benchmarks/bench_fitness.py --datasets digits --seeds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from genet_lab.encoding.genome import Genome, named
from genet_lab.encoding.presets import get_preset
from genet_lab.training.config import default_train_config
from genet_lab.training.data import load_dataset
from genet_lab.training.trainer import train_genome

STAGES = (3, 4, 5)
PANEL_NAMES = ("zeros", "chain", "residual", "dense", "paper-best")
CIFAR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Budget:
    """The short budget of one data set (evolve's, or the issue's target setting)."""

    dataset: str
    epochs: int
    batch_size: int
    train_size: int | None
    val_size: int | None
    data_dir: str | None = None


BUDGETS = {
    # evolve's default: all 1,150 training images, 6 epochs, batch 32
    "digits": Budget("digits", epochs=6, batch_size=32, train_size=None, val_size=None),
    "fashion-mnist": Budget(
        "fashion-mnist",
        epochs=3,
        batch_size=32,
        train_size=3000,
        val_size=2000,
        data_dir="/usr/share/datasets/fashion-mnist",
    ),
    "cifar10": Budget("cifar10", epochs=3, batch_size=64, train_size=5000, val_size=2000),
}


def panel(n_random: int) -> list[tuple[str, Genome]]:
    rng = np.random.default_rng(20171024)
    out = [(n, named(n, STAGES)) for n in PANEL_NAMES]
    length = sum(k * (k - 1) // 2 for k in STAGES)
    for i in range(n_random):
        bits = "".join(str(b) for b in rng.integers(0, 2, length))
        out.append((f"random-{i}", Genome.from_bits(bits, STAGES)))
    return out


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``fast`` or ``fast+dropout=0.5+lr=0.1``: a recipe and TrainConfig overrides (an ablation)."""
    name, *pairs = text.split("+")
    over: dict[str, Any] = {}
    for pair in pairs:
        key, value = pair.split("=")
        over[key] = json.loads(value) if value not in ("onecycle", "cosine", "paper", "constant") else value
    return name, over


def train_config(budget: Budget, variant: str, epochs: int, seed: int):
    common = dict(
        epochs=epochs,
        batch_size=budget.batch_size,
        seed=seed,
        threads=1,
        precision="fp32",
        channels_last="off",
        device="cpu",
    )
    recipe, over = parse_variant(variant)
    base = default_train_config(budget.dataset, recipe=recipe, **common)
    return replace(base, **over, recipe="custom").validated() if over else base


def load(budget: Budget, cifar_root: Path | None):
    if budget.dataset == "cifar10":
        if cifar_root is None:
            raise SystemExit("cifar10 needs --cifar-root (an ImageFolder tree: train/<class>/*.jpg)")
        return load_dataset(
            "imagefolder", str(cifar_root), train_size=budget.train_size, val_size=budget.val_size, with_test=False
        )
    return load_dataset(
        budget.dataset, budget.data_dir, train_size=budget.train_size, val_size=budget.val_size, with_test=False
    )


def measure(data, genomes, budget: Budget, recipe: str, epochs: int, seeds: int, log) -> dict[str, Any]:
    net = get_preset("paper-cifar10").with_input(data.in_channels, data.image_size, data.num_classes)
    accs: dict[str, list[float]] = {}
    secs: list[float] = []
    for name, genome in genomes:
        for seed in range(seeds):
            r = train_genome(genome, net, data, train_config(budget, recipe, epochs, seed))
            accs.setdefault(name, []).append(100 * r.val_accuracy)
            secs.append(r.seconds)
        log(f"  {budget.dataset} {recipe} {epochs} ep  {name:10s} " + " ".join(f"{a:5.1f}" for a in accs[name]))
    return summarise(accs, secs)


def summarise(accs: dict[str, list[float]], secs: list[float]) -> dict[str, Any]:
    means = {g: statistics.mean(v) for g, v in accs.items()}
    sds = {g: statistics.stdev(v) if len(v) > 1 else 0.0 for g, v in accs.items()}
    within = math.sqrt(statistics.mean(s * s for s in sds.values()))
    between = statistics.stdev(means.values())
    return {
        "accuracy": accs,
        "mean": means,
        "sd": sds,
        "within_sd": within,
        "between_sd": between,
        "snr": between / within if within > 0 else math.inf,
        "seconds_median": statistics.median(secs),
        "seconds_total": sum(secs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="digits,fashion-mnist,cifar10")
    ap.add_argument(
        "--recipes",
        default="legacy,fast,paper",
        help="comma list of legacy, fast, paper, each optionally with +key=value overrides; "
        "'' measures the reference alone",
    )
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--random", type=int, default=5, help="seeded random genomes in the panel (default 5)")
    ap.add_argument(
        "--ref-factor",
        type=int,
        default=5,
        help="reference budget: this many times the epochs (0: no reference, no tau)",
    )
    ap.add_argument("--ref-seeds", type=int, default=2)
    ap.add_argument("--ref-recipe", default="fast")
    ap.add_argument("--cifar-root", type=Path, help="CIFAR-10 ImageFolder tree (train/<class>/*.jpg)")
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    ap.add_argument("--epochs", type=int, help="short budget's epochs (default: the data set's, see BUDGETS)")
    ap.add_argument("--train-size", type=int, help="training images (default: the data set's, see BUDGETS)")
    ap.add_argument("--batch-size", type=int, help="batch size (default: the data set's, see BUDGETS)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    genomes = panel(args.random)
    recipes = [r for r in args.recipes.split(",") if r]  # "" = the reference alone
    out: dict[str, Any] = {
        "panel": {n: g.notation() for n, g in genomes},
        "seeds": args.seeds,
        "ref_factor": args.ref_factor,
        "ref_seeds": args.ref_seeds,
        "ref_recipe": args.ref_recipe,
        "torch": torch.__version__,
        "datasets": {},
    }
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    for ds in args.datasets.split(","):
        budget = BUDGETS[ds]
        if args.epochs or args.train_size or args.batch_size:
            budget = replace(
                budget,
                epochs=args.epochs or budget.epochs,
                train_size=args.train_size or budget.train_size,
                batch_size=args.batch_size or budget.batch_size,
            )
        t0 = time.perf_counter()
        data = load(budget, args.cifar_root)
        log(
            f"{ds}: {len(data.train_y)} train / {len(data.val_y)} val images, "
            f"loaded in {time.perf_counter() - t0:.1f} s"
        )
        res = {"budget": budget.__dict__, "recipes": {}}
        for recipe in recipes:
            res["recipes"][recipe] = measure(data, genomes, budget, recipe, budget.epochs, args.seeds, log)
        names = [n for n, _ in genomes]
        if not recipes and not args.ref_factor:
            raise SystemExit("nothing to measure: give --recipes or a --ref-factor above 0")
        if args.ref_factor:
            ref = measure(data, genomes, budget, args.ref_recipe, budget.epochs * args.ref_factor, args.ref_seeds, log)
            res["reference"] = ref
            for r in res["recipes"].values():
                tau = kendalltau([r["mean"][n] for n in names], [ref["mean"][n] for n in names]).statistic
                r["kendall_tau"] = float(tau)
        out["datasets"][ds] = res
        print_table(ds, budget, res, names, args.ref_factor)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


def print_table(ds: str, budget: Budget, res: dict[str, Any], names: list[str], ref_factor: int) -> None:
    recipes = list(res["recipes"])
    ref = res.get("reference")
    title = f"\n## {ds}: {budget.epochs} epochs, batch {budget.batch_size}, train {budget.train_size or 'all'}"
    if ref:
        title += f"; reference: {budget.epochs * ref_factor} epochs, {len(ref['accuracy'][names[0]])} seeds"
    print(title)
    print("| genome | " + " | ".join(f"{r} mean ± sd" for r in recipes) + (" | reference |" if ref else " |"))
    print("|" + "---|" * (len(recipes) + 1 + bool(ref)))
    for n in names:
        cells = [f"{res['recipes'][r]['mean'][n]:.1f} ± {res['recipes'][r]['sd'][n]:.1f}" for r in recipes]
        print(f"| {n} | " + " | ".join(cells) + (f" | {ref['mean'][n]:.1f} |" if ref else " |"))
    for key, fmt in (
        ("within_sd", "{:.2f}"),
        ("between_sd", "{:.2f}"),
        ("snr", "{:.2f}"),
        ("kendall_tau", "{:.2f}"),
        ("seconds_median", "{:.2f}"),
    ):
        cells = [fmt.format(res["recipes"][r][key]) if key in res["recipes"][r] else "" for r in recipes]
        if ref:
            cells.append(fmt.format(ref[key]) if key in ref else "")
        print(f"| **{key}** | " + " | ".join(cells) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
