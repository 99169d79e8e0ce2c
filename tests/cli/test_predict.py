"""``genet-lab predict``: top-k classes of PNG files written from the digits, preprocessed as the
checkpoint was trained; converted images said once; bad images one line (or skipped and counted
in a folder); the checkpoint's own LCN."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, run_cli

from genet_lab.encoding.genome import NAMED, named
from genet_lab.encoding.presets import get_preset
from genet_lab.training.checkpoint import load_checkpoint, save_checkpoint
from genet_lab.training.config import default_train_config
from genet_lab.training.data import load_dataset
from genet_lab.training.predict import Preprocessing, decode, predict
from genet_lab.training.trainer import train_model

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", val_size=100, seed=0)


def _checkpoint(path, data, genome="paper-best", epochs=6, **dataset):
    cfg = default_train_config(
        "digits", epochs=epochs, batch_size=32, device="cpu", precision="fp32", channels_last="off", seed=0
    )
    net = get_preset("paper-cifar10").with_input(data.in_channels, data.image_size, data.num_classes)
    result, model = train_model(named(genome), net, data, cfg)
    info = {"name": "digits", "classes": data.classes, "mean": list(data.mean), "std": list(data.std), **dataset}
    return save_checkpoint(path, model, named(genome), net, cfg.to_dict(), result.to_dict(), info)


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory, data):
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "digits.pt", data)


@pytest.fixture(scope="module")
def pngs(tmp_path_factory, data):
    """The first 20 held-out digits as 8-bit grey 8 x 8 PNGs, named after their class."""
    folder = tmp_path_factory.mktemp("pngs")
    for i in range(20):
        Image.fromarray(data.test_x[i, 0].numpy()).save(folder / f"{i:02d}_class{int(data.test_y[i])}.png")
    return folder


def _expected(path, data, n):
    """The checkpoint's network on the same images straight from the tensors: what predict must give."""
    from genet_lab.training.batches import to_device

    ckpt = load_checkpoint(path)
    with torch.no_grad():
        logits = ckpt.build()(to_device(data.test_x[:n], data.mean, data.std, torch.device("cpu"), False))
    return torch.softmax(logits, 1)


def test_folder_top_k_matches_the_network(ckpt_path, pngs, data):
    rc, out, err = run_cli(["predict", str(ckpt_path), str(pngs), "--json", "--top-k", "4"])
    assert rc == 0, err
    assert err == ""  # nothing converted, nothing skipped
    body = json.loads(out)
    rows = body["predictions"]
    assert [r["image"] for r in rows] == sorted(str(p) for p in pngs.iterdir())
    probs = _expected(ckpt_path, data, 20)
    for i, row in enumerate(rows):
        assert len(row["top"]) == 4
        values = [t["probability"] for t in row["top"]]
        assert values == sorted(values, reverse=True)
        want = probs[i].topk(4)
        assert [t["index"] for t in row["top"]] == want.indices.tolist()
        assert values == pytest.approx(want.values.tolist(), abs=1e-5)
        assert [t["class"] for t in row["top"]] == [data.classes[k] for k in want.indices.tolist()]
    right = sum(r["top"][0]["class"] == r["image"].rsplit("class", 1)[1][:-4] for r in rows)
    assert right >= 14  # trained 6 epochs (18 of 20 here), it reads most digits (chance: 2 of 20)
    assert body["preprocessing"]["image_size"] == 8 and body["preprocessing"]["lcn"] is False


def test_text_output_and_files(ckpt_path, pngs):
    files = sorted(pngs.iterdir())[:2]
    rc, out, err = run_cli(["predict", str(ckpt_path), *map(str, files), "--top-k", "2"])
    assert rc == 0, err
    lines = out.strip().split("\n")
    assert len(lines) == 2 and lines[0].startswith(str(files[0]))
    assert lines[0].count("%") == 2


def test_other_size_and_mode_converted_and_said_once(ckpt_path, pngs, data, tmp_path):
    for i in range(3):
        grey = data.test_x[i, 0].numpy()
        big = np.kron(grey, np.ones((4, 4), dtype=np.uint8))  # 32 x 32, the same digit
        Image.fromarray(np.stack([big] * 3, -1)).save(tmp_path / f"rgb{i}.png")
    rc, out, err = run_cli(["predict", str(ckpt_path), str(tmp_path), "--json"])
    assert rc == 0, err
    notes = err.strip().split("\n")
    assert len(notes) == 1 and notes[0].startswith("note: 3 images converted") and "RGB 32 x 32" in notes[0]
    body = json.loads(out)
    assert body["converted"] == 3 and len(body["predictions"]) == 3
    # resized back to 8 x 8 the digits are close to the originals: mostly the same top class
    same = sum(
        r["top"][0]["index"] == int(p.argmax()) for r, p in zip(body["predictions"], _expected(ckpt_path, data, 3))
    )
    assert same >= 2


