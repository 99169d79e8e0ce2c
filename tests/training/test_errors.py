"""Typed errors of the training layer: the core names config fields (``data_dir``), never a
command-line flag; ``ConfigError.format(flag)`` gives the line the command line prints."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import genet_lab.training
from genet_lab.errors import ConfigError
from genet_lab.training.checkpoint import load_checkpoint
from genet_lab.training.data import load_dataset
from genet_lab.training.features import _folder_samples, split_per_class

TRAINING = Path(genet_lab.training.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _raised_texts(tree: ast.AST):
    """Every string constant inside a ``raise`` statement of ``tree``, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    yield sub.lineno, sub.value


def test_no_message_of_the_training_layer_names_a_flag():
    found = [
        f"{path.relative_to(TRAINING)}:{line}: {text}"
        for path in sorted(TRAINING.rglob("*.py"))
        for line, text in _raised_texts(ast.parse(path.read_text()))
        if FLAG.search(text)
    ]
    assert found == []
    assert FLAG.search("pass --data-dir DIR") and not FLAG.search("cifar-10-batches-py")  # the scan itself


def test_an_image_folder_without_a_folder():
    with pytest.raises(ConfigError) as info:
        load_dataset("imagefolder")
    assert info.value.option == "data_dir"
    assert str(info.value) == "imagefolder needs data_dir DIR holding train/<class>/* (and optionally test/<class>/*)"
    assert info.value.format(flag).startswith("imagefolder needs --data-dir DIR holding train/<class>/*")


def test_an_unknown_data_set_lists_the_catalog():
    with pytest.raises(ConfigError) as info:
        load_dataset("Nope")
    assert info.value.option == "dataset" and info.value.value == "Nope"
    assert str(info.value) == (
        "unknown dataset 'Nope'; accepted: digits, mnist, fashion-mnist, cifar10, cifar100, svhn, imagefolder"
    )


def test_svhn_extra_missing_names_the_folder_field(tmp_path):
    from genet_lab.training.data.sources import load_svhn_extra

    with pytest.raises(ConfigError) as info:
        load_svhn_extra(tmp_path)
    assert info.value.option == "data_dir" and str(info.value).endswith("pass data_dir DIR holding it")
    assert info.value.format(flag) == (
        f"SVHN's extra set needs {tmp_path / 'extra_32x32.mat'} (torchvision's layout, from "
        "http://ufldl.stanford.edu/housenumbers/extra_32x32.mat); pass --data-dir DIR holding it"
    )


def test_transfer_features_errors(tmp_path):
    with pytest.raises(ConfigError) as info:
        split_per_class(np.array([0, 0, 1, 1, 1]), 2, None, seed=0)
    assert info.value.option == "train_per_class" and info.value.value == 2
    assert info.value.format(flag) == (
        "class 0 has 2 images; --train-per-class 2 needs at least 3 in every class (one to test)"
    )
    with pytest.raises(ConfigError) as info:
        _folder_samples(tmp_path / "missing")
    assert info.value.format(flag).startswith(f"--data-dir {tmp_path / 'missing'} is not a folder; give one")


def test_a_foreign_torch_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ConfigError) as info:
        load_checkpoint(path)
    assert str(info.value).endswith("write one with train's save option")
    assert info.value.format(flag) == (
        f"{path} is a torch file but not a genet-lab checkpoint (no format='genet-lab-checkpoint'); "
        "write one with train's --save option"
    )


def test_braces_in_a_folder_name_or_a_reason_are_shown_as_they_are(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    odd = tmp_path / "a{b}c"
    odd.mkdir()
    with pytest.raises(ConfigError) as info:
        load_dataset("cifar10", odd / "missing")
    assert str(odd / "missing") in info.value.format(flag)

    def offline(self):
        raise OSError("no route to {host}")

    monkeypatch.setattr(tvd.CIFAR10, "download", offline)
    with pytest.raises(ConfigError) as info:
        load_dataset("cifar10", odd)
    assert info.value.format(flag).startswith(f"cifar10 not found or unreadable in {odd} (no route to {{host}}); ")
