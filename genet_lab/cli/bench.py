"""``genet-lab bench``: build a tabular benchmark of a GeNet space, export it, list the shipped ones.

``bench build`` trains every distinct structure of a space with several seeds into a build
directory (resumable: rerun the same command), ``bench export DIR -o FILE`` writes the build as
one table file, ``bench list`` names the tables shipped in the package. The work is
:mod:`genet_lab.bench`'s; this module parses, prints and words errors as flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from genet_lab.cli import bench_compare, bench_estimators, bench_show, options

DEFAULT_STAGES = "3,3,4"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="a tabular benchmark of a space: build, export, list",
        description="Train every distinct structure of a space (several seeds) into a table.",
    )
    bsub = p.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    _register_build(bsub)
    e = bsub.add_parser("export", help="write a build (finished or partial) as one table file")
    e.add_argument("dir", metavar="DIR", help="the build directory")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="the table file (.json.gz)")
    e.add_argument("--name", help="the table's name (default: the file's name)")
    options.add(e, "json")
    e.set_defaults(func=cmd_export)
    ls = bsub.add_parser("list", help="the tables shipped in the package")
    options.add(ls, "json")
    ls.set_defaults(func=cmd_list)
    bench_show.add_parser(bsub)
    bench_compare.add_parser(bsub)
    bench_estimators.add_parser(bsub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _register_build(bsub: Any) -> None:
    b = bsub.add_parser(
        "build",
        help="train every distinct structure of a space with several seeds (rerun to resume)",
        description="Train every distinct structure of a space on a data set with several seeds, into a "
        "resumable build directory; rerunning the same command continues it.",
    )
    options.add(b, "stages", default=DEFAULT_STAGES, help=f"stage sizes K1,K2,... (default {DEFAULT_STAGES})")
    options.add_data(b)
    b.add_argument("--image-size", type=options.positive_int, help="resample the images to this size")
    options.add_group(b, "training", ("epochs", "batch_size", "recipe", "preset", "device"))
    arg = b.add_argument
    arg(
        "--threads",
        type=options.positive_int,
        default=1,
        help="CPU threads per training, a setting of the table "
        "(default 1: the thread count changes the float sums, and so the accuracies)",
    )
    arg("--seeds", type=options.positive_int, default=4, help="training seeds 0..N-1 (default 4)")
    arg(
        "--table-seed",
        type=options.seed_int,
        default=0,
        help="seed of the data split, the same for every training (default 0)",
    )
    arg(
        "--workers",
        type=options.positive_int,
        default=os.cpu_count() or 1,
        help="worker processes, each "
        f"training on --threads threads (default: the CPUs, {os.cpu_count()}); results do not depend on it",
    )
    arg(
        "--mode",
        choices=("loop", "batched"),
        default="loop",
        help="loop (default): one network at a time, as "
        "an evolution's evaluation trains it; batched: --group networks of one seed as one population, about 2x "
        "faster on digits but equal to loop only up to float rounding, which training amplifies (a setting of "
        "the table)",
    )
    arg(
        "--group",
        type=options.positive_int,
        default=8,
        help="networks per batched group (default 8; a setting of a batched table)",
    )
    arg(
        "--sample",
        type=options.positive_int,
        help="train only N structures drawn at random by --table-seed: a pilot that shows how much the "
        "structures differ against the seed noise before paying for the whole space (default: all)",
    )
    # fmt: skip
    b.add_argument(
        "--out", metavar="DIR", help="build directory (default runs/bench-<space>-<dataset>-e<epochs>-s<seeds>)"
    )
    b.add_argument(
        "--every",
        type=options.positive_int,
        default=50,
        help="without a terminal: one progress line per N trainings (default 50)",
    )
    options.add(b, "dry_run", help="print the projected cost and exit, creating nothing")
    options.add(b, "json")
    b.set_defaults(func=cmd_build)


def _settings(args: argparse.Namespace):  # noqa: ANN202
    from genet_lab.bench.settings import BenchSettings
    from genet_lab.encoding.genome import parse_stages

    return BenchSettings(
        stages=parse_stages(args.stages),
        dataset=args.dataset or "digits",
        data_dir=args.data_dir,
        train_size=args.train_size,
        val_size=args.val_size,
        image_size=args.image_size,
        preset=args.preset or "paper-cifar10",
        epochs=args.epochs,
        batch_size=args.batch_size,
        recipe=args.recipe,
        seeds=tuple(range(args.seeds)),
        table_seed=args.table_seed,
        threads=args.threads,
        mode=args.mode,
        group=args.group,
        sample=args.sample,
    ).resolved()


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def cmd_build(args: argparse.Namespace) -> int:
    from genet_lab.bench.build import build, projected_cost
    from genet_lab.bench.store import DB_NAME, BenchStore

    settings = _settings(args)
    space = "-".join(map(str, settings.stages))
    out = Path(
        args.out
        or f"runs/bench-{space}-{settings.dataset}-e{settings.epochs}-s{len(settings.seeds)}"
        + ("" if settings.sample is None else f"-n{settings.sample}")
    )
    measured, done = None, 0
    if (out / DB_NAME).exists():
        with BenchStore(out, readonly=True) as ro:
            diff = ro.settings.differences(settings)
            if diff:
                from genet_lab.errors import UsageError

                raise UsageError(f"{out} holds a build with other settings ({'; '.join(diff)}); use another --out")
            measured, done = ro.mean_seconds(), ro.counts()["done"]
    cost = projected_cost(settings, args.workers, measured)
    cost["left"] = None if cost["seconds"] is None else cost["seconds"] * (1 - done / cost["trainings"])
    plan = {"out": str(out), "settings": settings.to_dict(), "done": done, **cost}
    line = (
        f"{settings.describe()}: {cost['structures']} structures x {cost['seeds']} seeds = {cost['trainings']} "
        f"trainings ({done} done), {cost['source']} {cost['seconds_per_training'] or 0:.2f} s each, "
        f"{args.workers} worker(s): about {_hms(cost['left'])} left -> {out}"
    )
    if args.dry_run:
        print(json.dumps(plan) if args.json else line)
        return 0
    print(line, file=sys.stderr)
    try:
        with _reporter(args.every) as report:
            counts = build(out, settings, workers=args.workers, device=args.device or "auto", progress=report)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (main words it): say how to go on
        exc.hint = f"every recorded training is kept in {out}; rerun the same command to resume"  # type: ignore[attr-defined]
        raise
    summary: dict[str, Any] = {"out": str(out), **counts, "spread": _spread(out)}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{out}: {counts['done']} trainings done, {counts['pending']} left")
    if summary["spread"] is not None:
        print(_spread_line(summary["spread"]))
    return 0


def _spread(out: Path) -> dict[str, Any] | None:
    """The build's spread of structures against seed noise (None before two structures have results)."""
    from genet_lab.bench.store import BenchStore
    from genet_lab.bench.table import spread

    with BenchStore(out, readonly=True) as store:
        by: dict[int, list[float]] = {}
        for t in store.done():
            if not t["failed"]:
                by.setdefault(t["structure"], []).append(t["val_accuracy"])
    return spread(list(by.values())).to_dict() if len(by) >= 2 else None