def test_bad_image_named_is_one_line_and_in_folder_skipped(ckpt_path, pngs, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    rc, _, err = run_cli(["predict", str(ckpt_path), str(bad)])
    assert_one_line_error(rc, err, "broken.png")
    for p in sorted(pngs.iterdir())[:3]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    rc, out, err = run_cli(["predict", str(ckpt_path), str(tmp_path), "--json"])
    assert rc == 0, err
    assert "skipped 1 unreadable image file" in err and "broken.png" in err
    body = json.loads(out)
    assert body["skipped"] == 1 and len(body["predictions"]) == 3


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["nowhere.png"], "nowhere.png"),
        (["EMPTY"], "holds no image file"),
        (["IMG", "--top-k", "0"], "--top-k"),
    ],
)
def test_bad_arguments(ckpt_path, pngs, tmp_path, argv_tail, needle):
    (tmp_path / "empty").mkdir()
    swap = {"EMPTY": str(tmp_path / "empty"), "IMG": str(sorted(pngs.iterdir())[0]), "nowhere.png": "nowhere.png"}
    rc, _, err = run_cli(["predict", str(ckpt_path), *[swap.get(a, a) for a in argv_tail]])
    assert_one_line_error(rc, err, needle)


def test_top_k_larger_than_the_classes_gives_every_class(ckpt_path, pngs):
    result = predict(load_checkpoint(ckpt_path), [sorted(pngs.iterdir())[0]], top_k=50)
    assert len(result.rows[0]["top"]) == 10
    assert sum(t["probability"] for t in result.rows[0]["top"]) == pytest.approx(1.0, abs=1e-5)


def test_lcn_checkpoint_is_preprocessed_with_lcn(tmp_path, pngs):
    """A checkpoint whose data was local-contrast normalised gets LCN before its statistics, as in
    training: predict gives what the network gives on the LCN'd tensors, not on the raw ones."""
    from genet_lab.training.data.protocols import apply_lcn, local_contrast_normalize

    data = apply_lcn(load_dataset("digits", train_size=300, val_size=60, seed=1))
    path = _checkpoint(tmp_path / "lcn.pt", data, genome="chain", epochs=2, preprocessing="lcn")
    ckpt = load_checkpoint(path)
    pre = Preprocessing.of(ckpt)
    assert pre.lcn
    files = sorted(pngs.iterdir())[:6]
    raw = torch.stack([decode(p, pre)[0] for p in files])
    from genet_lab.training.batches import to_device

    with torch.no_grad():
        net = ckpt.build()
        with_lcn = torch.softmax(net(to_device(local_contrast_normalize(raw), pre.mean, pre.std, "cpu", False)), 1)
        without = torch.softmax(net(to_device(raw, pre.mean, pre.std, "cpu", False)), 1)
    got = torch.tensor([[t["probability"] for t in r["top"]] for r in predict(ckpt, files, top_k=1).rows])
    assert got[:, 0] == pytest.approx(with_lcn.max(1).values.tolist(), abs=1e-5)
    assert not torch.allclose(with_lcn, without, atol=1e-3)


def test_foreign_preprocessing_is_refused(ckpt_path, tmp_path, data):
    path = _checkpoint(tmp_path / "zca.pt", data, genome="zeros", epochs=1, preprocessing="zca")
    rc, _, err = run_cli(["predict", str(path), str(tmp_path)])
    assert_one_line_error(rc, err, "'zca'")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMED if n != "paper-best"])
def test_every_named_genome_predicts(name, tmp_path, data, pngs):
    path = _checkpoint(tmp_path / f"{name}.pt", data, genome=name, epochs=1)
    result = predict(load_checkpoint(path), [pngs], top_k=3)
    assert len(result.rows) == 20
    assert all(len(r["top"]) == 3 and 0 <= r["top"][0]["probability"] <= 1 for r in result.rows)
