"""The small-scale transfer experiments of section 4.2: found structures trained from scratch on
other data sets, reported as Table 2 (test error per data set).

:func:`transfer_table` takes genomes (labelled), not runs: choosing them from a run store is the
front end's business (the training layer does not know evolution). The device and every data
set are checked before the first training; then each data set is loaded once with the paper's
protocol (:data:`PROTOCOLS`), every structure is trained on it with ``eval_test``, and the
result is a plain dict that :func:`table2_markdown` renders, its columns always in Table 2's
order. ``previous`` (a report recorded in a transfer directory,
:mod:`genet_lab.training.transfer_dir`) supplies the trainings already finished, and
``record`` is called with the report after each training, so a stopped transfer continues.
Knows the trainer and the data sets; nothing of evolution or front ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genet_lab.encoding.genome import Genome
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.errors import UsageError

TRANSFER_DATASETS = ("svhn", "cifar10", "cifar100")
"""Table 2's columns, in its order: the transfer protocol's own list (which catalog data sets the
paper transfers to), not a copy of the catalog (:mod:`genet_lab.training.catalog`)."""
COLUMN = {"svhn": "SVHN", "cifar10": "CF10", "cifar100": "CF100"}
PROTOCOLS: dict[str, dict[str, dict[str, bool]]] = {
    # Section 4.2: SVHN's extra set trains too, 6,000 validation images (400 + 200 per class), LCN.
    "paper": {"svhn": dict(extra=True, lcn=True), "cifar10": {}, "cifar100": {}},
    "plain": {"svhn": {}, "cifar10": {}, "cifar100": {}},
}
"""load_dataset options per data set for each protocol."""


@dataclass(frozen=True)
class Structure:
    """One row of Table 2: a genome and how to call it (``G-05 best``, ``paper-best``, ...)."""

    label: str
    genome: Genome


def transfer_settings(
    net_config: NetworkConfig,
    train_options: dict[str, Any],
    seed: int,
    val_size: int | None,
    train_size: int | None,
    protocol: str,
) -> dict[str, Any]:
    """What a recorded test error depends on (not the device or the threads that computed it):
    a transfer directory continues only a transfer with the same settings."""
    import json

    train = {k: v for k, v in sorted(train_options.items()) if k not in ("device", "threads")}
    settings = {
        "preset": net_config.name,
        "network": net_config.to_dict(),
        "protocol": protocol,
        "seed": seed,
        "val_size": val_size,
        "train_size": train_size,
        "train": train,
    }
    return json.loads(json.dumps(settings))  # as a report file holds it: lists, not tuples


def transfer_table(
    structures: Sequence[Structure],
    datasets: Sequence[str],
    net_config: NetworkConfig,
    train_options: dict[str, Any],
    *,
    data_dir=None,
    seed: int = 0,
    val_size: int | None = None,
    train_size: int | None = None,
    protocol: str = "paper",
    log: Callable[[str], None] | None = None,
    previous: dict[str, Any] | None = None,
    record: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train every structure on every data set and collect test errors (Table 2 as a dict).

    ``train_options`` are :func:`~genet_lab.training.config.default_train_config` overrides
    (``recipe`` included); ``eval_test`` is always on. ``val_size=0`` trains on the whole
    training set (final runs). Returns ``{"datasets", "protocol", "preset", "rows", "data",
    "train"}``; each row has ``structure``, ``genome``, and per data set ``params``, ``test_error``
    (percent, None for a failed run), ``val_error``, ``failed``, ``seconds``; ``settings``
    (:func:`transfer_settings`), ``complete`` and ``reused`` (trainings taken from ``previous``).
    """
    from genet_lab.training.config import default_train_config
    from genet_lab.training.data import load_dataset
    from genet_lab.training.data.sources import check_present
    from genet_lab.training.devices import resolve_device
    from genet_lab.training.trainer import train_genome
    from genet_lab.training.transfer_dir import finished_cells

    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; accepted: {', '.join(PROTOCOLS)}")
    unknown = [d for d in datasets if d not in TRANSFER_DATASETS]
    if unknown or not datasets:
        raise UsageError(
            f"transfer data sets must be among {', '.join(TRANSFER_DATASETS)}; got {', '.join(unknown) or 'none'}"
        )
    if not structures:
        raise UsageError("no structure to transfer: give genomes or runs")
    datasets = [d for d in TRANSFER_DATASETS if d in datasets]  # Table 2's column order, whatever was asked
    resolve_device(str(train_options.get("device", "auto")))  # a device this machine lacks: before any data
    say = log or (lambda _m: None)
    done = finished_cells(previous)
    options = {k: v for k, v in train_options.items() if k != "recipe"}
    recipe = train_options.get("recipe", "paper")
    rows: list[dict[str, Any]] = [
        {
            "structure": s.label,
            "genome": s.genome.notation(),
            "params": {},
            "test_error": {},
            "val_error": {},
            "failed": {},
            "seconds": {},
        }
        for s in structures
    ]
    report: dict[str, Any] = {
        "datasets": list(datasets),
        "protocol": protocol,
        "preset": net_config.name,
        "rows": rows,
        "data": {},
        "train": {},
        "settings": transfer_settings(net_config, train_options, seed, val_size, train_size, protocol),
        "complete": False,
        "reused": 0,
    }
    todo = {ds: [i for i, s in enumerate(structures) if (s.genome.notation(), ds) not in done] for ds in datasets}
    for ds in datasets:  # every data set readable before the first training (a download is announced)
        if todo[ds]:
            check_present(ds, data_dir, extra=bool(PROTOCOLS[protocol][ds].get("extra")))
    for ds in datasets:
        cfg = default_train_config(ds, recipe=recipe, **{**options, "eval_test": True, "seed": seed})
        report["train"][ds] = cfg.to_dict()
        for s, row in zip(structures, rows):
            cell = done.get((s.genome.notation(), ds))
            if cell is not None:
                for key in ("params", "test_error", "val_error", "seconds"):
                    row[key][ds] = cell[key]
                row["failed"][ds] = None
                report["reused"] += 1
        if not todo[ds]:
            report["data"][ds] = dict((previous or {}).get("data", {}).get(ds, {}))
            say(f"{ds}: all {len(structures)} trainings already recorded")
            continue
        t0 = time.perf_counter()
        data = load_dataset(
            ds, data_dir, seed=seed, train_size=train_size, val_size=val_size, with_test=True, **PROTOCOLS[protocol][ds]
        )
        if data.test_y is None:
            raise UsageError(f"{ds} has no test split to report on")
        say(
            f"{ds}: {len(data.train_y)} train, {len(data.val_y)} validation, {len(data.test_y)} test images "
            f"({time.perf_counter() - t0:.1f} s to load{', LCN' if data.preprocessing == 'lcn' else ''})"
        )
        report["data"][ds] = data.summary() | {"classes": len(data.classes)}
        net = net_config.with_input(data.in_channels, data.image_size, data.num_classes)
        for i in todo[ds]:
            s, row = structures[i], rows[i]
            result = train_genome(s.genome, net, data, cfg)
            test = None if result.failed or result.test_accuracy is None else 100 * (1 - result.test_accuracy)
            row["params"][ds] = result.params
            row["test_error"][ds] = test
            row["val_error"][ds] = None if result.failed or not len(data.val_y) else 100 * (1 - result.val_accuracy)
            row["failed"][ds] = result.error if result.failed else None
            row["seconds"][ds] = round(result.seconds, 2)
            say(
                f"{ds} [{i + 1}/{len(structures)}] {s.label}: "
                + (f"FAILED ({result.error})" if result.failed else f"test error {test:.2f}%")
                + f", {result.seconds:.1f} s"
            )
            if record is not None:
                record(report)
        del data
    report["complete"] = True
    if record is not None:
        record(report)
    return report


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table2_markdown(report: dict[str, Any]) -> str:
    """Table 2's layout: one row per structure, test error (%) per data set, and parameters."""
    ds = report["datasets"]
    head = ["structure", "genome", "params"] + [COLUMN.get(d, d) for d in ds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["rows"]:
        params = sorted(set(row["params"].values()))
        cells = [row["structure"], f"`{row['genome']}`", " / ".join(f"{p:,}" for p in params)]
        cells += [_cell(row["test_error"].get(d)) for d in ds]
        lines.append("| " + " | ".join(cells) + " |")
    val = (
        "no validation split (whole training set)"
        if report.get("settings", {}).get("val_size") == 0
        or (report["data"] and all(v.get("val") == 0 for v in report["data"].values()))
        else "a validation split held out"
    )
    lines += [
        "",
        f"Test error (%) on each data set's test split; preset {report['preset']}, protocol "
        f"{report['protocol']}, {val}. Parameters differ per data set only in the last layer "
        "(classes).",
    ]
    if not report.get("complete", True):
        total = len(report["rows"]) * len(ds)
        got = sum(1 for row in report["rows"] for d in ds if row["test_error"].get(d) is not None)
        lines.append(f"Partial: {got} of {total} trainings recorded so far; the same command continues it.")
    return "\n".join(lines) + "\n"
