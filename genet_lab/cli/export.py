"""``export`` and ``predict``: a trained checkpoint as an ONNX or TorchScript file, and its
classes for image files. Torch is imported when a command runs, not when the parser is built."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genet_lab.cli import options
from genet_lab.cli.common import positive_int
from genet_lab.errors import UsageError, show

FORMATS = ("onnx", "torchscript")
"""As :data:`genet_lab.training.export.FORMATS` (kept here so building the parser imports no torch)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a trained checkpoint's network as an ONNX or TorchScript file",
        description=(
            "Write the network of a checkpoint (train --save) as an ONNX model (opset 18, a dynamic batch axis, "
            "input 'images', output 'logits') or a TorchScript module, with the genome, the class names and the "
            "preprocessing in its metadata. The file is run once on random inputs and compared with the torch "
            "network. ONNX needs the export extra: pip install 'genet-lab[export]'. Open the file in Netron "
            "(netron.app) to see the graph; docs/export.md says more."
        ),
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint written by 'genet-lab train --save'")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write (.onnx, .pt)")
    p.add_argument("--format", choices=FORMATS, default=FORMATS[0], help="onnx (default) or torchscript")
    options.add(p, "json", help="print one JSON object: the file, its metadata and the check against torch")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "predict",
        help="classify image files with a trained checkpoint (top-k classes and probabilities)",
        description=(
            "Classify images with a checkpoint, preprocessed as the checkpoint was trained (its size, channels, "
            "normalisation, and LCN where it was trained with it). Images of another size or mode are "
            "converted, and a note says so once. A folder is searched for image files; an unreadable one there "
            "is skipped and counted."
        ),
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint written by 'genet-lab train --save'")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders of them")
    p.add_argument("--top-k", type=positive_int, default=3, metavar="K", help="classes shown per image (default: 3)")
    options.add(p, "json", help="print one JSON object instead of one line per image")
    p.set_defaults(func=cmd_predict)


def _check_output(target: Path) -> None:
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"--output {show(target)} is a folder; give a file name")
    if not parent.is_dir():
        raise UsageError(f"--output {show(target)}: folder {show(parent)} does not exist")


def cmd_export(args) -> int:
    target = Path(args.output)
    _check_output(target)
    from genet_lab.training import export
    from genet_lab.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    if args.format == "onnx":
        export.require("onnx", "onnxscript", "onnxruntime")
    export.export_checkpoint(ckpt, target, args.format)
    diff, same = export.max_difference(ckpt, target)
    out = {
        "file": str(target),
        "format": args.format,
        "bytes": target.stat().st_size,
        "opset": export.OPSET if args.format == "onnx" else None,
        "input": export.INPUT,
        "output": export.OUTPUT,
        "max_abs_difference": diff,
        "same_classes": same,
        "metadata": export.metadata(ckpt),
    }
    if args.json:
        print(json.dumps(out))
    else:
        net = ckpt.net_config
        print(
            f"wrote {show(target)} ({args.format}, {out['bytes'] / 1024:.0f} KiB): {ckpt.genome.notation()}\n"
            f"input  '{export.INPUT}' float32 [batch, {net.in_channels}, {net.image_size}, {net.image_size}]"
            f" (normalised: see the metadata's mean, std, preprocessing)\n"
            f"output '{export.OUTPUT}' float32 [batch, {net.num_classes}]\n"
            f"check  8 random inputs: largest difference from torch {diff:.2g}, "
            f"{'same' if same else 'DIFFERENT'} classes"
        )
    return 0 if same else 1


def cmd_predict(args) -> int:
    from genet_lab.training.checkpoint import load_checkpoint
    from genet_lab.training.predict import Preprocessing, predict

    ckpt = load_checkpoint(args.checkpoint)
    result = predict(ckpt, args.images, args.top_k)
    pre = Preprocessing.of(ckpt)
    options.print_notes(result.notes(pre))
    if args.json:
        body = {
            "checkpoint": args.checkpoint,
            "genome": ckpt.genome.notation(),
            "preprocessing": pre.to_dict(),
            "predictions": result.rows,
            "converted": result.converted,
            "skipped": len(result.skipped),
        }
        print(json.dumps(body))
        return 0
    width = min(60, max(len(show(r["image"])) for r in result.rows))
    for row in result.rows:
        tops = "  ".join(f"{show(t['class'])} {100 * t['probability']:5.1f}%" for t in row["top"])
        print(f"{show(row['image']):<{width}}  {tops}")
    sys.stdout.flush()
    return 0
