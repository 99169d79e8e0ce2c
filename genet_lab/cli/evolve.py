"""``evolve``, ``random-search`` and ``report``: the genetic process from the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from genet_lab.cli import options
from genet_lab.cli.common import cpu_threads, flag, positive_int, print_dry_run, search_train_config
from genet_lab.errors import ConfigError, UsageError, show
from genet_lab.evolution.config import EVAL_THREADS, SearchConfig, TrainOverrides

SEARCH_FIELDS = frozenset(f.name for f in fields(SearchConfig)) - {"kind", "train"}
TRAIN_FIELDS = frozenset(f.name for f in fields(TrainOverrides))


def _paper_help(ga: bool) -> str:
    paper, default = SearchConfig.paper(), SearchConfig()
    shown = [
        f"{flag(f.name)} {_word(getattr(paper, f.name))}"
        for f in fields(SearchConfig)
        if (getattr(paper, f.name) != getattr(default, f.name) or f.name == "preset")
        and f.name not in ("train", *(() if ga else options.GA))
    ]
    shown += [f"{flag(k)} {v}" for k, v in sorted(paper.train.to_dict().items())]
    if ga:
        shown += [f"{flag(k)} {_word(getattr(paper, k))}" for k in ("pm", "qm", "pc", "qc", "init")]
    return (
        "the paper's CIFAR-10 process (section 4.1.1): " + " ".join(shown) + "; any of these flags given "
        "explicitly overrides --paper"
    )


def _word(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _add_common(p: argparse.ArgumentParser, ga: bool) -> None:
    options.add_data(p)
    options.add_training(
        p,
        epochs=dict(
            help="training epochs per evaluation (default: the data set's budget, "
            "see 'genet-lab train --help'; 240 with --schedule paper-full)"
        ),
    )
    x = p.add_argument_group("execution (not stored: a run may be resumed with other choices)")
    x.add_argument("--threads", type=cpu_threads, help=options.EXECUTION_THREADS_HELP)
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
    options.add_search(
        p,
        ga,
        generations=dict(help=options.OPTIONS["generations"].kw["help"] + ("" if ga else "; budget N x (T+1)")),
    )
    options.add(p, "paper", help=_paper_help(ga))
    options.add_output(
        p,
        ("run_dir", "dry_run", "resume", "json"),
        json=dict(help="no live table; print the final report as one JSON object"),
    )  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evolve", help="run the genetic process (Algorithm 1), resumable")
    _add_common(p, ga=True)
    p.add_argument("--strategy", choices=("ga", "aging", "local"), help="how generations are bred: ga (default, "
                   "the paper's Algorithm 1), aging (regularised evolution, Real et al. 2019: tournaments of "
                   "--sample-size among the --aging-population youngest, one bit flipped, the oldest die; N "
                   "children a generation), local (local search, White et al. 2020: N untried one-bit neighbours "
                   "of the current best a generation, move to a better one, restart at random at a local "
                   "optimum); every strategy evaluates N x (T+1); random search is random-search")  # fmt: skip
    p.set_defaults(func=cmd_evolve, kind="ga")

    p = sub.add_parser("random-search", help="random search with the same evaluator and budget N x (T+1)")
    _add_common(p, ga=False)
    p.set_defaults(func=cmd_evolve, kind="random")

    p = sub.add_parser("report", help="Table 1, Figures 3-5 and GA vs random search for stored runs")
    p.add_argument("runs", nargs="+", metavar="DIR", help="run directories, or folders holding runs")
    p.add_argument("--out", help="write report.md, CSVs and PNGs here (default: DIR/report for one run)")
    options.add(p, "json", help="print one JSON object instead of the markdown table")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.add_argument(
        "--reproduce",
        nargs="?",
        const="best",
        type=_evaluation_at,
        metavar="GEN:INDEX",
        help="print the 'genet-lab train' command that reproduces evaluation GEN:INDEX of the run (alone: its best "
        "single evaluation) and its recorded accuracy, instead of the report",
    )
    p.set_defaults(func=cmd_report)


def _evaluation_at(text: str) -> str | tuple[int, int]:
    """``best`` or GEN:INDEX (both integers from 0)."""
    if text == "best":
        return text
    gen, sep, index = text.partition(":")
    if sep and gen.strip().isdigit() and index.strip().isdigit():
        return int(gen), int(index)
    raise argparse.ArgumentTypeError(f"expected GEN:INDEX (e.g. 2:0, both from 0), got {text!r}")


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields the command line set (an option not given is None, or False for a switch)."""
    names = SEARCH_FIELDS | TRAIN_FIELDS
    return {k: v for k, v in vars(args).items() if k in names and v is not None and v is not False}


def build_config(args: argparse.Namespace) -> SearchConfig:
    """The resolved search config of an ``evolve`` / ``random-search`` command line: the flags given
    set SearchConfig's (or, with ``--paper``, :meth:`SearchConfig.paper`'s) fields, then
    :meth:`SearchConfig.resolve` applies every default and checks everything."""
    base = SearchConfig.paper(kind=args.kind) if args.paper else SearchConfig(kind=args.kind)
    given = _given(args)
    search = {k: v for k, v in given.items() if k in SEARCH_FIELDS}
    if "stages" in search:
        search["stages"] = options.stage_sizes(search["stages"])
    train = base.train.updated(**{k: v for k, v in given.items() if k in TRAIN_FIELDS})
    config = replace(base, **search, train=train).resolve()
    if "population" in search and config.population != search["population"]:  # -N 10 beside a file of 8
        raise ConfigError(
            "population",
            search["population"],
            template=show(search.get("init", "the genome file")).replace("{", "{{").replace("}", "}}")
            + f" lists {config.population} genomes but {{option}} is {{value}}",
        )
    return config


