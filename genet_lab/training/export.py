"""A trained network out of the toolkit: ONNX and TorchScript files of a checkpoint.

:func:`export_checkpoint` writes the checkpoint's network (eval mode: BatchNorm with its running
statistics, no dropout) as an ONNX model (torch's exporter, opset :data:`OPSET`, a dynamic batch
axis) or a TorchScript module (traced: a genome's graph is fixed, so tracing records all of it).
The input is named :data:`INPUT` (float32 ``batch x channels x size x size``, already normalised,
see :func:`metadata`), the output :data:`OUTPUT` (``batch x classes`` logits). Both files carry
:func:`metadata`: the genome, the class names and the preprocessing a caller must apply. Files are
written through a temporary file and a rename. ONNX needs the optional ``onnx`` and ``onnxscript``
packages (``genet-lab[export]``); without them one line says what to install.

Knows torch and a :class:`~genet_lab.training.checkpoint.Checkpoint`; nothing of data loading,
evolution or front ends.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from genet_lab.errors import UsageError
from genet_lab.fileio import atomic_write
from genet_lab.training.checkpoint import Checkpoint

FORMATS = ("onnx", "torchscript")
"""The formats :func:`export_checkpoint` writes (the first is the default)."""
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 18
"""The ONNX opset the models are written with (17 or newer is asked for; 18 is the exporter's own)."""
INPUT, OUTPUT = "images", "logits"
INSTALL = "pip install 'genet-lab[export]'"
"""What installs the optional packages the ONNX export and its check need."""
TORCHSCRIPT_META = "genet_lab.json"
"""The name of the metadata file inside a TorchScript archive (``torch.jit.load(..., _extra_files=...)``)."""


def require(*modules: str) -> None:
    """Raise a one-line :class:`UsageError` naming :data:`INSTALL` when a module is missing."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise UsageError(
                f"ONNX export needs the optional package {name!r}, which is not installed: {INSTALL}"
            ) from None


def metadata(ckpt: Checkpoint) -> dict[str, str]:
    """What a user of the exported file needs, as strings (ONNX metadata values are strings):
    the genome (the paper's notation) and stage sizes, the class names in output order, and the
    preprocessing (pixels scaled to 0..1, LCN when trained with it, then ``(x - mean) / std`` per
    channel, at ``image_size`` with ``in_channels`` channels)."""
    net, info = ckpt.net_config, ckpt.dataset
    classes = list(info.get("classes") or [str(i) for i in range(net.num_classes)])
    c = net.in_channels
    return {
        "genome": ckpt.genome.notation(),
        "stages": ",".join(map(str, ckpt.genome.stages)),
        "classes": json.dumps(classes),
        "dataset": str(info.get("name") or ""),
        "in_channels": str(c),
        "image_size": str(net.image_size),
        "mean": json.dumps(list(info.get("mean") or [0.5] * c)),
        "std": json.dumps(list(info.get("std") or [0.5] * c)),
        "preprocessing": str(info.get("preprocessing") or ""),
        "input": f"{INPUT}: float32 N x {c} x {net.image_size} x {net.image_size}, pixels / 255"
        + (", local contrast normalised" if info.get("preprocessing") == "lcn" else "")
        + ", then (x - mean) / std per channel",
        "output": f"{OUTPUT}: float32 N x {net.num_classes} logits, in the order of 'classes'",
        "network": json.dumps(net.to_dict()),
        "val_accuracy": "" if ckpt.metrics.get("val_accuracy") is None else str(ckpt.metrics["val_accuracy"]),
    }


def example_input(ckpt: Checkpoint, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Random input of the network's shape (what the exporters trace with, and a check uses)."""
    net = ckpt.net_config
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.in_channels, net.image_size, net.image_size, generator=gen)


def export_checkpoint(ckpt: Checkpoint, path: str | Path, fmt: str = "onnx") -> Path:
    """Write ``ckpt``'s network to ``path`` in format ``fmt`` (see :data:`FORMATS`); returns the path."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; accepted: {', '.join(FORMATS)}")
    if fmt == "onnx":
        require("onnx", "onnxscript")
    model = ckpt.build("cpu")
    data = _onnx(model, ckpt) if fmt == "onnx" else _torchscript(model, ckpt)
    atomic_write(Path(path), data, what=f"{fmt} model")
    return Path(path)


def _onnx(model: torch.nn.Module, ckpt: Checkpoint) -> bytes:
    import warnings

    import onnx

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals, not the user's business
        program = torch.onnx.export(
            model,
            (example_input(ckpt),),
            None,
            dynamo=True,
            input_names=[INPUT],
            output_names=[OUTPUT],
            opset_version=OPSET,
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            verbose=False,
            external_data=False,
        )
    if program is None:  # only without dynamo=True does the exporter return nothing
        raise RuntimeError("torch.onnx.export returned no ONNX program")
    proto = program.model_proto
    proto.producer_name = "genet-lab"
    proto.doc_string = f"GeNet {ckpt.genome.notation()} ({ckpt.dataset.get('name') or 'data set unknown'})"
    del proto.metadata_props[:]
    for key, value in metadata(ckpt).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _torchscript(model: torch.nn.Module, ckpt: Checkpoint) -> bytes:
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation note: the format still loads everywhere
        traced = torch.jit.trace(model, example_input(ckpt), check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={TORCHSCRIPT_META: json.dumps(metadata(ckpt))})
    return buf.getvalue()


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of an exported file (ONNX or TorchScript, told apart by content)."""
    path = Path(path)
    if _is_zip(path):  # a TorchScript archive is a zip file
        files = {TORCHSCRIPT_META: ""}
        _jit_load(path, files)
        return dict(json.loads(files[TORCHSCRIPT_META]))
    require("onnx")
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def _is_zip(path: Path) -> bool:
    """A TorchScript archive is a zip file; an ONNX model is a protobuf."""
    with path.open("rb") as f:
        return f.read(2) == b"PK"


def _jit_load(path: Path, files: dict | None = None) -> torch.jit.ScriptModule:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation note
        return torch.jit.load(str(path), map_location="cpu", _extra_files=files or {})


def run_exported(path: str | Path, images: torch.Tensor) -> torch.Tensor:
    """The exported file's logits for ``images`` (normalised, as the network takes them): ONNX in
    onnxruntime (CPU), TorchScript in ``torch.jit.load``."""
    path = Path(path)
    x = images.detach().float().cpu().contiguous()
    if _is_zip(path):
        module = _jit_load(path)
        with torch.no_grad():
            return module(x)
    require("onnxruntime")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run([OUTPUT], {INPUT: x.numpy()})[0])


def max_difference(ckpt: Checkpoint, path: str | Path, images: torch.Tensor | None = None) -> tuple[float, bool]:
    """(largest absolute difference of logits, whether every predicted class agrees) between the
    exported file at ``path`` and the checkpoint's torch network, on ``images`` (default: 8 random
    inputs; any batch size checks the dynamic batch axis)."""
    x = example_input(ckpt, batch=8, seed=1) if images is None else images.float()
    with torch.no_grad():
        want = ckpt.build("cpu")(x)
    got = run_exported(path, x)
    return float((got - want).abs().max()), bool(torch.equal(got.argmax(1), want.argmax(1)))
