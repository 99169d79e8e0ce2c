"""Every device decision in one place: which device, which precisions it can run, how much
memory a group may take, and the per-device calls (synchronise, free cached memory, random
state) that differ between cpu, cuda and mps.

Device names are parsed torch-free by :func:`genet_lab.training.config.parse_device`; here they
become torch devices. Callers never test ``torch.cuda`` themselves: they ask a function of this
module, so a test can mock one CUDA device (``torch.cuda.is_available`` and friends) and walk
every CUDA branch without a GPU (tests/training/test_devices_audit.py). Knows torch only;
nothing of networks or training.
"""

from __future__ import annotations

from typing import Any

import torch

from genet_lab.errors import ConfigError
from genet_lab.training.config import DEVICES, parse_device

__all__ = [
    "DEVICES",
    "auto_execution",
    "bf16_supported",
    "check_devices",
    "cuda_available",
    "describe",
    "device_name",
    "gpus_per_task",
    "layout_candidates",
    "memory_budget",
    "parse_device",
    "pin_memory",
    "precision_candidates",
    "release_memory",
    "resolve_device",
    "rng_devices",
    "rng_state",
    "set_rng_state",
    "synchronize",
]

GPU_MEMORY_SHARE = 0.8
"""Share of the free CUDA memory a batched group may plan for (the allocator and cuDNN need the rest)."""
RAM_SHARE = 0.5
"""Share of the available RAM a group may plan for on the CPU (the data set and other processes share it)."""
RAM_FALLBACK = 4 << 30
"""Bytes assumed when /proc/meminfo cannot be read (not Linux)."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    return bool(torch.cuda.is_available())


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(text: str) -> torch.device:
    """The torch device for ``text``: auto picks cuda, then mps, then cpu; an explicit device
    this machine lacks is a :class:`~genet_lab.errors.ConfigError` of ``device``."""
    t = parse_device(text)
    if t == "auto":
        if cuda_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if t.startswith("cuda"):
        if not cuda_available():
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


def check_devices(names: list[str]) -> list[str]:
    """``names`` (parsed device names, one worker each; a name may repeat) when this machine has
    every one; else a :class:`~genet_lab.errors.ConfigError` of ``devices`` naming the first it lacks."""
    for name in names:
        try:
            resolve_device(name)
        except ConfigError:
            n = torch.cuda.device_count() if cuda_available() else 0
            have = f"torch sees {n} CUDA device{'' if n == 1 else 's'}" if name.startswith("cuda") else "no MPS"
            template = f"{{option}} names {name}, but {have}; got {{value!r}}"
            raise ConfigError("devices", ",".join(names), template=template) from None
    return list(names)


# -- precision and layout -----------------------------------------------------------------------------


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast can run on ``device``: on CUDA as torch reports it (Ampere and
    later natively); on the CPU and MPS always tried (a probe that fails drops it)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return True


def precision_candidates(setting: str, device: torch.device) -> list[str]:
    """The precisions a probe times for the ``precision`` setting: ``auto`` is fp32 and, where
    :func:`bf16_supported`, bf16; an explicit setting is kept as asked."""
    if setting != "auto":
        return [setting]
    return ["fp32", "bf16"] if bf16_supported(device) else ["fp32"]


def layout_candidates(setting: str) -> list[bool]:
    """The layouts (channels_last or not) a probe times for the ``channels_last`` setting."""
    return [False, True] if setting == "auto" else [setting == "on"]


def auto_execution(precision: str, channels_last: str, device: torch.device) -> tuple[bool, bool]:
    """(bf16, channels_last) without a probe (a streamed training cannot afford one): as asked;
    ``auto`` means both on CUDA (bf16 where supported), neither elsewhere."""
    cuda = device.type == "cuda"
    bf16 = precision == "bf16" or (precision == "auto" and cuda and bf16_supported(device))
    return bf16, channels_last == "on" or (channels_last == "auto" and cuda)


# -- memory --------------------------------------------------------------------------------------------


def memory_budget(device: torch.device) -> int:
    """Bytes a group may use: 80% of the free CUDA memory, half of the available RAM otherwise."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(GPU_MEMORY_SHARE * free)
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
        return int(RAM_SHARE * info.get("MemAvailable", info["MemTotal"]))
    except (OSError, KeyError, ValueError, IndexError):
        return RAM_FALLBACK


def release_memory(device: torch.device) -> None:
    """Give cached blocks back after an out-of-memory error (CUDA's caching allocator; a no-op elsewhere)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def pin_memory() -> bool:
    """Whether loaders should pin host memory (only worth it when batches go to a CUDA device)."""
    return cuda_available()


# -- random state and timing ---------------------------------------------------------------------------


def rng_devices(device: torch.device) -> list[torch.device]:
    """The devices ``torch.random.fork_rng`` must save for work on ``device`` (CUDA's own generator)."""
    return [device] if device.type == "cuda" else []


def rng_state(device: torch.device) -> torch.Tensor:
    """The random state dropout on ``device`` draws from: the device's generator on CUDA, the CPU's otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


def set_rng_state(state: torch.Tensor, device: torch.device) -> None:
    """Restore :func:`rng_state` of ``device``."""
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


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


def describe(device: torch.device) -> dict[str, Any]:
    """What a benchmark reports about ``device``: its name, torch's and CUDA's versions and, on
    CUDA, the memory, compute capability and bf16 support."""
    out: dict[str, Any] = {
        "device": str(device),
        "name": device_name(device),
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out.update(
            total_memory_gib=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
            bf16=bf16_supported(device),
            count=torch.cuda.device_count(),
        )
    return out


def gpus_per_task(device_text: str, cluster_gpus: float) -> float:
    """GPUs a Ray task asks for when it trains on ``device_text``: 1 for cuda or cuda:N; for auto,
    1 when the cluster has a GPU (Ray hides every GPU from a task that asks for none, so auto
    would train on the CPU); 0 for cpu and mps."""
    t = parse_device(device_text)
    if t.startswith("cuda"):
        return 1.0
    return 1.0 if t == "auto" and cluster_gpus >= 1 else 0.0
