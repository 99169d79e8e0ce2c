"""Checkpoints of one trained individual: weights plus everything needed to rebuild it.

A checkpoint is a ``torch.save`` of plain dicts, lists, strings, numbers and
tensors, so it loads with ``torch.load(weights_only=True)``; it is written
through a temporary file and a rename, so a crash never leaves half a file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch

from genet_lab.encoding.genome import Genome, parse
from genet_lab.encoding.presets import NetworkConfig
from genet_lab.errors import ConfigError, UsageError
from genet_lab.fileio import atomic_write

FORMAT = "genet-lab-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    genome: Genome
    net_config: NetworkConfig
    train_config: dict
    metrics: dict
    dataset: dict
    """name, classes, mean, std, seed, val_size, train_size of the data the weights saw."""
    state_dict: dict

    def build(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The network with the saved weights, in eval mode."""
        from genet_lab.training.network import build_network

        model = build_network(self.genome, self.net_config)
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def save_checkpoint(
    path,
    model: torch.nn.Module,
    genome: Genome,
    net_config: NetworkConfig,
    train_config: dict,
    metrics: dict,
    dataset: dict,
) -> Path:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "genome": genome.notation(),
        "stages": list(genome.stages),
        "network": _plain(net_config.to_dict()),
        "train": _plain(dict(train_config)),
        "metrics": _plain(dict(metrics)),
        "dataset": _plain(dict(dataset)),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write(Path(path), buf.getvalue(), what="checkpoint")
    return Path(path)


def _plain(value):
    """Tuples to lists, recursively, so the file holds only JSON-like values and tensors."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint; a missing, corrupt or foreign file raises a one-line UsageError."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist (or is not a file)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise UsageError(
            f"{path} is not a readable genet-lab checkpoint (corrupt, truncated or not a torch file: {reason})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(
            "checkpoint",
            str(path),
            template=f"{{value}} is a torch file but not a genet-lab checkpoint (no format={FORMAT!r}); "
            "write one with train's {save} option",
            also=("save",),
        )
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise UsageError(
            f"{path} has checkpoint format version {data.get('version')!r}; this genet-lab "
            f"reads versions up to {VERSION}"
        )
    try:
        genome = parse(data["genome"], tuple(data["stages"]))
        net = NetworkConfig.from_dict(data["network"])
        _check_sizes(net)
        state = data["state_dict"]
        if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            raise ValueError("state_dict is not a dict of named tensors")
        _check_state(genome, net, state)
        parts = {key: _section(data, key) for key in ("train", "metrics", "dataset")}
        _check_dataset(parts["dataset"], net)
    except (KeyError, TypeError, ValueError) as exc:
        reason = str(exc) if not isinstance(exc, KeyError) else f"no {exc} entry"
        raise UsageError(f"{path} is a damaged genet-lab checkpoint: {' '.join(reason.split())[:160]}") from None
    return Checkpoint(
        genome=genome,
        net_config=net,
        train_config=parts["train"],
        metrics=parts["metrics"],
        dataset=parts["dataset"],
        state_dict=state,
    )


MAX_WIDTH = 65536
"""Largest convolution or fully-connected width a checkpoint may name (VGG's widest is 4096)."""
MAX_IMAGE_SIZE = 4096
MAX_CLASSES = 1_000_000
MAX_KERNEL = 31


def _check_sizes(net: NetworkConfig) -> None:
    """Bound the sizes a checkpoint asks for, before anything is built from them."""
    widths = [*net.widths, *net.fc, *(w for w, _ in net.stem)]
    limits = (
        ("width", max(widths, default=1), MAX_WIDTH),
        ("image_size", net.image_size, MAX_IMAGE_SIZE),
        ("num_classes", net.num_classes, MAX_CLASSES),
        ("in_channels", net.in_channels, MAX_WIDTH),
        ("kernel_size", net.kernel_size, MAX_KERNEL),
        ("pool_kernel", net.pool_kernel, MAX_KERNEL),
        ("stem convolutions per block", max((n for _, n in net.stem), default=1), 64),
        ("stages", len(net.widths), 64),
        ("fc layers", len(net.fc), 64),
        ("stem blocks", len(net.stem), 64),
    )
    for label, value, top in limits:
        if value > top:
            raise ValueError(f"network {label} {value} is above the supported maximum {top}")
    if min((n for _, n in net.stem), default=1) < 1 or min(net.fc, default=1) < 1:
        raise ValueError("network stem and fc sizes must be positive")


def _check_state(genome: Genome, net: NetworkConfig, state: dict) -> None:
    """The weights must be exactly those of the network the genome and config describe: the
    network is built on the meta device (no memory) and its names and shapes compared."""
    from genet_lab.training.network import build_network

    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in build_network(genome, net).state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or extra:
        what = [f"{len(missing)} missing (e.g. {missing[0]})"] if missing else []
        what += [f"{len(extra)} unexpected (e.g. {extra[0]})"] if extra else []
        raise ValueError(f"its weights do not fit its genome and network: {' and '.join(what)}")
    wrong = [k for k in want if want[k] != have[k]]
    if wrong:
        k = wrong[0]
        raise ValueError(
            f"its weights do not fit its genome and network: {len(wrong)} of wrong shape "
            f"(e.g. {k}: {list(have[k])}, expected {list(want[k])})"
        )


def _section(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be a dict, got {type(value).__name__}")
    return dict(value)


_DATASET_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "seed": (int,),
    "val_size": (int, type(None)),
    "train_size": (int, type(None)),
    "data_dir": (str, type(None)),
    "classes": (list,),
    "mean": (list,),
    "std": (list,),
    "preprocessing": (str,),
}


def _check_dataset(info: dict, net: NetworkConfig) -> None:
    """The data description ``evaluate`` relies on: right types, statistics one per channel."""
    for key, types in _DATASET_TYPES.items():
        if key in info and (not isinstance(info[key], types) or isinstance(info[key], bool)):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise ValueError(f"dataset {key} is {type(info[key]).__name__} {str(info[key])[:40]!r}, expected {names}")
    for key in ("mean", "std"):
        values = info.get(key) or []
        if values and (len(values) != net.in_channels or not all(isinstance(v, (int, float)) for v in values)):
            raise ValueError(f"dataset {key} must be {net.in_channels} numbers (one per channel), got {values[:8]}")
    if any(v <= 0 for v in info.get("std") or []):
        raise ValueError(f"dataset std must be positive, got {info['std']}")
    for key in ("seed", "val_size", "train_size"):
        if isinstance(info.get(key), int) and not 0 <= info[key] < 2**63:
            raise ValueError(f"dataset {key} {info[key]} is out of range")