def _execution(args) -> dict:
    return {"workers": args.workers or 0, "devices": args.devices, "ray": args.ray, "batched": args.batched}


def _set_threads(args) -> None:
    import torch

    torch.set_num_threads(args.threads or EVAL_THREADS)


def _dry_run(args, config, run_dir: Path) -> int:
    """``--dry-run``: the search config, the training config each evaluation would run with,
    and the execution settings, as one JSON object; nothing is created and no data is loaded.
    It refuses what the real command would refuse before its first evaluation (the start, the
    run directory, the execution flags, a device this machine lacks)."""
    train = search_train_config(config)
    _check_execution(args, config)
    device = str((train or {}).get("device") or "auto")
    if device.startswith(("cuda", "mps")):
        from genet_lab.training.devices import resolve_device

        resolve_device(device)
    return print_dry_run(
        {
            "command": _command(args.kind),
            "run_dir": str(run_dir),
            "resume": bool(args.resume),
            "search": config.to_dict(),
            "train": train,
            "execution": {**_execution(args), "threads": args.threads or EVAL_THREADS},
        }
    )


def _check_execution(args, config) -> None:
    """The execution flags checked as the real command checks them, starting nothing: worker pools
    start lazily, and Ray (connecting) and batching (the loaded data) are checked as far as they
    can be without."""
    from genet_lab.evolution.executors import make_executor

    execution = _execution(args)
    lone = [k for k in ("ray", "batched") if execution[k] and execution[k] != "off"]
    if lone and not (execution["workers"] or execution["devices"]) and len(lone) == 1:
        if lone == ["batched"] and config.fitness != "train":
            raise ConfigError(
                "batched", template="{option} evaluation needs the train fitness ({fitness} train)", also=("fitness",)
            )
        return
    make_executor(None, config, execution)  # type: ignore[arg-type]  # serial and pools: no fitness used yet


def _refuse_changes(args: argparse.Namespace) -> None:
    """``--resume`` continues with the stored settings: any other config flag is refused."""
    given = [k for k in _given(args) if k != "generations"]
    given += [k for k in ("run_dir", "paper", "strategy") if getattr(args, k, None)]
    if given:
        raise UsageError(
            f"--resume continues with the run's stored settings; drop {', '.join(flag(k) for k in given)} "
            "(only --generations may change)"
        )


def _command(kind: str) -> str:
    """The command that runs (and resumes) a run of ``kind``."""
    return "random-search" if kind == "random" else "evolve"


def cmd_evolve(args) -> int:
    from genet_lab.evolution import resume_run, start_run

    if args.resume:
        _refuse_changes(args)
        run_dir = Path(args.resume)
        from genet_lab.evolution.store import RunStore

        with RunStore(run_dir, readonly=True) as peek:
            stored = peek.config()
        if _command(stored["kind"]) != _command(args.kind):
            other = _command(stored["kind"])
            raise UsageError(
                f"{show(run_dir)} holds a run of kind {stored['kind']}; resume it with 'genet-lab {other} --resume'"
            )
        if args.dry_run:
            from genet_lab.evolution.run import resumed_config

            with RunStore(run_dir, readonly=True) as peek:
                peek.check_writable()  # what --resume would refuse on opening: a writer, a read-only folder
                resumed, _ = resumed_config(peek, args.generations)
            return _dry_run(args, resumed, run_dir)
        if stored["fitness"] != "toy":
            _set_threads(args)
        live = LiveRun(args.json, stored)
        live.started = True  # the run exists: an interruption leaves it as safe as it was
        with live, _interrupt_hint(live, run_dir, stored["kind"]):
            status = resume_run(run_dir, args.generations, listeners=[live.on_event], execution=_execution(args))
    else:
        args.kind = getattr(args, "strategy", None) or args.kind
        config = build_config(args)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.run_dir or f"runs/{'evolve' if args.kind == 'ga' else args.kind}-{stamp}")
        if args.dry_run:
            from genet_lab.evolution.run import check_start

            return _dry_run(args, check_start(run_dir, config), run_dir)
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
        command = _command(kind)
        hint = (
            f"the run in {show(run_dir)} is safe (every finished evaluation is stored); continue it "
            f"with: genet-lab {command} --resume {shell_quote(run_dir)}"
            if live.started
            else "stopped before the run started; nothing was stored"
        )
        exc.hint = hint  # type: ignore[attr-defined]
        raise


def cmd_report(args) -> int:
    from genet_lab.evolution.report import compare, find_runs, run_summary, write_report

    runs = find_runs(args.runs)
    if args.reproduce is not None:
        return _reproduce(args, runs)
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
        print(f"\nwrote {len(written)} files to {show(out)}")
    return 0


def _reproduce(args, runs: list[Path]) -> int:
    """``report RUN --reproduce [GEN:INDEX]``: one evaluation and the train command that reproduces it."""
    from genet_lab.evolution.reproduce import reproduce_evaluation

    if len(runs) != 1:
        raise UsageError(f"--reproduce reads one run; {len(runs)} were given")
    r = reproduce_evaluation(runs[0], None if args.reproduce == "best" else args.reproduce)
    if args.json:
        print(json.dumps(r))
        return 0
    acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}%"
    state = " (failed)" if r["state"] == "failed" else ""
    print(
        f"evaluation {r['gen']}:{r['index']} of {show(r['run'])}: {r['genome']}, val. accuracy {acc}{state}, "
        f"seed {r['seed']}, split seed {r['split_seed']}\n  {r['command']}"
    )
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

        kind = {"ga": "GA", "random": "random search", "aging": "aging evolution", "local": "local search"}.get(
            str(self.config.get("kind")), str(self.config.get("kind"))
        )
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