def _spread_line(s: dict[str, Any]) -> str:
    noise = (
        "one seed: no noise estimate"
        if s["noise_sd"] is None
        else (
            f"seed noise sd {s['noise_sd']:.2f}, between-structure sd {s['between_sd']:.2f} (noise removed), "
            f"ratio {s['ratio']:.2f}"
            if s["ratio"] is not None
            else f"seed noise sd {s['noise_sd']:.2f}"
        )
    )
    return (f"{s['structures']} structures, mean {s['mean']:.2f}%, sd of means {s['sd_of_means']:.2f} points; "
            f"{noise}")  # fmt: skip


class _reporter:  # noqa: N801 (a context manager used as a function)
    """Progress: a rich bar on a terminal, else one line per ``every`` trainings on stderr."""

    def __init__(self, every: int):
        self.every = every
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self):  # noqa: ANN204
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("bench"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.fields[rate]}"), console=Console(stderr=True))  # fmt: skip
            self.bar.start()
        return self

    def __call__(self, p: Any) -> None:
        rate = f"{p.per_second:.2f} trainings/s"
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task("bench", total=p.total, completed=p.done, rate=rate)
            self.bar.update(self.task, completed=p.done, rate=rate)
        elif p.session_done % self.every == 0 or p.done == p.total:
            print(f"{p.done}/{p.total} trainings, {rate}, eta {_hms(p.eta)}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def cmd_export(args: argparse.Namespace) -> int:
    from genet_lab.bench.table import export_build

    info = export_build(args.dir, args.output, name=args.name)
    print(json.dumps(info) if args.json else
          f"{info['path']}: {info['structures']} structures, {info['trainings']} trainings "
          f"({'complete' if info['complete'] else 'partial'}), {info['bytes']} bytes")  # fmt: skip
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from genet_lab.bench.table import list_tables

    rows = list_tables()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no tables are shipped in this package yet")
    for r in rows:
        data = r["dataset"] + (f" at {r['image_size']}x{r['image_size']}" if r.get("image_size") else "")
        if r.get("train_size"):
            data += f" ({r['train_size']:,} training images)"
        print(f"{r['name']}: stages {r['space']} ({r['structures']:,} structures), {data}, {r['epochs']} epochs, "
              f"batch {r['batch_size']}, "
              f"recipe {r['recipe']}, {r['seeds']} seeds, {r['bytes']} bytes, "
              f"{'complete' if r['complete'] else 'partial'}")  # fmt: skip
    return 0
