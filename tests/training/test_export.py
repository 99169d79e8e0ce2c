"""Exporting a trained checkpoint (genet_lab.training.export, ``genet-lab export``): the ONNX file in
onnxruntime and the TorchScript file in torch.jit give the torch network's logits, on random inputs
and on real digits images, for a genome of every named kind."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from helpers import assert_one_line_error, run_cli

from genet_lab.encoding.genome import NAMED, named
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import UsageError
from genet_lab.training import export
from genet_lab.training.batches import to_device
from genet_lab.training.checkpoint import load_checkpoint, save_checkpoint
from genet_lab.training.config import default_train_config
from genet_lab.training.trainer import train_model

onnx = pytest.importorskip("onnx", reason="the export extra (pip install 'genet-lab[export]') is not installed")
onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra is not installed")
pytest.importorskip("onnxscript", reason="the export extra is not installed")

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, digits):
    """One checkpoint per named genome, each trained for one epoch on 240 digits (so BatchNorm's
    running statistics and the weights are not their initial values)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    cfg = default_train_config(
        "digits", epochs=1, batch_size=64, device="cpu", precision="fp32", channels_last="off", seed=0
    )
    net = get_preset("paper-cifar10").with_input(digits.in_channels, digits.image_size, digits.num_classes)
    info = {"name": "digits", "classes": digits.classes, "mean": list(digits.mean), "std": list(digits.std)}
    out = {}
    for name in NAMED:
        genome = named(name)
        result, model = train_model(genome, net, digits, cfg)
        assert not result.failed, result.error
        out[name] = save_checkpoint(folder / f"{name}.pt", model, genome, net, cfg.to_dict(), result.to_dict(), info)
    return out


def _real_images(digits) -> torch.Tensor:
    """The held-out digits, normalised as training normalised them."""
    return to_device(digits.test_x[:64], digits.mean, digits.std, torch.device("cpu"), False)


def _torch_logits(ckpt, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return ckpt.build("cpu")(x)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NAMED))
def test_onnx_matches_torch_in_onnxruntime(name, checkpoints, digits, tmp_path):
    ckpt = load_checkpoint(checkpoints[name])
    path = export.export_checkpoint(ckpt, tmp_path / "net.onnx", "onnx")
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["genome"] == ckpt.genome.notation()
    assert json.loads(meta["classes"]) == digits.classes
    assert json.loads(meta["mean"]) == pytest.approx(list(digits.mean))

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("images", "logits")
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [1, 8, 8]  # the batch axis is dynamic
    gen = torch.Generator().manual_seed(3)
    for x in (torch.randn(5, 1, 8, 8, generator=gen), _real_images(digits)):  # 5 and 64: not the traced batch
        want = _torch_logits(ckpt, x)
        got = torch.from_numpy(session.run(["logits"], {"images": x.numpy()})[0])
        assert got.shape == want.shape
        assert float((got - want).abs().max()) <= TOLERANCE
        assert torch.equal(got.argmax(1), want.argmax(1))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("name", list(NAMED))
def test_torchscript_matches_torch(name, checkpoints, digits, tmp_path):
    ckpt = load_checkpoint(checkpoints[name])
    path = export.export_checkpoint(ckpt, tmp_path / "net.pt", "torchscript")
    files = {export.TORCHSCRIPT_META: ""}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    meta = json.loads(files[export.TORCHSCRIPT_META])
    assert meta["genome"] == ckpt.genome.notation() and json.loads(meta["classes"]) == digits.classes
    gen = torch.Generator().manual_seed(4)
    for x in (torch.randn(7, 1, 8, 8, generator=gen), _real_images(digits)):
        want = _torch_logits(ckpt, x)
        with torch.no_grad():
            got = module(x)
        assert float((got - want).abs().max()) <= TOLERANCE
        assert torch.equal(got.argmax(1), want.argmax(1))
    assert export.read_metadata(path) == meta


def test_real_images_are_classified_as_torch_does(checkpoints, digits, tmp_path):
    """The check the CLI prints (:func:`export.max_difference`), on the held-out digits."""
    ckpt = load_checkpoint(checkpoints["paper-best"])
    x = _real_images(digits)
    for fmt in export.FORMATS:
        path = export.export_checkpoint(ckpt, tmp_path / f"net{export.SUFFIXES[fmt]}", fmt)
        diff, same = export.max_difference(ckpt, path, x)
        assert diff <= TOLERANCE and same


def test_cli_export_json(checkpoints, tmp_path):
    target = tmp_path / "model.onnx"
    rc, out, err = run_cli(["export", str(checkpoints["chain"]), "-o", str(target), "--json"])
    assert rc == 0, err
    body = json.loads(out)
    assert body["file"] == str(target) and target.is_file()
    assert body["format"] == "onnx" and body["opset"] >= 17
    assert body["same_classes"] is True and body["max_abs_difference"] <= TOLERANCE
    assert body["metadata"]["genome"] == named("chain").notation()
    rc, out, err = run_cli(
        ["export", str(checkpoints["chain"]), "-o", str(tmp_path / "m.pt"), "--format", "torchscript"]
    )
    assert rc == 0, err
    assert "torchscript" in out and "same classes" in out


@pytest.mark.parametrize("module", ["onnx", "onnxscript", "onnxruntime"])
def test_missing_extra_is_one_line_naming_the_install(module, checkpoints, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import onnx... raises ImportError, as when not installed
    target = tmp_path / "model.onnx"
    rc, _, err = run_cli(["export", str(checkpoints["zeros"]), "-o", str(target)])
    assert_one_line_error(rc, err, "pip install 'genet-lab[export]'", module)
    assert not target.exists()
    if module != "onnxruntime":  # the library call needs the exporter's packages only
        with pytest.raises(UsageError, match=r"genet-lab\[export\]"):
            export.export_checkpoint(load_checkpoint(checkpoints["zeros"]), target, "onnx")


def test_bad_export_input(checkpoints, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    rc, _, err = run_cli(["export", str(junk), "-o", str(tmp_path / "m.onnx")])
    assert_one_line_error(rc, err, "junk.pt")
    rc, _, err = run_cli(["export", str(checkpoints["zeros"]), "-o", str(tmp_path)])
    assert_one_line_error(rc, err, "is a folder")
    rc, _, err = run_cli(["export", str(checkpoints["zeros"]), "-o", str(tmp_path / "no" / "m.onnx")])
    assert_one_line_error(rc, err, "does not exist")
    rc, _, err = run_cli(["export", str(checkpoints["zeros"]), "-o", str(tmp_path / "m.x"), "--format", "tflite"])
    assert_one_line_error(rc, err, "tflite")
    with pytest.raises(UsageError, match="accepted: onnx, torchscript"):
        export.export_checkpoint(load_checkpoint(checkpoints["zeros"]), tmp_path / "m", "tflite")
