"""One prepared GPU check (issue 24): every CUDA path measured in one short run (< 8 min on one GPU).

Each part has its own time budget and try/except: a failure is one line of the summary, never
the end of the run; without CUDA each CUDA part is skipped with one line and the CPU parts run.
versions (device, driver, torch, CUDA); data (a slice of the CIFAR-10 JPEGs in ../shared/data,
extracted into a temporary folder); paper_best (the paper's best genome, fp32/bf16 x
channels_last off/on, a fixed number of epochs: images/s and accuracy, GPU and CPU); population
(N = 20 random (3,4,5) genomes, loop against one batched group at 8x8 and 32x32, what
``--batched auto`` picks); devices (``evolve --devices cuda:0,...``, every GPU); ray (``evolve
--ray local --device cuda``); streamed (the streamed ImageFolder loader at 224x224: images/s,
top-1/top-5); checkpoint (saved on the GPU, evaluated on the CPU); bench_build (``bench build
--sample`` on the GPU: trainings/s); projection (``evolve --paper``, N = 20, T = 50, 240 epochs,
from the measured seconds per epoch, against the paper's 17 GPU-days).

Usage: python benchmarks/gpu_check.py --out DIR [--tiny] [--rehearse] [--only PARTS] [--per-class N] [--epochs E]
``--rehearse`` runs the CUDA parts on the CPU (``cpu`` wherever they name ``cuda``) to check this
script's own code before a GPU is lent; its figures are not a GPU's and the table says so.
Prints a markdown table and the JSON summary (also DIR/gpu_check.md and DIR/gpu_check.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
TARBALL = HERE.parents[1] / "shared" / "data" / "cifar10-jpeg.tar.gz"
PAPER_GPU_DAYS = 17.0
"""The paper's cost of one CIFAR-10 process, N = 20, T = 50 (section 4.1.1)."""
PAPER_GPU_HOURS_PER_INDIVIDUAL = 0.4
PAPER_N, PAPER_T, PAPER_EPOCHS, PAPER_TRAIN_IMAGES = 20, 50, 240, 40_000
"""``evolve --paper``: CIFAR-10's 50,000 training images less the 10,000 of validation."""
BUDGETS = {"versions": 20, "data": 40, "paper_best": 120, "population": 60, "devices": 50, "ray": 75,
           "streamed": 50, "checkpoint": 25, "bench_build": 40, "projection": 5}  # fmt: skip
"""Seconds per part on a GPU: 475 in all, under the issue's 8 minutes."""


class PartTimeout(Exception):
    """A part ran past its budget."""


class Skipped(Exception):
    """A part that cannot run here; its message is the one line that says why."""


def _alarm(signum, frame):  # noqa: ANN001, ARG001
    raise PartTimeout("ran past its time budget")


