"""``genet-lab tui``: the Textual terminal lab (editor, training, evolution).

Textual is imported only when the subcommand runs, and the TUI imports no torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genet_lab.cli import options


def register(sub) -> None:
    p = sub.add_parser(
        "tui",
        help="the terminal lab: edit a genome, train it, watch an evolution",
        description="Open the Textual terminal lab on a genome, or on a run directory.",
    )
    p.add_argument(
        "--genome",
        default=None,
        help="genome to open: notation ('1-01 0-01-100 ...'), plain bits with --stages, or a name "
        "(zeros chain residual dense residual-40 paper-best); default: all zeros",
    )
    options.add(p, "stages", help="stage sizes K_1,K_2,... (default 3,4,5)")
    p.add_argument(
        "--run",
        type=Path,
        default=None,
        metavar="DIR",
        help="open this run directory (finished or being written) in the evolution pane",
    )
    p.set_defaults(func=cmd_tui)


def cmd_tui(args: argparse.Namespace) -> int:
    from genet_lab.encoding.genome import zeros
    from genet_lab.errors import UsageError
    from genet_lab.tui.model import resolve_genome  # pure Python: no Textual before the checks pass

    stages = options.stage_sizes(args.stages)
    genome = resolve_genome(args.genome, stages) if args.genome else zeros(stages or (3, 4, 5))
    if args.run is not None:
        from genet_lab.evolution.store import is_run_dir

        if not is_run_dir(args.run):
            raise UsageError(f"{args.run} is not a genet-lab run directory (no run.sqlite in it)")
    from genet_lab.tui.app import GenetLabApp

    app = GenetLabApp(genome=genome, run_dir=args.run)
    app.run()
    return app.return_code or 0  # Textual sets 1 after an unhandled error: a crash never exits 0
