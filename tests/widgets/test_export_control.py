"""TrainPanel's export control: a finished run written as ONNX, TorchScript and a checkpoint that
give the trained network's outputs; failed runs are not offered; errors shown, not raised."""

from __future__ import annotations

import pytest

CPU_FP32 = dict(device="cpu", precision="fp32", channels_last="off")


@pytest.fixture(scope="module")
def panel():
    torch = pytest.importorskip("torch")
    from genet_lab.widgets import TrainPanel

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        p = TrainPanel("chain", epochs=1, train_size=120, train_options=CPU_FP32)
        assert p.export_control.button.disabled and not p.export_control.runs
        p.train(label="first run")
        p.train(label="first run")  # the same label twice: both kept, the second numbered
        yield p
    finally:
        torch.set_num_threads(before)


def test_finished_runs_are_offered(panel):
    control = panel.export_control
    assert list(control.run.options) == ["first run", "first run (2)"]
    assert control.run.value == "first run (2)" and not control.button.disabled
    assert panel.export_control in panel.children


@pytest.mark.parametrize("fmt", ["torchscript", "checkpoint", "onnx"])
def test_export_gives_the_trained_network(panel, fmt, tmp_path, monkeypatch):
    from genet_lab.training import export
    from genet_lab.training.checkpoint import load_checkpoint

    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    control = panel.export_control
    ckpt = control.runs["first run"]
    monkeypatch.chdir(tmp_path)
    control.run.value, control.format.value = "first run", fmt
    control._clicked()  # what the Export button does
    written = tmp_path / f"first_run{'.ckpt.pt' if fmt == 'checkpoint' else export.SUFFIXES[fmt]}"
    assert "wrote" in control.status.value and written.is_file(), control.status.value
    if fmt == "checkpoint":
        loaded = load_checkpoint(written)
        assert loaded.genome == ckpt.genome and loaded.dataset["classes"] == ckpt.dataset["classes"]
        assert all((loaded.state_dict[k] == v).all() for k, v in ckpt.state_dict.items())
    else:
        diff, same = export.max_difference(ckpt, written)
        assert diff <= 1e-4 and same
        assert export.read_metadata(written)["genome"] == ckpt.genome.notation()


def test_export_errors_in_the_status_line(panel, tmp_path):
    from genet_lab.errors import UsageError

    control = panel.export_control
    control.path.value = str(tmp_path / "missing-folder" / "m.pt")
    control.format.value = "torchscript"
    control._clicked()
    assert "does not exist" in control.status.value and not control.button.disabled
    control.path.value = ""
    with pytest.raises(UsageError, match="finished runs: first run"):
        control.export(run="never trained")


def test_a_failed_run_is_not_kept():
    from types import SimpleNamespace

    from genet_lab.widgets.export_control import ExportControl, file_name

    control = ExportControl()
    control.keep(
        {"label": "x"}, None, None, None, SimpleNamespace(result=SimpleNamespace(failed=True), model=None), 0, None
    )
    assert not control.runs and control.button.disabled
    assert file_name("1-01 0-01-100", "onnx") == "1-01_0-01-100.onnx"
    assert file_name("../../etc/passwd", "checkpoint") == "etc_passwd.ckpt.pt"
