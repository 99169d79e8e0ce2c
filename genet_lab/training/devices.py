"""Devices by name: resolve ``auto``/``cpu``/``cuda[:N]``/``mps`` (parsed, torch-free, by
:func:`genet_lab.training.config.parse_device`), wait for queued work, and name a device for the
probe caches. Knows torch only; nothing of networks or training.
"""

from __future__ import annotations

import torch

from genet_lab.errors import ConfigError
from genet_lab.training.config import DEVICES, parse_device

__all__ = ["DEVICES", "device_name", "parse_device", "resolve_device", "synchronize"]


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(text: str) -> torch.device:
    """The torch device for ``text``: auto picks cuda, then mps, then cpu; an explicit device
    this machine lacks is a :class:`~genet_lab.errors.ConfigError` of ``device``."""
    t = parse_device(text)
    if t == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if t.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                "device",
                t,
                template="device {value} asked for, but torch sees no CUDA device; use {option} cpu or auto",
            )
        index = int(t[5:]) if ":" in t else 0
        if index >= torch.cuda.device_count():
            n = torch.cuda.device_count()
            raise ConfigError("device", t, template=f"device {{value}} asked for, but there are {n} CUDA devices")
    if t == "mps" and not _mps_available():
        raise ConfigError(
            "device", t, template="device {value} asked for, but MPS is not available; use {option} cpu or auto"
        )
    return torch.device(t)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on the CPU), so wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
    """What a timing depends on: the GPU model, or the CPU's vector capability and thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu-{torch.backends.cpu.get_cpu_capability()}-{torch.get_num_threads()}t"
    return device.type
