"""The device-agnostic audit: every device, precision and memory decision goes through
genet_lab.training.devices, and its CUDA branches are walked on a CPU with a mocked GPU
(torch.cuda's queries replaced; nothing is ever allocated on a device that is not there)."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
import torch

import genet_lab
from genet_lab.encoding.genome import paper_best
from genet_lab.encoding.presets import get_preset
from genet_lab.errors import ConfigError
from genet_lab.training import devices
from genet_lab.training.config import default_train_config

PACKAGE = Path(genet_lab.__file__).resolve().parent
CUDA = torch.device("cuda")
CPU = torch.device("cpu")
GiB = 2**30

DIRECT = re.compile(r"torch\.cuda\.|torch\.backends\.mps|torch\.mps\.|mem_get_info|/proc/meminfo")
"""A device query made without the helper."""
NOT_YET_ROUTED: dict[str, str] = {}
"""Files that still query a device themselves, with what they should call instead (none left)."""


class FakeCuda:
    """What the mocked torch.cuda answered and was asked."""

    def __init__(self, count: int = 2, free: int = 10 * GiB, total: int = 80 * GiB, bf16: bool = True):
        self.count, self.free, self.total, self.bf16 = count, free, total, bf16
        self.calls: list[tuple] = []


@pytest.fixture
def gpu(monkeypatch) -> FakeCuda:
    """Two mocked CUDA devices with 10 GiB free of 80; each query is recorded."""
    fake = FakeCuda()

    def record(name, value=None):
        def call(*args, **kwargs):
            fake.calls.append((name, *args))
            return value() if callable(value) else value

        return call

    cuda = torch.cuda
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "device_count", lambda: fake.count)
    monkeypatch.setattr(cuda, "is_bf16_supported", lambda *a, **k: fake.bf16)
    monkeypatch.setattr(cuda, "get_device_name", lambda *a: "Mocked GPU")
    monkeypatch.setattr(cuda, "mem_get_info", record("mem_get_info", lambda: (fake.free, fake.total)))
    props = types.SimpleNamespace(total_memory=fake.total, major=9, minor=0, name="Mocked GPU")
    monkeypatch.setattr(cuda, "get_device_properties", lambda *a: props)
    monkeypatch.setattr(cuda, "empty_cache", record("empty_cache"))
    monkeypatch.setattr(cuda, "synchronize", record("synchronize"))
    monkeypatch.setattr(cuda, "get_rng_state", record("get_rng_state", lambda: torch.get_rng_state()))
    monkeypatch.setattr(cuda, "set_rng_state", record("set_rng_state"))
    return fake


def _names(fake: FakeCuda) -> list[str]:
    return [c[0] for c in fake.calls]


# -- the static audit ---------------------------------------------------------------------------------


def test_no_module_but_the_helper_queries_a_device_directly():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if DIRECT.search(line)]
        if hits and rel != "training/devices.py":
            found[rel] = hits
    unexpected = {k: v for k, v in found.items() if k not in NOT_YET_ROUTED}
    assert not unexpected, f"device queries outside genet_lab/training/devices.py: {unexpected}"
    assert DIRECT.search("free, _ = torch.cuda.mem_get_info(device)")  # the pattern does catch one


# -- device names ---------------------------------------------------------------------------------------


def test_auto_picks_cuda_and_an_index_is_checked_against_the_count(gpu):
    assert devices.resolve_device("auto") == CUDA
    assert devices.resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match="there are 2 CUDA devices"):
        devices.resolve_device("cuda:2")
    gpu.count = 1
    with pytest.raises(ConfigError, match="there are 1 CUDA devices"):
        devices.resolve_device("cuda:1")


def test_without_cuda_an_explicit_gpu_is_refused_and_auto_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.resolve_device("auto") == CPU
    with pytest.raises(ConfigError, match="torch sees no CUDA device"):
        devices.resolve_device("cuda")
    assert devices.pin_memory() is False


def test_describe_names_the_gpu_its_memory_and_capability(gpu):
    info = devices.describe(CUDA)
    assert (info["name"], info["capability"], info["count"]) == ("Mocked GPU", "9.0", 2)
    assert info["total_memory_gib"] == pytest.approx(gpu.total / GiB, abs=0.1)
    assert info["bf16"] is True and info["torch"] == torch.__version__
    cpu = devices.describe(CPU)
    assert cpu["name"].startswith("cpu-") and "capability" not in cpu


# -- precision and layout -------------------------------------------------------------------------------


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_precision_offers_bf16_only_where_the_gpu_runs_it(gpu, bf16):
    gpu.bf16 = bf16
    assert devices.precision_candidates("auto", CUDA) == (["fp32", "bf16"] if bf16 else ["fp32"])
    assert devices.precision_candidates("bf16", CUDA) == ["bf16"]  # as asked: the run says what it ran
    assert devices.precision_candidates("auto", CPU) == ["fp32", "bf16"]
    assert devices.auto_execution("auto", "auto", CUDA) == (bf16, True)
    assert devices.auto_execution("auto", "auto", CPU) == (False, False)
    assert devices.auto_execution("fp32", "on", CPU) == (False, True)


def test_the_probe_is_skipped_on_a_gpu_without_bf16_when_the_layout_is_fixed(gpu):
    """choose_execution walks its CUDA branch to the end without timing anything: one candidate."""
    from genet_lab.training.autotune import choose_execution
    from genet_lab.training.network import build_network

    gpu.bf16 = False
    net = get_preset("paper-cifar10").with_input(3, 32, 10)
    with torch.device("meta"):
        model = build_network(paper_best(), net)
    cfg = default_train_config("cifar10", precision="auto", channels_last="off")
    assert choose_execution(model, torch.zeros(1, 3, 32, 32), cfg, CUDA, net) == ("fp32", False, {})


@pytest.mark.parametrize("bf16", [True, False])
def test_streamed_training_takes_its_settings_from_the_helper(gpu, bf16):
    # a streamed training cannot afford a timing probe: auto means bf16 (where supported) and
    # channels-last on CUDA, neither elsewhere; what is asked is kept
    gpu.bf16 = bf16
    for prec in ("auto", "fp32", "bf16"):
        for cl in ("auto", "on", "off"):
            want_cuda = (prec == "bf16" or (prec == "auto" and bf16), cl in ("on", "auto"))
            want_cpu = (prec == "bf16", cl == "on")
            assert devices.auto_execution(prec, cl, CUDA) == want_cuda, (prec, cl)
            assert devices.auto_execution(prec, cl, CPU) == want_cpu, (prec, cl)
    src = (Path(__file__).parents[2] / "genet_lab" / "training" / "streamed.py").read_text()
    assert "auto_execution(cfg.precision, cfg.channels_last, device)" in src


# -- memory ---------------------------------------------------------------------------------------------


def test_a_group_plans_for_80_percent_of_the_free_gpu_memory(gpu):
    from genet_lab.training.population import estimate_bytes, max_group

    net = get_preset("paper-cifar10").with_input(3, 32, 10)
    assert devices.memory_budget(CUDA) == int(devices.GPU_MEMORY_SHARE * gpu.free)
    per = estimate_bytes(paper_best(), net, 128)
    assert max_group(paper_best(), net, 128, CUDA) == max(1, int(0.8 * gpu.free) // per)
    gpu.free = per  # less than one individual's share: still one at a time, never zero
    assert max_group(paper_best(), net, 128, CUDA) == 1
    assert "mem_get_info" in _names(gpu)


def test_the_cpu_budget_is_half_the_available_ram_and_never_asks_cuda(gpu):
    budget = devices.memory_budget(CPU)
    assert 0 < budget
    if Path("/proc/meminfo").is_file():
        avail = next(int(x.split()[1]) * 1024 for x in Path("/proc/meminfo").read_text().splitlines() if "Avail" in x)
        assert budget == pytest.approx(devices.RAM_SHARE * avail, rel=0.2)
    assert "mem_get_info" not in _names(gpu)


def test_memory_is_released_and_timings_synchronised_on_cuda_only(gpu):
    devices.release_memory(CPU)
    devices.synchronize(CPU)
    assert gpu.calls == []
    devices.release_memory(CUDA)
    devices.synchronize(CUDA)
    assert _names(gpu) == ["empty_cache", "synchronize"]


# -- random state ---------------------------------------------------------------------------------------


def test_random_state_is_the_gpus_own_on_cuda(gpu):
    from genet_lab.training.batched import RngStreams

    assert devices.rng_devices(CUDA) == [CUDA] and devices.rng_devices(CPU) == []
    state = devices.rng_state(CUDA)
    devices.set_rng_state(state, CUDA)
    assert _names(gpu) == ["get_rng_state", "set_rng_state"]
    assert gpu.calls[0][1] == CUDA and gpu.calls[1][2] == CUDA
    streams = RngStreams([state, state], "cuda")
    streams.dropout(torch.ones(2, 3, 4), 0.5)
    assert _names(gpu).count("set_rng_state") >= 3  # each stream, then the caller's state back


# -- Ray ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "cluster", "want"),
    [("cuda", 0, 1.0), ("cuda:1", 4, 1.0), ("auto", 1, 1.0), ("auto", 0, 0.0), ("cpu", 8, 0.0), ("mps", 0, 0.0)],
)
def test_a_ray_task_asks_for_a_gpu_when_it_would_train_on_one(device, cluster, want):
    assert devices.gpus_per_task(device, cluster) == want


def test_the_ray_executor_asks_the_cluster_how_many_gpus_it_has(monkeypatch):
    ray = pytest.importorskip("ray")
    from genet_lab.evolution.executors import RayExecutor, fitness_from_search

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 1.0})
    ex = RayExecutor(fitness_from_search, ({},), address="local")
    assert ex.gpus_for("auto") == 1.0 and ex.gpus_for("cpu") == 0.0
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0})
    assert ex.gpus_for("auto") == 0.0 and ex.gpus_for("cuda") == 1.0


def test_a_device_list_naming_a_missing_gpu_is_refused_before_any_worker_starts(gpu, monkeypatch):
    from genet_lab.evolution.config import SearchConfig
    from genet_lab.evolution.executors import ProcessExecutor, make_executor

    assert devices.check_devices(["cuda:0", "cuda:1", "cuda:1", "cpu"]) == ["cuda:0", "cuda:1", "cuda:1", "cpu"]
    with pytest.raises(ConfigError) as err:
        devices.check_devices(["cuda:0", "cuda:2"])
    assert err.value.option == "devices" and "cuda:2, but torch sees 2 CUDA devices" in str(err.value)
    assert "--" not in str(err.value)
    config = SearchConfig(fitness="toy")
    assert isinstance(make_executor(None, config, {"devices": "cuda:0,cuda:1"}), ProcessExecutor)  # type: ignore[arg-type]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="names cuda:0, but torch sees 0 CUDA devices"):
        make_executor(None, config, {"devices": "cuda:0"})  # type: ignore[arg-type]
    assert isinstance(make_executor(None, config, {"devices": "cpu,cpu"}), ProcessExecutor)  # type: ignore[arg-type]
