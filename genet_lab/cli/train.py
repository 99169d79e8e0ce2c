"""``train`` and ``evaluate``: one individual trained from scratch, and a checkpoint re-measured.

torch is imported only when a command runs, so ``genet-lab --help`` stays quick.
``--events`` prints one JSON object a line, flushed, for front ends that run
``python -m genet_lab train ... --events`` as a subprocess (the TUI imports no torch):
the events of :mod:`genet_lab.training.events` (TrainingStarted, TrainingProgress...,
TrainingFinished), each as ``{"type": name, **fields}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from genet_lab.cli import options
from genet_lab.cli.common import positive_int, print_dry_run
from genet_lab.encoding.genome import NAMED, resolve
from genet_lab.errors import UsageError
from genet_lab.training import catalog
from genet_lab.training import events as tev

if TYPE_CHECKING:  # torch-free at import: the types only
    from genet_lab.training.data import DataSplits
    from genet_lab.training.data.stream import StreamSplits


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one genome from scratch and report its validation accuracy")
    p.add_argument(
        "genome",
        metavar="GENOME",
        help=f"paper notation ('1-01 0-01-100 0-11-101-0001'), a name ({', '.join(NAMED)}), or bits with --stages",
    )
    options.add(p, "stages", help="stage sizes for plain bit strings or named genomes, e.g. 3,4,5")
    options.add(p, "preset", default=catalog.DEFAULT_PRESET)
    options.add_data(p, dataset=dict(default=catalog.DEFAULT_DATASET))
    p.add_argument(
        "--image-size",
        type=positive_int,
        help="resize images to N x N pixels (imagefolder: shorter side then centre crop, default the most common "
        "shorter side among its images, with a note when they differ; other sets: resampled, within "
        "$GENET_LAB_MEMORY_GB)",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="imagefolder only: read images batch by batch instead of "
        "decoding the set into memory (ILSVRC2012-sized folders); reports top-5 accuracy too",
    )
    p.add_argument(
        "--protocol",
        choices=("holdout", "imagenet"),
        default="holdout",
        help="how an image folder is split: holdout (default: a validation split carved from train/, test/ "
        "reported) or imagenet (section 4.3: all of train/ trains, val/ is reported; streams)",
    )
    options.add_training(
        p,
        ("momentum", "weight_decay", "precision", "channels_last", "augment", "threads"),
        recipe=dict(default=catalog.DEFAULT_RECIPE),
        device=dict(default="auto"),
    )
    options.add(
        p,
        "seed",
        default=0,
        help="seed of the weights, batches and augmentation, and of the split unless --split-seed (default 0)",
    )
    p.add_argument(
        "--split-seed",
        type=options.seed_int,
        metavar="N",
        help="seed of the train/validation split only (default: --seed); an evolution run's seed, or a "
        "benchmark table's table seed, with --seed the evaluation's or the entry's seed",
    )
    options.add(p, "eval_test", default=False, help="also report test accuracy (a final report)")
    p.add_argument("--save", metavar="FILE", help="write a checkpoint (weights, genome, configs, metrics)")
    options.add(p, "dry_run")
    out = p.add_mutually_exclusive_group()
    options.add(out, "json", help="last line of stdout: one JSON object")
    out.add_argument("--events", action="store_true", help="one JSON event a line as it trains")
    p.add_argument(
        "--phases",
        action="store_true",
        help="with --events: also TrainingPhase events while starting (importing, loading, measuring)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="re-measure the accuracy of a checkpoint written by 'train --save'")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    options.add(p, "dataset", help=f"data set: {', '.join(catalog.list_datasets())} (default: the checkpoint's)")
    options.add(p, "data_dir")
    options.add(p, "device", default="auto")
    options.add(
        p,
        "precision",
        choices=("trained", "fp32", "bf16"),
        default="trained",
        help="trained (default): the precision and layout the checkpoint was trained and measured at "
        "(bf16 where 'train --precision auto' chose it), so the test accuracy is repeated exactly; "
        "fp32 or bf16 to measure at another",
    )
    options.add(p, "json")
    p.set_defaults(func=cmd_evaluate)


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _phase(args, phase: str, detail: str) -> None:
    """A TrainingPhase event with ``--events``: the front end says what the start-up is doing."""
    if getattr(args, "events", False) and getattr(args, "phases", False) and not getattr(args, "dry_run", False):
        _emit(tev.to_dict(tev.TrainingPhase(phase, detail)))


def cmd_train(args) -> int:
    _phase(args, "importing", "torch and the trainer")
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training.data import load_dataset
    from genet_lab.training.trainer import default_train_config, train_model

    genome = resolve(args.genome, options.stage_sizes(args.stages))
    net = get_preset(args.preset)
    split_seed = args.seed if args.split_seed is None else args.split_seed
    if args.save:  # fail before training, not after
        check_save_target(Path(args.save))
    cfg = default_train_config(
        args.dataset,
        recipe=args.recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        device=args.device,
        seed=args.seed,
        precision=args.precision,
        channels_last=args.channels_last,
        augment=args.augment,
        # no validation split (--val-size 0, the imagenet protocol): judged on the test split, as --help says
        eval_test=args.eval_test or args.val_size == 0 or args.protocol == "imagenet",
        threads=args.threads,
    )
    if args.dry_run:  # before any data is read; the network's input shape and classes follow the data set
        return print_dry_run(
            {
                "command": "train",
                "genome": genome.notation(),
                "stages": list(genome.stages),
                "dataset": args.dataset,
                "data_dir": args.data_dir,
                "train_size": args.train_size,
                "val_size": args.val_size,
                "split_seed": split_seed,
                "protocol": args.protocol,
                "stream": args.stream or args.protocol == "imagenet",
                "preset": args.preset,
                "network": net.to_dict(),
                "train": cfg.to_dict(),
                "save": args.save,
            }
        )
    if args.stream or args.protocol == "imagenet":
        from genet_lab.training.data.stream import load_stream

        data: DataSplits | StreamSplits = load_stream(
            args.dataset,
            args.data_dir,
            seed=split_seed,
            train_size=args.train_size,
            val_size=args.val_size,
            with_test=cfg.eval_test,
            image_size=args.image_size,
            protocol=args.protocol,
        )
    else:
        _phase(args, "loading", f"the {args.dataset} data set")
        data = load_dataset(
            args.dataset,
            args.data_dir,
            seed=split_seed,
            train_size=args.train_size,
            val_size=args.val_size,
            with_test=cfg.eval_test,
            image_size=args.image_size,
        )
    options.print_notes(data.notes)
    net = net.with_input(data.in_channels, data.image_size, data.num_classes)
    if args.save:
        check_save_space(Path(args.save), genome, net)
    if args.events:
        _emit(tev.to_dict(tev.TrainingStarted(genome.notation(), data.summary(), cfg.to_dict())))
        _phase(args, "measuring", "building the network, timing execution settings (cached)")
        no_val = not len(data.val_y)  # no validation split: the epochs' ends carry None, not 0.0

        def on_progress(p) -> None:
            _emit(tev.to_dict(dataclasses.replace(p, val_accuracy=None) if no_val else p))

        result, model = train_model(genome, net, data, cfg, progress=on_progress)
    elif args.json:
        result, model = train_model(genome, net, data, cfg)
    else:
        result, model = _train_with_bar(genome, net, data, cfg)
    out = {
        "genome": genome.notation(),
        "dataset": data.name,
        "train_images": len(data.train_y),
        "val_images": len(data.val_y),
        **result.to_dict(),
        "train": cfg.to_dict(),
        "split_seed": split_seed,
    }
    if not len(data.val_y):  # no validation split: no validation accuracy, not 0.0 (in --events too)
        out.update({k: None for k in ("val_accuracy", "val_top5_accuracy") if k in out})
        out["curve"] = [{**c, "val_accuracy": None} for c in out["curve"]]
    options.print_notes([out["first_unreadable"]] if out.get("first_unreadable") else [])
    unsaved = None
    if args.save:
        if result.failed:
            print(f"warning: not saving {args.save}: the run failed ({result.error})", file=sys.stderr)
        else:
            info = {
                "name": data.name,
                "classes": data.classes,
                "mean": list(data.mean),
                "std": list(data.std),
                "seed": split_seed,  # what the split was drawn with: evaluate rebuilds it from this
                "val_size": len(data.val_y),
                "train_size": args.train_size,
                "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
                # what was done to the images beyond scaling ('lcn' or ''): predict, export, evaluate repeat it
                "preprocessing": getattr(data, "preprocessing", ""),
            }
            saved, unsaved = _save(Path(args.save), (model, genome, net, cfg.to_dict(), result.to_dict(), info))
            out["checkpoint"] = saved
    if args.events:
        _emit(tev.to_dict(tev.from_dict({"type": "TrainingFinished", **out})))
    elif args.json:
        _emit(out)
    else:
        _print_result(out)
    if unsaved:  # the result is printed above; the weights went to a fallback file when one could be written
        raise UsageError(unsaved)
    return 1 if result.failed else 0


def check_save_target(target: Path) -> None:
    """Refuse a ``--save`` target that cannot be written, before any training: a folder, a
    missing parent, something other than a regular file, a folder without write access."""
    import os
    import tempfile

    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"--save {target} is a folder; give a file name")
    if not parent.is_dir():
        raise UsageError(f"--save {target}: folder {parent} does not exist; give a file name in an existing folder")
    if target.exists() and not target.is_file():
        raise UsageError(f"--save {target} exists and is not a regular file; give a file name")
    try:  # the real test: the checkpoint is written as a temporary file in the same folder, then renamed
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(
            f"--save {target}: cannot write in folder {parent} ({exc.strerror or exc}); "
            "give a file in a writable folder"
        ) from None


def check_save_space(target: Path, genome, net) -> None:
    """Refuse a ``--save`` whose folder has clearly too little free space for the weights."""
    import shutil

    from genet_lab.encoding.complexity import complexity

    need = 4 * complexity(genome, net).params * 11 // 10 + 2**20  # float32 weights, buffers and framing
    parent = target.parent if str(target.parent) else Path(".")
    try:
        free = shutil.disk_usage(parent).free
    except OSError:
        return
    if free < need:
        raise UsageError(
            f"--save {target}: the checkpoint needs about {need / 2**20:.1f} MiB but folder {parent} "
            f"has {free / 2**20:.1f} MiB free; free some space or save elsewhere"
        )


def _save(target: Path, what: tuple) -> tuple[str | None, str | None]:
    """Write the checkpoint; (the file written, None) or, when ``target`` fails late (a full
    disk, a folder made read-only while training), (a fallback file or None, the error line)."""
    import os
    import tempfile

    from genet_lab.training.checkpoint import save_checkpoint

    try:
        save_checkpoint(target, *what)
        return str(target), None
    except (OSError, UsageError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())
    fallback = Path(tempfile.gettempdir()) / f"genet-lab-unsaved-{os.getpid()}-{target.name}"
    try:
        save_checkpoint(fallback, *what)
    except (OSError, UsageError):
        return None, (
            f"training finished (result above) but --save {target} could not be written ({reason}), "
            "nor a copy in the temporary folder; rerun with --save in a writable folder"
        )
    return str(fallback), (
        f"training finished (result above) but --save {target} could not be written ({reason}); "
        f"the checkpoint was saved to {fallback} instead"
    )


def _train_with_bar(genome, net, data, cfg):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from genet_lab.training.trainer import train_model

    console = Console(stderr=True)
    cols = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*cols, console=console, transient=False) as bar:
        task = bar.add_task(f"training on {data.name}", total=None, stats="")
        best = {"val": None}

        def on_progress(p) -> None:
            if p.val_accuracy is not None:
                best["val"] = p.val_accuracy
            acc = "" if best["val"] is None else f"val {100 * best['val']:.2f}%"
            bar.update(
                task, total=p.steps, completed=p.step, stats=f"epoch {p.epoch}/{p.epochs} loss {p.loss:.4f} {acc}"
            )

        return train_model(genome, net, data, cfg, progress=on_progress)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _recipe_line(t: dict) -> str:
    nesterov = " Nesterov" if t["nesterov"] else ""
    dropout = "the network's" if t["dropout"] is None else t["dropout"]
    return (
        f"{t['recipe']}: {t['epochs']} epochs, batch {t['batch_size']}, {t['schedule']} lr {t['lr']:g}, "
        f"momentum {t['momentum']:g}{nesterov}, head dropout {dropout}, label smoothing {t['label_smoothing']:g}"
    )


def _print_result(out: dict) -> None:
    lines = [
        f"genome          {out['genome']}",
        f"data            {out['dataset']}: {out['train_images']} train, {out['val_images']} validation images "
        f"(split seed {out['split_seed']}, seed {out['train']['seed']})",
        f"recipe          {_recipe_line(out['train'])}",
    ]
    if out["failed"]:
        lines.append(f"FAILED          {out['error']} (fitness 0.0)")
    lines += [
        f"val accuracy    {_pct(out['val_accuracy'])}",
        f"test accuracy   {_pct(out['test_accuracy'])}",
        *[
            f"{k[:-9].replace('_', ' '):<16}{_pct(out[k])} (top-5 error {_pct(1 - out[k])})"
            for k in ("val_top5_accuracy", "test_top5_accuracy")
            if out.get(k) is not None
        ],
        f"final loss      {out['final_loss'] if out['final_loss'] is None else round(out['final_loss'], 4)}",
        f"parameters      {out['params']:,}",
        f"time            {out['seconds']:.1f} s, {out['images_per_second']:.0f} training images/s",
        f"device          {out['device']} ({out['precision']}, channels_last "
        f"{'on' if out['channels_last'] else 'off'})",
    ]
    if out.get("checkpoint"):
        lines.append(f"checkpoint      {out['checkpoint']}")
    print("\n".join(lines))


def cmd_evaluate(args) -> int:
    from genet_lab.training.batches import to_device
    from genet_lab.training.checkpoint import load_checkpoint
    from genet_lab.training.data import load_dataset
    from genet_lab.training.data.splits import relabel
    from genet_lab.training.devices import bf16_supported, resolve_device
    from genet_lab.training.loop import accuracy
    from genet_lab.training.predict import Preprocessing

    t0 = time.perf_counter()
    ckpt = load_checkpoint(args.checkpoint)
    info = ckpt.dataset
    lcn = Preprocessing.of(ckpt).lcn  # an unknown preprocessing is refused here, before any loading
    name = args.dataset or info.get("name") or "digits"
    data_dir = args.data_dir or (info.get("data_dir") if name == info.get("name") else None)
    data = load_dataset(
        name,
        data_dir,
        seed=int(info.get("seed", 0)),
        val_size=info.get("val_size") if name == info.get("name") else None,
        with_test=True,
        # an image folder is decoded at the size the network takes, not guessed from its files
        image_size=ckpt.net_config.image_size if name == "imagefolder" else None,
        lcn=lcn,  # the images as the network was trained on them (its mean and std are of LCN'd images)
    )
    options.print_notes(data.notes)
    net = ckpt.net_config
    have: tuple[int, ...] = (data.in_channels, data.image_size, data.num_classes)
    want: tuple[int, ...] = (net.in_channels, net.image_size, net.num_classes)
    if info.get("classes"):  # matched by name: the labels are renumbered to the network's outputs
        options.print_notes(relabel(data, list(info["classes"]), name))
        have, want = have[:2], want[:2]
    if have != want:
        shape = "(channels, size, classes)" if len(want) == 3 else "(channels, size)"
        raise UsageError(f"the checkpoint's network takes {shape} = {want}, but {name} has {have}")
    device = resolve_device(args.device)
    model = ckpt.build(device)
    mean, std = info.get("mean") or data.mean, info.get("std") or data.std
    # as measured at training: bf16 autocast rounds logits enough to flip near-ties (a few test images)
    recorded = ckpt.metrics.get("precision")
    trained_precision = recorded if recorded in ("fp32", "bf16") else "fp32"
    precision = trained_precision if args.precision == "trained" else args.precision
    if precision == "bf16" and not bf16_supported(device):
        options.print_notes([f"{device} cannot run bf16; measuring at fp32 (the test accuracy may differ slightly)"])
        precision = "fp32"
    bf16 = precision == "bf16"
    layout = bool(ckpt.metrics.get("channels_last")) and args.precision == "trained"

    def measure(x, y) -> float:
        return accuracy(model, to_device(x, mean, std, device, False), y.to(device), bf16, channels_last=layout)

    out = {
        "checkpoint": args.checkpoint,
        "genome": ckpt.genome.notation(),
        "dataset": name,
        "val_images": len(data.val_y),
        "val_accuracy": None  # no validation split (trained with --val-size 0): none, not 0.0
        if not len(data.val_y)
        else measure(data.val_x, data.val_y),
        "test_images": None if data.test_y is None else len(data.test_y),
        "test_accuracy": None,
        "trained_val_accuracy": None if info.get("val_size") == 0 else ckpt.metrics.get("val_accuracy"),
        "device": str(device),
        "precision": precision,
        "trained_precision": trained_precision,
    }
    if data.test_x is not None and data.test_y is not None:  # load_dataset sets both or neither
        out["test_accuracy"] = measure(data.test_x, data.test_y)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    if args.json:
        _emit(out)
    else:
        print(
            f"genome          {out['genome']}\n"
            f"val accuracy    {_pct(out['val_accuracy'])} of {out['val_images']} images "
            f"(at training: {_pct(out['trained_val_accuracy'])})\n"
            f"test accuracy   {_pct(out['test_accuracy'])}"
            + ("" if out["test_images"] is None else f" of {out['test_images']} images")
            + f"\nprecision       {precision}"
            + (" (as trained)" if precision == trained_precision else f" (trained at {trained_precision})")
        )
    return 0
