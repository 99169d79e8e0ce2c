"""``transfer`` and ``features-svm``: section 4.2's Table 2 and section 4.3's Caltech-256 protocol.

``transfer`` picks structures from runs (the top K distinct structures by accuracy, or the best
of chosen generations, read-only from the run store) or takes genomes, and trains each from
scratch on SVHN / CIFAR-10 / CIFAR-100 (:mod:`genet_lab.training.transfer`), recording each
finished training in ``--out`` (:mod:`genet_lab.training.transfer_dir`) so that the same
command continues a stopped transfer. ``features-svm``
trains a linear SVM on the FC features of a checkpoint (:mod:`genet_lab.training.features`).
torch is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genet_lab.cli import options
from genet_lab.cli.common import number, positive_int
from genet_lab.encoding.genome import NAMED, parse, resolve
from genet_lab.encoding.presets import list_presets
from genet_lab.errors import UsageError
from genet_lab.training.recipes import RECIPE_HELP

DATASETS = ("svhn", "cifar10", "cifar100")


def _datasets(text: str) -> list[str]:
    names = [t.strip().lower().replace("-", "") for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in DATASETS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected data sets among {', '.join(DATASETS)}, got {text!r}")
    return names


def _generations(text: str) -> list[int]:
    try:
        gens = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        gens = []
    if not gens or min(gens) < 0:
        raise argparse.ArgumentTypeError(f"expected generation numbers like 0,5,20,50, got {text!r}")
    return gens


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="train found structures on SVHN / CIFAR-100 (section 4.2, Table 2)")
    p.add_argument(
        "sources",
        nargs="+",
        metavar="RUN_OR_GENOME",
        help=f"a run folder (its top structures), or a genome: notation, a name ({', '.join(NAMED)}), "
        "or bits with --stages",
    )
    options.add(p, "stages", help="stage sizes for plain bit strings or named genomes, e.g. 3,4,5")
    p.add_argument(
        "--dataset",
        type=_datasets,
        action="append",
        metavar="NAME[,NAME]",
        help=f"data sets, repeated or comma-separated: {', '.join(DATASETS)} (default svhn,cifar100)",
    )
    p.add_argument(
        "--top",
        type=positive_int,
        default=1,
        help="distinct structures taken from each run, best accuracy first (default 1)",
    )
    p.add_argument(
        "--generations",
        type=_generations,
        metavar="G[,G]",
        help="instead of --top: the best individual of each of these generations (the paper's "
        "G-00, G-05, G-20, G-50 rows)",
    )
    options.add(
        p,
        "preset",
        default="wide",  # not the catalog's default: section 4.2 trains the wider network
        help=f"network preset: {', '.join(list_presets())} (default wide: "
        "section 4.2's 64, 128, 256 filters and FC1024)",
    )
    p.add_argument(
        "--protocol",
        choices=("paper", "plain"),
        default="paper",
        help="paper: SVHN with its extra set, 6,000 validation images and LCN; plain: the sets as they ship",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding torchvision's layouts (train_32x32.mat, "
        "test_32x32.mat, extra_32x32.mat; cifar-100-python/; cifar-10-batches-py/)",
    )
    options.add(
        p,
        "val_size",
        help="validation images (default: the protocol's; 0: train on the whole training set, for final runs)",
    )
    options.add(p, "train_size")
    options.add_training(
        p,
        ("threads",),
        recipe=dict(
            default="paper",
            help="how to train (default here: paper, as section 4.2 says; the other commands default to "
            f"fast): {RECIPE_HELP.replace(' (default: ', ' (')}",
        ),
        device=dict(default="auto"),
    )
    options.add(p, "seed", default=0, help="seed of the splits, weights and batches (default 0)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write transfer.md and transfer.json there, after every finished training; running the "
        "same command again continues from what is recorded",
    )
    options.add(p, "json", help="print the report as one JSON object")
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("features-svm", help="a linear SVM on a checkpoint's FC features (section 4.3, Caltech-256)")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a file written by 'genet-lab train --save'")
    p.add_argument(
        "--data-dir",
        required=True,
        metavar="DIR",
        help="image folder: <class>/*.jpg (Caltech-256's 256_ObjectCategories) or train/<class>/*",
    )
    p.add_argument(
        "--train-per-class",
        type=positive_int,
        default=60,
        help="SVM training images per class (default 60, as the paper)",
    )
    p.add_argument("--test-per-class", type=positive_int, help="at most N test images per class (default: the rest)")
    p.add_argument("--C", type=number, default=1.0, dest="C", help="the SVM's regularisation constant (default 1)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per forward pass")
    options.add(p, "device", default="auto")
    options.add(p, "seed", default=0, help="seed of the per-class split (default 0)")
    p.add_argument(
        "--clutter",
        action="store_true",
        help="keep a *.clutter folder (Caltech-256's 257.clutter) as a class; by default it is left out, "
        "as Caltech-256 has 256 object classes",
    )
    options.add(p, "json")
    p.set_defaults(func=cmd_features_svm)


def structures_from_run(run: Path, top: int, generations: list[int] | None) -> list[tuple[str, str]]:
    """(label, notation) pairs from a run store, read-only: the best of each generation asked for,
    or the ``top`` distinct structures by mean accuracy over their evaluations."""
    from genet_lab.evolution.store import RunStore

    name = run.name or str(run)
    with RunStore(run, readonly=True) as st:
        if generations is not None:
            stats = {g.gen: g for g in st.generations()}
            missing = [g for g in generations if g not in stats or not stats[g].best]
            if missing:
                raise UsageError(
                    f"run {run} has no finished generation {missing[0]} (finished: "
                    f"{', '.join(map(str, sorted(stats))) or 'none'})"
                )
            return [(f"{name} G-{g:02d} best", str(stats[g].best)) for g in generations]
        scores: dict[str, list[float]] = {}
        notation: dict[str, str] = {}
        for ind in st.individuals():
            if ind.state == "done" and ind.accuracy is not None:
                scores.setdefault(ind.structure_key, []).append(ind.accuracy)
                notation.setdefault(ind.structure_key, ind.genome)
    if not scores:
        raise UsageError(f"run {run} has no evaluated individual yet")
    ranked = sorted(scores, key=lambda k: -sum(scores[k]) / len(scores[k]))[:top]
    # the store keeps accuracies in percent already
    return [(f"{name} #{i + 1} ({sum(scores[k]) / len(scores[k]):.2f}%)", notation[k]) for i, k in enumerate(ranked)]


def _structures(args):
    from genet_lab.evolution.store import is_run_dir
    from genet_lab.training.transfer import Structure

    stages = options.stage_sizes(args.stages)
    out = []
    for src in args.sources:
        if Path(src).is_dir():
            if not is_run_dir(src):
                raise UsageError(f"{src} is a folder but not a run (no run database); give a run folder or a genome")
            out += [
                Structure(label, parse(g)) for label, g in structures_from_run(Path(src), args.top, args.generations)
            ]
        else:
            out.append(Structure(src, resolve(src, stages)))
    return out


def cmd_transfer(args) -> int:
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training.devices import resolve_device
    from genet_lab.training.transfer import table2_markdown, transfer_settings, transfer_table
    from genet_lab.training.transfer_dir import (
        check_kept,
        check_out,
        finished_cells,
        read_previous,
        record,
        remove_made,
    )

    resolve_device(args.device)  # before any run or data set is read
    structures = _structures(args)
    net = get_preset(args.preset)
    datasets = list(dict.fromkeys(d for group in (args.dataset or [["svhn", "cifar100"]]) for d in group))
    options = dict(
        recipe=args.recipe,
        epochs=args.epochs,
        schedule=args.schedule,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        threads=args.threads,
    )
    out = Path(args.out) if args.out else None
    previous, made = None, []
    if out is not None:  # before the first training: a folder that cannot take the tables is refused now
        made = check_out(out)
        settings = transfer_settings(net, options, args.seed, args.val_size, args.train_size, args.protocol)
        previous = read_previous(out, settings)
        check_kept(out, previous, {(s.genome.notation(), d) for s in structures for d in datasets})
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    state = {"recorded": len(finished_cells(previous))}

    def keep(report: dict) -> None:
        assert out is not None
        try:
            record(out, report, table2_markdown(report))
        except (OSError, UsageError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())
            raise UsageError(
                f"cannot record the last training in {out} ({why}); the {state['recorded']} recorded before "
                "are kept there: make room and run the same command again to continue"
            ) from None
        state["recorded"] = sum(1 for row in report["rows"] for v in row["test_error"].values() if v is not None)

    if previous is not None:
        say(f"continuing the transfer recorded in {out}")
    try:
        report = transfer_table(
            structures,
            datasets,
            net,
            options,
            data_dir=args.data_dir,
            seed=args.seed,
            val_size=args.val_size,
            train_size=args.train_size,
            protocol=args.protocol,
            log=say,
            previous=previous,
            record=keep if out is not None else None,
        )
    except UsageError:
        if not state["recorded"]:
            remove_made(made)  # refused before anything was recorded: no empty folder left
        raise
    except KeyboardInterrupt as exc:
        exc.hint = (  # type: ignore[attr-defined]
            f"{state['recorded']} finished training(s) are recorded in {out}; run the same command to continue"
            if out is not None
            else "nothing was kept: with --out DIR each finished training is recorded there and the same "
            "command continues"
        )
        raise
    markdown = table2_markdown(report)
    if out is not None:
        report["written"] = [str(out / "transfer.md"), str(out / "transfer.json")]
    if args.json:
        print(json.dumps(report))
    else:
        print(markdown, end="")
    return 1 if any(v for row in report["rows"] for v in row["failed"].values()) else 0


def cmd_features_svm(args) -> int:
    from genet_lab.training.features import svm_protocol

    out = svm_protocol(
        args.checkpoint,
        args.data_dir,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
        seed=args.seed,
        C=args.C,
        device=args.device,
        batch_size=args.batch_size,
        clutter=args.clutter,
    )
    options.print_notes(out["notes"])
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"genome               {out['genome']}\n"
            f"protocol             {out['protocol']}\n"
            f"images               {out['classes']} classes: {out['train_images']} to train the SVM "
            f"({out['train_per_class']} per class), {out['test_images']} to test\n"
            f"features             {out['features']} (first FC layer, ReLU, square root, l2)\n"
            f"accuracy             {100 * out['accuracy']:.2f}%\n"
            f"mean class accuracy  {100 * out['mean_class_accuracy']:.2f}%"
        )
    return 0
