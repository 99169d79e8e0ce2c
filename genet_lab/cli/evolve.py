"""``evolve``, ``random-search`` and ``report``: the genetic process from the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from genet_lab.cli.common import (
    DRY_RUN_HELP,
    PAPER_HELP,
    apply_paper,
    cpu_threads,
    default_epochs,
    nonneg_int,
    positive_int,
    print_dry_run,
    search_train_config,
    seed_int,
)
from genet_lab.errors import UsageError, show
from genet_lab.evolution.config import CLI_DEFAULTS, SMALL_BATCH_DATASETS
from genet_lab.training.recipes import RECIPE_HELP, RECIPES, SCHEDULES


def _probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {v}")
    return v


def _objective_help() -> str:
    from genet_lab.evolution.config import OBJECTIVE_HELP

    return OBJECTIVE_HELP


def _add_common(p: argparse.ArgumentParser, ga: bool) -> None:
    g = p.add_argument_group("evaluation")
    g.add_argument("--dataset", help="data set (default digits, embedded)")
    g.add_argument("--data-dir", help="local copy of the data set")
    g.add_argument(
        "--train-size", type=positive_int, help="training images per evaluation (default: all of the training split)"
    )
    g.add_argument("--val-size", type=positive_int, help="validation images (default: the data set's)")
    g.add_argument(
        "--epochs",
        type=positive_int,
        help=f"training epochs per evaluation (default {CLI_DEFAULTS['epochs']}; with --schedule "
        "paper-full 240, the only length it trains)",
    )
    g.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"training batch size (default {CLI_DEFAULTS['batch_size']} for "
        f"{', '.join(SMALL_BATCH_DATASETS)}, else the trainer's)",
    )
    g.add_argument(
        "--threads",
        type=cpu_threads,
        help=f"torch CPU threads (default {CLI_DEFAULTS['threads']}: tiny networks run best on one "
        "thread, and a shared machine suffers from more)",
    )
    g.add_argument(
        "--recipe", choices=tuple(RECIPES), help=f"how to train each individual, stored with the run: {RECIPE_HELP}"
    )
    g.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    g.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="learning-rate schedule (default: the recipe's): paper (120/60/40/20 at 1e-2..1e-5 "
        "scaled to --epochs), paper-full (the paper as is, 240 epochs), onecycle, cosine, constant",
    )
    g.add_argument("--device", help="training device: auto, cpu, cuda, cuda:1, mps (default auto)")
    x = p.add_argument_group("execution (not stored: a run may be resumed with other choices)")
    x.add_argument("--workers", type=positive_int, help="evaluate a generation in N worker processes")
    x.add_argument("--devices", help="one worker per device, e.g. cuda:0,cuda:1")
    x.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="evaluate as Ray tasks on the cluster at ADDRESS (host:port, or 'local'; extra genet-lab[ray])",
    )
    x.add_argument(
        "--batched",
        choices=("off", "on", "auto"),
        default="off",
        help="train a generation as one population-batched model: on, auto (by measuring), off (default)",
    )
    g.add_argument(
        "--fitness",
        choices=("train", "proxy", "toy"),
        help="train (default), proxy: NASWOT score without training, toy: test aid",
    )
    g.add_argument("--preset", help="network preset (default paper-cifar10)")
    g.add_argument(
        "--reuse-structures",
        action="store_true",
        default=None,
        help="reuse the fitness of an already evaluated identical structure instead of training",
    )
    g.add_argument(
        "--eval-test",
        action="store_true",
        default=None,
        help="also score every evaluation on the test split, stored beside it and never seen by "
        "selection (Table 1 on the test set, as the paper reports it)",
    )
    g.add_argument("--objective", help="what selection maximises: " + _objective_help())
    s = p.add_argument_group("search")
    s.add_argument(
        "--population",
        "-N",
        type=positive_int,
        help=f"N, individuals per generation (default {CLI_DEFAULTS['population']}; paper 20)",
    )
    s.add_argument(
        "--generations",
        "-T",
        type=nonneg_int,
        help=f"T, generations after the initial one (default {CLI_DEFAULTS['generations']}; paper 50)"
        + ("" if ga else "; budget N x (T+1)"),
    )
    s.add_argument("--stages", help="stage sizes K_1,...,K_S (default 3,4,5)")
    s.add_argument("--seed", type=seed_int, help="run seed (default 0)")
    if ga:
        s.add_argument(
            "--init",
            help="random (default), zeros, a genome name (residual-40, chain, residual, "
            "dense, paper-best: copies with --init-flips bits flipped) or a file of genomes",
        )
        s.add_argument(
            "--init-p", type=_probability, help="probability of a 1 bit for --init random (default 0.5, the paper's)"
        )
        s.add_argument("--init-flips", type=nonneg_int, help="bits flipped in each copy of a named --init (default 2)")
        s.add_argument("--pm", type=_probability, help="p_M, mutation probability per individual (default 0.8)")
        s.add_argument("--qm", type=_probability, help="q_M, flip probability per bit (default 0.05)")
        s.add_argument("--pc", type=_probability, help="p_C, crossover probability per pair (default 0.2)")
        s.add_argument("--qc", type=_probability, help="q_C, exchange probability per stage (default 0.2)")
    s.add_argument(
        "--paper",
        action="store_true",
        help=PAPER_HELP.format(ga=" --pm 0.8 --qm 0.05 --pc 0.2 --qc 0.2 --init random" if ga else ""),
    )
    o = p.add_argument_group("output")
    o.add_argument("--run-dir", help="directory for the run (default runs/<kind>-<time>)")
    o.add_argument("--dry-run", action="store_true", help=DRY_RUN_HELP)
    o.add_argument("--resume", metavar="DIR", help="continue the run in DIR (only --generations may change)")
    o.add_argument("--json", action="store_true", help="no live table; print the final report as one JSON object")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evolve", help="run the genetic process (Algorithm 1), resumable")
    _add_common(p, ga=True)
    p.set_defaults(func=cmd_evolve, kind="ga")

    p = sub.add_parser("random-search", help="random search with the same evaluator and budget N x (T+1)")
    _add_common(p, ga=False)
    p.set_defaults(func=cmd_evolve, kind="random")

    p = sub.add_parser("report", help="Table 1, Figures 3-5 and GA vs random search for stored runs")
    p.add_argument("runs", nargs="+", metavar="DIR", help="run directories, or folders holding runs")
    p.add_argument("--out", help="write report.md, CSVs and PNGs here (default: DIR/report for one run)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the markdown table")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.set_defaults(func=cmd_report)


_CONFIG_OPTIONS = (
    "dataset",
    "data_dir",
    "train_size",
    "val_size",
    "epochs",
    "batch_size",
    "lr",
    "device",
    "fitness",
    "preset",
    "reuse_structures",
    "population",
    "stages",
    "seed",
    "init",
    "init_flips",
    "init_p",
    "schedule",
    "recipe",
    "pm",
    "qm",
    "pc",
    "qc",
    "run_dir",
    "eval_test",
    "objective",
    "paper",
)


def build_config(args):
    from genet_lab.encoding.genome import NAMED, RENAMED, parse_stages, renamed_error
    from genet_lab.evolution.config import SearchConfig, TrainOverrides
    from genet_lab.evolution.operators import read_genome_file

    args = apply_paper(args)
    stages = parse_stages(args.stages) if args.stages else (3, 4, 5)
    dataset = args.dataset or "digits"
    fitness = args.fitness or "train"
    train = {
        k: getattr(args, k)
        for k in ("batch_size", "lr", "device", "schedule", "recipe")
        if getattr(args, k, None) is not None
    }
    init: str = getattr(args, "init", None) or "random"
    init_genomes: tuple[str, ...] = ()
    n = args.population
    if init in RENAMED:
        raise renamed_error(init)
    if init not in ("random", "zeros") and init not in NAMED:
        genomes = read_genome_file(init, stages if args.stages else None)
        stages = genomes[0].stages
        if n is None:
            n = len(genomes)
        elif n != len(genomes):
            raise UsageError(f"{init} lists {len(genomes)} genomes but --population is {n}")
        init, init_genomes = "file", tuple(g.notation() for g in genomes)
    train_size = args.train_size
    if dataset == "digits" and fitness == "train" and train_size is None:
        train_size = CLI_DEFAULTS["train_size"]
    if dataset in SMALL_BATCH_DATASETS and fitness == "train":
        train.setdefault("batch_size", CLI_DEFAULTS["batch_size"])
    kw = dict(
        kind=args.kind,
        population=n or CLI_DEFAULTS["population"],
        generations=CLI_DEFAULTS["generations"] if args.generations is None else args.generations,
        stages=stages,
        init=init,
        init_genomes=init_genomes,
        fitness=fitness,
        reuse_structures=bool(args.reuse_structures),
        seed=args.seed or 0,
        preset=args.preset or "paper-cifar10",
        dataset=dataset,
        data_dir=args.data_dir,
        train_size=train_size,
        val_size=args.val_size,
        epochs=args.epochs or default_epochs(args.schedule, CLI_DEFAULTS["epochs"]),
        train=TrainOverrides.from_dict(train),
    )
    if getattr(args, "eval_test", None):
        kw["eval_test"] = True
    if getattr(args, "objective", None) is not None:
        from genet_lab.evolution.config import parse_objective

        parse_objective(args.objective)  # a bad one is a one-line error before anything is made
        kw["objective"] = args.objective.strip()
    for name in ("pm", "qm", "pc", "qc", "init_flips", "init_p"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    from genet_lab.evolution.run import check_size

    config = SearchConfig(**kw).validated()
    check_size(config)  # -N 1000000000: one line before anything is made, --dry-run included
    return config


def _execution(args) -> dict:
    return {"workers": args.workers or 0, "devices": args.devices, "ray": args.ray, "batched": args.batched}


def _set_threads(args) -> None:
    import torch

    torch.set_num_threads(args.threads or CLI_DEFAULTS["threads"] or 1)


def _dry_run(args, config, run_dir: Path) -> int:
    """``--dry-run``: the search config, the training config each evaluation would run with,
    and the execution settings, as one JSON object; nothing is created and no data is loaded."""
    return print_dry_run(
        {
            "command": "evolve" if args.kind == "ga" else "random-search",
            "run_dir": str(run_dir),
            "resume": bool(args.resume),
            "search": config.to_dict(),
            "train": search_train_config(config),
            "execution": {**_execution(args), "threads": args.threads or CLI_DEFAULTS["threads"]},
        }
    )


def cmd_evolve(args) -> int:
    from genet_lab.evolution import resume_run, start_run

    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in _CONFIG_OPTIONS if getattr(args, k, None) not in (None, False)]
        if given:
            raise UsageError(
                f"--resume continues with the run's stored settings; drop {', '.join(given)} "
                "(only --generations may change)"
            )
        run_dir = Path(args.resume)
        from genet_lab.evolution.store import RunStore

        with RunStore(run_dir, readonly=True) as peek:
            stored = peek.config()
        if stored["kind"] != args.kind:
            other = "evolve" if stored["kind"] == "ga" else "random-search"
            raise UsageError(f"{run_dir} holds a {stored['kind']} run; resume it with 'genet-lab {other} --resume'")
        if args.dry_run:
            from genet_lab.evolution.config import SearchConfig, extend

            resumed = SearchConfig.from_stored(stored)
            if args.generations is not None:
                resumed = extend(resumed, args.generations)
            return _dry_run(args, resumed, run_dir)
        if stored["fitness"] != "toy":
            _set_threads(args)
        live = LiveRun(args.json, stored)
        live.started = True  # the run exists: an interruption leaves it as safe as it was
        with live, _interrupt_hint(live, run_dir, args.kind):
            status = resume_run(run_dir, args.generations, listeners=[live.on_event], execution=_execution(args))
    else:
        config = build_config(args)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.run_dir or f"runs/{'evolve' if args.kind == 'ga' else 'random'}-{stamp}")
        if args.dry_run:
            return _dry_run(args, config, run_dir)
        if config.fitness != "toy":
            _set_threads(args)
        live = LiveRun(args.json, config.to_dict())
        with live, _interrupt_hint(live, run_dir, args.kind):
            status = start_run(run_dir, config, listeners=[live.on_event], execution=_execution(args))
    if args.json:
        from genet_lab.evolution.report import run_summary

        print(json.dumps({**run_summary(run_dir), "run_dir": str(run_dir), "status": status.to_dict()}))
    else:
        best = "none yet" if status.best_fitness is None else f"{status.best} ({status.best_fitness:.2f})"
        print(
            f"run {status.state}: {status.evaluations_done}/{status.evaluations_total} evaluations, "
            f"best {best}; stored in {show(run_dir)}\n"
            f"report: genet-lab report {shell_quote(run_dir)}"
        )
    return 0


def shell_quote(path: str | Path) -> str:
    """``path`` as one shell word to copy: shlex-quoted, or ANSI-C quoted (``$'a\\nb'``) when it holds
    control characters such as a newline, so the hint stays on one line."""
    text = str(path)
    if text.isprintable():
        return shlex.quote(text)
    body = "".join(
        c if c.isprintable() and c not in "\\'" else ("\\" + c if c in "\\'" else repr(c)[1:-1]) for c in text
    )
    return f"$'{body}'"


@contextlib.contextmanager
def _interrupt_hint(live: LiveRun, run_dir: Path, kind: str):
    """Ctrl-C or SIGTERM: the run is closed cleanly on the way out; say so and how to go on."""
    try:
        yield
    except KeyboardInterrupt as exc:
        command = "evolve" if kind == "ga" else "random-search"
        if live.started:
            exc.hint = (
                f"the run in {show(run_dir)} is safe (every finished evaluation is stored); continue it "  # type: ignore[attr-defined]
                f"with: genet-lab {command} --resume {shell_quote(run_dir)}"
            )
        else:
            exc.hint = "stopped before the run started; nothing was stored"  # type: ignore[attr-defined]
        raise


def cmd_report(args) -> int:
    from genet_lab.evolution.report import compare, find_runs, run_summary, write_report

    runs = find_runs(args.runs)
    out = Path(args.out) if args.out else (runs[0] / "report" if len(runs) == 1 else None)
    if out is None:
        raise UsageError("several runs need --out DIR for the report files")
    written = write_report(runs, out, plots=not args.no_plots)
    if args.json:
        summaries = [{**run_summary(r), "run_dir": str(r)} for r in runs]
        body: dict[str, Any] = summaries[0] if len(runs) == 1 else {"runs": summaries, "comparison": compare(runs)}
        body["files"] = [str(p) for p in written]
        print(json.dumps(body))
    else:
        sys.stdout.write((out / "report.md").read_text())
        print(f"\nwrote {len(written)} files to {out}")
    return 0


class LiveRun:
    """The live view of a run: a table of finished generations and a progress line.

    A rich ``Live`` display on a terminal; one plain line per generation
    otherwise; nothing with ``--json``.
    """

    def __init__(self, quiet: bool, config: dict[str, Any]):
        self.quiet, self.config = quiet, config
        self.rows: list[Any] = []
        self.line = ""
        self.live: Any = None  # a rich Live on a terminal
        self.tty = sys.stdout.isatty()
        self.started = False
        """Whether the run's store exists (an event arrived): what an interruption message says."""

    def __enter__(self):
        if not self.quiet and self.tty:
            from rich.live import Live

            self.live = Live(self._render(), refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.line = ""
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def _render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        from genet_lab.evolution.config import UNITS

        kind = "GA" if self.config.get("kind") == "ga" else "random search"
        t = Table(
            title=f"{kind}: N={self.config.get('population')} T={self.config.get('generations')} "
            f"fitness={UNITS.get(str(self.config.get('fitness')), '')}",
            title_justify="left",
        )
        for col in ("Gen", "Max", "Min", "Avg", "Med", "Std", "Best individual"):
            t.add_column(col, justify="right" if col != "Best individual" else "left")
        for e in self.rows[-20:]:
            t.add_row(
                f"{e.gen:02d}",
                f"{e.max:.2f}",
                f"{e.min:.2f}",
                f"{e.mean:.2f}",
                f"{e.median:.2f}",
                f"{e.std:.2f}",
                e.best,
            )
        return Group(t, Text(self.line, style="dim"))

    def on_event(self, e) -> None:
        from genet_lab.evolution import events as ev

        self.started = True
        if self.quiet:
            return
        if isinstance(e, ev.GenerationFinished):
            self.rows.append(e)
            self.line = ""
            if not self.tty:
                print(
                    f"gen {e.gen:02d}  max {e.max:.2f}  min {e.min:.2f}  mean {e.mean:.2f}  "
                    f"median {e.median:.2f}  std {e.std:.2f}  best {e.best}",
                    flush=True,
                )
        elif isinstance(e, ev.GenerationStarted):
            self.line = f"generation {e.gen}: 0/{e.size} evaluated"
        elif isinstance(e, ev.IndividualEvaluated):
            how = "reused" if e.reused else f"{e.seconds:.1f}s"
            self.line = (
                f"generation {e.gen}: {e.done}/{e.total} evaluated; last #{e.index} "
                f"{e.genome} -> {e.accuracy:.2f} ({how})"
            )
        elif isinstance(e, ev.EvaluationProgress):
            self.line = (
                f"generation {e.gen}: training #{e.index}, epoch {e.epoch}/{e.epochs}, "
                f"step {e.step}/{e.steps}, loss {e.loss:.3f}"
            )
        elif isinstance(e, ev.RunStarted) and e.resumed and not self.tty:
            print("resuming from the last finished evaluation", flush=True)
        if self.live is not None:
            self.live.update(self._render())