def run_part(report: dict, name: str, fn: Callable[[], dict], budget: float) -> dict | None:
    """Run ``fn`` within ``budget`` seconds; record ok (its figures), skipped or failed (one line)."""
    t0 = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    entry: dict[str, Any]
    try:
        entry = {"status": "ok", **fn()}
    except Skipped as exc:
        entry = {"status": "skipped", "line": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one line in the summary, the rest of the check goes on
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
        entry = {"status": "failed", "line": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}{where}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    entry["budget_s"] = budget
    report["parts"][name] = entry
    print(f"[{name}] {entry['status']} in {entry['seconds']} s: {entry.get('line', '')}", file=sys.stderr, flush=True)
    return entry if entry["status"] == "ok" else None


def need_cuda(ctx: SimpleNamespace, what: str) -> None:
    if not (ctx.cuda or ctx.rehearse):
        raise Skipped(f"no CUDA device: {what} skipped")


def command(argv: list[str], timeout: float, env: dict | None = None) -> tuple[int, str, float]:
    """(exit status, last 400 characters of the output, seconds) of a CLI run in its own process
    group, killed with its children past ``timeout``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except (subprocess.TimeoutExpired, PartTimeout):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise PartTimeout(f"{' '.join(argv[2:5])} ran past {timeout:.0f} s") from None
    return proc.returncode, out[-400:], time.perf_counter() - t0


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "genet_lab", *args]


def last_json(text: str) -> dict:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in the output: {text[-200:]!r}")


# -- parts ----------------------------------------------------------------------------------------------


def part_versions(ctx: SimpleNamespace) -> dict:
    from genet_lab.training.devices import describe

    out = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
    out["gpu"] = describe(ctx.gpu) if ctx.cuda else None
    out["cpu"] = describe(ctx.cpu)
    try:
        smi = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
        out["driver"] = (subprocess.run(smi, capture_output=True, text=True, timeout=10).stdout.split() or [None])[0]
    except (OSError, subprocess.TimeoutExpired):
        out["driver"] = None
    gpu = out["gpu"]
    out["line"] = (
        f"{gpu['name']} x{gpu['count']} ({gpu['total_memory_gib']} GiB, sm {gpu['capability']}), "
        f"driver {out['driver']}, torch {gpu['torch']}, CUDA {gpu['cuda_build']}"
        if gpu
        else f"no CUDA device; {out['cpu']['name']}, torch {out['cpu']['torch']}, CUDA build {out['cpu']['cuda_build']}"
    )
    return out


def glob_patterns(split: str, n: int) -> list[str]:
    """tar wildcards for images 0000..n-1 of every class (a few patterns, not one per file)."""
    pats, i = [], 0
    for step, width in ((100, 2), (10, 3), (1, 4)):
        while i + step <= n:
            pats.append(f"{split}/*/{i // step:0{width}d}{'?' * (4 - width)}.jpg")
            i += step
    return pats


def part_data(ctx: SimpleNamespace) -> dict:
    from genet_lab.training.data import load_dataset

    if not TARBALL.is_file():
        raise FileNotFoundError(f"{TARBALL} not found")
    pats = glob_patterns("train", ctx.per_class) + glob_patterns("test", ctx.test_per_class)
    subprocess.run(["tar", "xzf", str(TARBALL), "-C", str(ctx.folder), "--wildcards", *pats], check=True)
    ctx.val_size = max(10, ctx.per_class * 10 // 5)
    ctx.data = load_dataset("imagefolder", str(ctx.folder), val_size=ctx.val_size, seed=0)
    n = {"train": len(ctx.data.train_y), "val": len(ctx.data.val_y), "test": len(ctx.data.test_y)}
    return {**n, "line": f"{n['train']} train / {n['val']} val / {n['test']} test JPEGs"}


def _train_cfg(ctx: SimpleNamespace, device, **kw: Any):
    from genet_lab.training.config import default_train_config

    base = dict(epochs=ctx.epochs, device=str(device), seed=0, threads=ctx.threads, eval_test=True)
    return default_train_config("cifar10", recipe="paper", schedule="paper", **{**base, **kw})


def part_paper_best(ctx: SimpleNamespace) -> dict:
    from genet_lab.training.trainer import train_genome

    rows: dict[str, dict] = {}
    devices = [ctx.cpu] + ([ctx.gpu] if ctx.cuda else [])
    for device in reversed(devices):  # the GPU first: its figures matter most if the budget runs out
        warm = _train_cfg(ctx, device, epochs=1, precision="fp32", channels_last="off", eval_test=False)
        train_genome(ctx.genome, ctx.net, ctx.data, warm)  # untimed: kernels, cuDNN and the thread probe
        for prec in ("fp32", "bf16"):
            for cl in ("off", "on"):
                r = train_genome(
                    ctx.genome, ctx.net, ctx.data, _train_cfg(ctx, device, precision=prec, channels_last=cl)
                )
                rows[f"{device.type}/{prec}/cl-{cl}"] = {
                    "images_per_second": round(r.images_per_second, 1),
                    "val_accuracy": round(100 * r.val_accuracy, 2),
                    "test_accuracy": None if r.test_accuracy is None else round(100 * r.test_accuracy, 2),
                    "seconds": round(r.seconds, 2),
                    "failed": r.error if r.failed else None,
                }
    ctx.paper_rows = rows
    best = {
        d.type: max((k for k in rows if k.startswith(d.type)), key=lambda k: rows[k]["images_per_second"])
        for d in devices
    }
    line = "; ".join(f"{k}: {rows[k]['images_per_second']:.0f} img/s" for k in best.values())
    if ctx.cuda:
        ratio = rows["cuda/fp32/cl-off"]["images_per_second"] / max(1e-9, rows["cpu/fp32/cl-off"]["images_per_second"])
        line += f"; GPU/CPU fp32 {ratio:.1f}x"
    else:
        line += "; GPU rows: no CUDA device, skipped"
    return {"epochs": ctx.epochs, "rows": rows, "line": line}


def part_population(ctx: SimpleNamespace) -> dict:
    need_cuda(ctx, "population batching on the GPU")
    sys.path.insert(0, str(HERE))
    import bench_population as bp

    genomes = bp.random_genomes(ctx.population)
    args = SimpleNamespace(steps=ctx.steps, repeats=1 if ctx.rehearse else 2)
    sizes = {f"{s}x{s}": bp.bench_size(s, genomes, args, ctx.gpu) for s in (8, 32)}
    ctx.batched_32 = sizes["32x32"]
    line = "; ".join(f"{k}: batched/loop {v['ratio']:.2f}x, auto picks {v['auto_choice']}" for k, v in sizes.items())
    return {"n": ctx.population, "sizes": sizes, "line": f"N = {ctx.population}: {line}"}


def _evolve_args(ctx: SimpleNamespace, run_dir: Path, *extra: str) -> list[str]:
    return cli(
        "evolve", "--dataset", "imagefolder", "--data-dir", str(ctx.folder), "--val-size", str(ctx.val_size),
        "--epochs", "1", "-N", "4", "-T", "0", "--run-dir", str(run_dir), "--json", *extra,
    )  # fmt: skip


def part_devices(ctx: SimpleNamespace) -> dict:
    need_cuda(ctx, "evolve --devices")
    import torch

    names = "cpu" if ctx.rehearse else ",".join(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    rc, out, secs = command(_evolve_args(ctx, ctx.work / "devices-run", "--devices", names), BUDGETS["devices"] - 5)
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {out[-200:]}")
    return {"devices": names, "wall_s": round(secs, 1), "line": f"--devices {names}: 4 evaluations in {secs:.1f} s"}


def part_ray(ctx: SimpleNamespace) -> dict:
    need_cuda(ctx, "Ray on the GPU")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise Skipped("ray is not installed: the Ray run skipped") from None
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    rc, out, secs = command(
        _evolve_args(ctx, ctx.work / "ray-run", "--ray", "local", "--device", ctx.gpu.type), BUDGETS["ray"] - 5, env
    )
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {out[-200:]}")
    line = f"--ray local --device {ctx.gpu.type}: 4 evaluations in {secs:.1f} s (with Ray's start)"
    return {"wall_s": round(secs, 1), "line": line}


def part_streamed(ctx: SimpleNamespace) -> dict:
    need_cuda(ctx, "the streamed loader at 224x224 on the GPU")
    from genet_lab.encoding.presets import get_preset
    from genet_lab.training.config import default_train_config
    from genet_lab.training.data.stream import load_stream
    from genet_lab.training.streamed import train_streamed

    size = ctx.stream_size
    data = load_stream(
        "imagefolder", str(ctx.folder), val_size=ctx.val_size, image_size=size, with_test=False, workers=4
    )
    net = get_preset("imagenet").with_input(3, size, len(data.classes))
    cfg = default_train_config("imagefolder", epochs=1, device=ctx.gpu.type, batch_size=64, seed=0)
    r = train_streamed(ctx.genome, net, data, cfg).result
    if r.failed:
        raise RuntimeError(r.error or "the training failed")
    top5 = r.val_top5_accuracy  # type: ignore[attr-defined]
    return {
        "images_per_second": round(r.images_per_second, 1),
        "top1": round(100 * r.val_accuracy, 2),
        "top5": None if top5 is None else round(100 * top5, 2),
        "precision": r.precision,
        "channels_last": r.channels_last,
        "image_size": size,
        "line": f"{size}x{size}, 1 epoch: {r.images_per_second:.0f} img/s, top-1 {100 * r.val_accuracy:.1f}%, "
        f"top-5 {'n/a' if top5 is None else f'{100 * top5:.1f}%'} ({r.precision})",
    }


def part_checkpoint(ctx: SimpleNamespace) -> dict:
    need_cuda(ctx, "checkpoint saved on the GPU")
    from genet_lab.training.batches import to_device
    from genet_lab.training.checkpoint import load_checkpoint, save_checkpoint
    from genet_lab.training.loop import accuracy
    from genet_lab.training.trainer import train_model

    d = ctx.data
    cfg = _train_cfg(ctx, ctx.gpu, epochs=1, precision="fp32", channels_last="off")
    trained = train_model(ctx.genome, ctx.net, d, cfg)
    x_gpu = to_device(d.test_x, d.mean, d.std, ctx.gpu, False)
    on_gpu = accuracy(trained.model, x_gpu, d.test_y.to(ctx.gpu))
    info = {"name": d.name, "classes": list(d.classes), "mean": list(d.mean), "std": list(d.std), "seed": 0}
    path = save_checkpoint(ctx.work / "gpu-check.pt", trained.model, ctx.genome, ctx.net, cfg.to_dict(), {}, info)
    model = load_checkpoint(path).build("cpu")
    on_cpu = accuracy(model, to_device(d.test_x, d.mean, d.std, ctx.cpu, False), d.test_y)
    same = abs(on_gpu - on_cpu) * len(d.test_y) < 0.5
    return {
        "gpu_accuracy": round(100 * on_gpu, 2),
        "cpu_accuracy": round(100 * on_cpu, 2),
        "same": same,
        "line": f"test accuracy {100 * on_gpu:.2f}% on the GPU, {100 * on_cpu:.2f}% on the CPU: "
        + ("the same" if same else "DIFFERENT"),
    }


def part_bench_build(ctx: SimpleNamespace) -> dict:
    need_cuda(ctx, "bench build on the GPU")
    argv = cli(
        "bench", "build", "--stages", "3,3,3", "--dataset", "imagefolder", "--data-dir", str(ctx.folder),
        "--val-size", str(ctx.val_size), "--epochs", "1", "--seeds", "1", "--sample", "6", "--workers", "1",
        "--device", ctx.gpu.type, "--out", str(ctx.work / "bench-build"), "--json",
    )  # fmt: skip
    rc, out, secs = command(argv, BUDGETS["bench_build"] - 5)
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {out[-200:]}")
    done = int(last_json(out)["done"])
    return {
        "trainings": done,
        "wall_s": round(secs, 1),
        "trainings_per_second": round(done / secs, 3),
        "line": f"{done} trainings (1 epoch, {len(ctx.data.train_y)} images) in {secs:.1f} s with start-up: "
        f"{done / secs:.2f}/s",
    }


def part_projection(ctx: SimpleNamespace) -> dict:
    rows = getattr(ctx, "paper_rows", None) or {}
    device = "cuda" if ctx.cuda and "cuda/fp32/cl-off" in rows else "cpu"
    row = rows.get(f"{device}/fp32/cl-off")
    if not row or not row["images_per_second"]:
        raise RuntimeError("no measured paper-best fp32 row to project from")
    per_epoch = PAPER_TRAIN_IMAGES / row["images_per_second"]
    individuals = PAPER_N * (PAPER_T + 1)
    per_individual_h = PAPER_EPOCHS * per_epoch / 3600
    days = individuals * per_individual_h / 24
    pop = getattr(ctx, "batched_32", None) if device == "cuda" else None  # the loop's figure / batched/loop ratio
    batched = round(days / pop["ratio"], 2) if pop and pop["auto_choice"] == "batched" else None
    return {
        "days_batched_auto": batched,
        "device": device,
        "seconds_per_epoch": round(per_epoch, 2),
        "hours_per_individual": round(per_individual_h, 3),
        "individuals": individuals,
        "days": round(days, 2),
        "paper_days": PAPER_GPU_DAYS,
        "line": f"on {device} (fp32, paper-best, {row['images_per_second']:.0f} img/s): {per_epoch:.1f} s/epoch, "
        f"{per_individual_h:.2f} h per individual (paper {PAPER_GPU_HOURS_PER_INDIVIDUAL}), "
        f"{individuals} trainings = {days:.1f} days (paper {PAPER_GPU_DAYS:.0f} GPU-days)"
        + ("" if batched is None else f"; {batched:.1f} days with --batched auto (the 32x32 ratio)"),
    }


ORDER = ("paper_best", "population", "devices", "ray", "streamed", "checkpoint", "bench_build", "projection")
PARTS: dict[str, Callable[[SimpleNamespace], dict]] = {name: globals()[f"part_{name}"] for name in ORDER}
"""The parts after versions and data (which always run), in the order they run."""


# -- report ---------------------------------------------------------------------------------------------


def markdown(report: dict) -> str:
    lines = [
        f"GPU check {report['date']} ({report['device_line']}); `python benchmarks/gpu_check.py "
        f"--out DIR{' --tiny' if report['tiny'] else ''}{' --rehearse' if report['rehearsal'] else ''}`, "
        f"{report['wall_s']:.0f} s"
        + (": a REHEARSAL, the CUDA parts ran on the CPU and no figure here is a GPU's" if report["rehearsal"] else ""),
        "",
        "| part | status | result | s |",
        "|---|---|---|---|",
    ]
    for name, e in report["parts"].items():
        lines.append(f"| {name} | {e['status']} | {e.get('line', '').replace('|', '/')} | {e['seconds']} |")
    rows = report["parts"].get("paper_best", {}).get("rows")
    if rows:
        lines += ["", "| paper-best | img/s | val % | test % |", "|---|---|---|---|"]
        for k, r in rows.items():
            lines.append(f"| {k} | {r['images_per_second']:.0f} | {r['val_accuracy']} | {r['test_accuracy']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for gpu_check.json, gpu_check.md and the runs")
    ap.add_argument("--tiny", action="store_true", help="the smallest budget (the CPU test)")
    ap.add_argument("--rehearse", action="store_true", help="without a GPU: run the CUDA parts on the CPU")
    ap.add_argument("--only", default=None, help="comma-separated parts to run (default all; data always runs)")
    ap.add_argument("--per-class", type=int, default=None, help="training JPEGs per class (default 300; tiny 8)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of each paper-best training (default 4; tiny 1)")
    args = ap.parse_args(argv)
    only = None if args.only is None else {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = sorted((only or set()) - set(PARTS))
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; accepted: {', '.join(PARTS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genet-gpu-check-") as tmp:
        os.environ["GENET_LAB_CACHE"] = str(Path(tmp) / "cache")  # fresh probes, no tensor cache left behind
        import torch

        from genet_lab.encoding.genome import paper_best
        from genet_lab.encoding.presets import get_preset
        from genet_lab.training.devices import cuda_available

        cuda = cuda_available()
        folder = Path(tmp) / "cifar"
        folder.mkdir()
        rehearse = args.rehearse and not cuda  # the CPU stands in for the GPU: the code, not the figures
        ctx = SimpleNamespace(
            work=Path(tmp), folder=folder, cuda=cuda, rehearse=rehearse, gpu=torch.device("cuda" if cuda else "cpu"),
            cpu=torch.device("cpu"), genome=paper_best(), net=get_preset("paper-cifar10").with_input(3, 32, 10),
            per_class=args.per_class or (8 if args.tiny else 300), test_per_class=5 if args.tiny else 50,
            epochs=args.epochs or (1 if args.tiny else 4), steps=2 if args.tiny else 4, val_size=10,
            threads=1 if args.tiny else 0,  # 0: the probed choice; tiny: no thread probe
            population=4 if rehearse else 20, stream_size=64 if rehearse else 224,
        )  # fmt: skip
        report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "tiny": args.tiny}
        report["rehearsal"] = ctx.rehearse
        report["parts"] = {}
        versions = run_part(report, "versions", lambda: part_versions(ctx), BUDGETS["versions"])
        report["device_line"] = versions["line"] if versions else "versions unknown"
        data_ok = run_part(report, "data", lambda: part_data(ctx), BUDGETS["data"])
        for name, fn in PARTS.items():
            if only is not None and name not in only:
                continue
            if data_ok is None and name != "population":
                report["parts"][name] = {"status": "skipped", "line": "no data: the slice was not extracted"}
                report["parts"][name].update(seconds=0.0, budget_s=BUDGETS[name])
                continue
            run_part(report, name, lambda fn=fn: fn(ctx), BUDGETS[name])
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["summary"] = [f"{n}: {e['status']}: {e.get('line', '')}" for n, e in report["parts"].items()]
    md = markdown(report)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "gpu_check.md").write_text(md)
    print(md)
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
