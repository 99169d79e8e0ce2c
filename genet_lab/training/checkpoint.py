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
from genet_lab.errors import UsageError
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


def save_checkpoint(path, model: torch.nn.Module, genome: Genome, net_config: NetworkConfig,
                    train_config: dict, metrics: dict, dataset: dict) -> Path:
    payload = {
        "format": FORMAT, "version": VERSION, "genome": genome.notation(), "stages": list(genome.stages),
        "network": _plain(net_config.to_dict()), "train": _plain(dict(train_config)),
        "metrics": _plain(dict(metrics)), "dataset": _plain(dict(dataset)),
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
        raise UsageError(f"{path} is not a readable genet-lab checkpoint (corrupt, truncated or "
                         f"not a torch file: {reason})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path} is a torch file but not a genet-lab checkpoint (no format={FORMAT!r}); "
                         "write one with 'genet-lab train GENOME --save FILE'")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise UsageError(f"{path} has checkpoint format version {data.get('version')!r}; this genet-lab "
                         f"reads versions up to {VERSION}")
    try:
        genome = parse(data["genome"], tuple(data["stages"]))
        net = NetworkConfig.from_dict(data["network"])
        state = data["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError("state_dict is not a dict of tensors")
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path} is a damaged genet-lab checkpoint: {' '.join(str(exc).split())[:120]}") from None
    return Checkpoint(genome=genome, net_config=net, train_config=dict(data.get("train", {})),
                      metrics=dict(data.get("metrics", {})), dataset=dict(data.get("dataset", {})),
                      state_dict=state)
