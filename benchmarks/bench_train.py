"""Training benchmark: figures for docs/benchmarks.md ("## Training"), measured side by side.

1. Digits, default settings: the paper's best genome (Table 1) and the plain chain.
2. Throughput of genet-lab's trainer (data on the device, batch slices of a randperm, batch
   augmentation) against a plain PyTorch loop over a torchvision DataLoader with per-sample
   transforms, same network, data and epochs, alternated, medians: digits and 32x32 CIFAR-10
   JPEGs (a slice of /work/shared/data/cifar10-jpeg.tar.gz).
3. bf16 autocast against fp32 (and channels_last): accuracy on digits over seeds, speed on
   the CIFAR slice for the paper-cifar10 and the wide network.

Prints medians and ratios; the last line is one JSON object with every figure.
Usage: python benchmarks/bench_train.py [--repeats 3] [--threads N] [--cifar-per-class 200]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genet_lab.encoding.genome import chain, paper_best
from genet_lab.encoding.presets import get_preset
from genet_lab.training.data import load_dataset
from genet_lab.training.network import build_network
from genet_lab.training.trainer import default_train_config, train_genome

TARBALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


def net_for(data, preset="paper-cifar10"):
    return get_preset(preset).with_input(data.in_channels, data.image_size, data.num_classes)


def plain_loop(dataset, genome, net, epochs, batch, lr, seed) -> float:
    """What a user would otherwise write: DataLoader + per-sample transforms. Returns images/s."""
    torch.manual_seed(seed)
    model = build_network(genome, net)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True)
    seen, t0 = 0, time.perf_counter()
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
    return seen / (time.perf_counter() - t0)


class TensorImages(torch.utils.data.Dataset):
    """uint8 images with a per-sample transform, as a user would wrap an in-memory set."""

    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(self.x[i]), int(self.y[i])


def throughput(name, data, plain_dataset, epochs, repeats, cfg_kw):
    genome, net = paper_best(), net_for(data)
    cfg = default_train_config(data.name, epochs=epochs, precision="fp32", channels_last="off", **cfg_kw)
    ours, theirs = [], []
    for r in range(repeats):  # alternate so load changes hit both alike
        ours.append(train_genome(genome, net, data, cfg).images_per_second)
        theirs.append(plain_loop(plain_dataset, genome, net, epochs, cfg.batch_size, cfg.lr, r))
    o, t = statistics.median(ours), statistics.median(theirs)
    print(
        f"  {name:8s} genet-lab {o:9.0f} img/s   plain DataLoader loop {t:9.0f} img/s   ratio {o / t:5.2f}x"
        f"   (runs: {[round(v) for v in ours]} vs {[round(v) for v in theirs]})",
        flush=True,
    )
    return {
        "ours_images_per_second": o,
        "plain_images_per_second": t,
        "ratio": o / t,
        "ours_runs": ours,
        "plain_runs": theirs,
        "epochs": epochs,
        "train_images": len(data.train_y),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--cifar-per-class", type=int, default=200, help="training JPEGs per class in the slice")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from torchvision import transforms as tv

    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    print(f"torch {torch.__version__}, {out['threads']} threads, {out['cpu_capability']}", flush=True)

    # 1. digits with the default settings
    digits = load_dataset("digits")
    out["digits_default"] = {}
    print("1. digits, default settings (train_genome with default_train_config('digits'))")
    for label, genome in (("paper-best", paper_best()), ("chain", chain())):
        r = train_genome(genome, net_for(digits), digits, default_train_config("digits"))
        out["digits_default"][label] = {
            "genome": genome.notation(),
            "val_accuracy": r.val_accuracy,
            "seconds": r.seconds,
            "images_per_second": r.images_per_second,
            "precision": r.precision,
            "channels_last": r.channels_last,
            "params": r.params,
        }
        print(
            f"  {label:10s} {genome.notation():30s} val {100 * r.val_accuracy:6.2f}%  {r.seconds:6.1f} s "
            f"({r.precision}, channels_last {r.channels_last})",
            flush=True,
        )

    # 2. throughput against a plain DataLoader loop
    print("2. throughput, paper-cifar10 network, fp32, same epochs (medians)")
    m, s = digits.mean, digits.std
    per_sample = tv.Compose([tv.ConvertImageDtype(torch.float32), tv.Normalize(m, s)])
    out["throughput_digits"] = throughput(
        "digits", digits, TensorImages(digits.train_x, digits.train_y, per_sample), 3, args.repeats, {}
    )
    with tempfile.TemporaryDirectory() as tmp:
        last = args.cifar_per_class - 1
        pattern = [f"train/*/{i:04d}.jpg" for i in range(args.cifar_per_class)]
        subprocess.run(["tar", "xzf", str(TARBALL), "-C", tmp, "--wildcards", *pattern], check=True)
        t0 = time.perf_counter()
        cifar = load_dataset("imagefolder", tmp, val_size=len(pattern) * 2, with_test=False)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_dataset("imagefolder", tmp, val_size=len(pattern) * 2, with_test=False)
        cached = time.perf_counter() - t0
        print(
            f"  cifar slice: {len(cifar.train_y)} train images (0000..{last:04d} per class); "
            f"decode {first:.2f} s, cached load {cached:.2f} s",
            flush=True,
        )
        from torchvision.datasets import ImageFolder

        folder = ImageFolder(
            str(Path(tmp) / "train"),
            transform=tv.Compose(
                [
                    tv.RandomCrop(32, padding=4),
                    tv.RandomHorizontalFlip(),
                    tv.ToTensor(),
                    tv.Normalize(cifar.mean, cifar.std),
                ]
            ),
        )
        out["throughput_cifar10"] = throughput("cifar10", cifar, folder, 2, args.repeats, {})
        out["throughput_cifar10"].update(decode_seconds=first, cached_load_seconds=cached)

        # 3. bf16 vs fp32
        print("3. bf16 autocast vs fp32")
        accs = {"fp32": [], "bf16": []}
        speed = {"fp32": [], "bf16": []}
        for seed in range(args.repeats):
            for prec in ("fp32", "bf16"):
                r = train_genome(
                    paper_best(),
                    net_for(digits),
                    digits,
                    default_train_config("digits", precision=prec, channels_last="off", seed=seed),
                )
                accs[prec].append(r.val_accuracy)
                speed[prec].append(r.images_per_second)
        out["bf16_digits"] = {
            p: {
                "val_accuracy_median": statistics.median(accs[p]),
                "runs": accs[p],
                "images_per_second_median": statistics.median(speed[p]),
            }
            for p in accs
        }
        for p in accs:
            print(
                f"  digits {p}: val {[round(100 * a, 2) for a in accs[p]]} %, median "
                f"{100 * statistics.median(accs[p]):.2f}%, {statistics.median(speed[p]):.0f} img/s",
                flush=True,
            )
        out["bf16_cifar_speed"] = {}
        for preset, n in (("paper-cifar10", len(cifar.train_y)), ("wide", min(512, len(cifar.train_y)))):
            sub = load_dataset("imagefolder", tmp, val_size=len(pattern) * 2, train_size=n, with_test=False)
            row = {}
            for prec, cl in (("fp32", "off"), ("bf16", "off"), ("bf16", "on"), ("fp32", "on")):
                runs = [
                    train_genome(
                        paper_best(),
                        net_for(sub, preset),
                        sub,
                        default_train_config("imagefolder", epochs=1, precision=prec, channels_last=cl, seed=k),
                    ).images_per_second
                    for k in range(args.repeats)
                ]
                row[f"{prec}/cl-{cl}"] = statistics.median(runs)
            base = row["fp32/cl-off"]
            out["bf16_cifar_speed"][preset] = {k: {"images_per_second": v, "vs_fp32": v / base} for k, v in row.items()}
            print(
                f"  {preset:14s} " + "  ".join(f"{k} {v:6.0f} img/s ({v / base:4.2f}x)" for k, v in row.items()),
                flush=True,
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
