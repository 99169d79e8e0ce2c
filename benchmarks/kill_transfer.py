"""Stop `genet-lab transfer --out DIR` at random moments, run the same command again, and check that nothing was lost.

Usage: python benchmarks/kill_transfer.py [--trials 12] [--seed 0] [--signals kill,term,int] [--json]
(or ``python benchmarks/kill_trials.py --modes transfer``, which runs these trials among its own).

Each trial starts a small transfer (two structures x SVHN and CIFAR-100, one epoch each, on
fake data sets written here in torchvision's layouts; a driver turns torchvision's checksum
off for them) with ``--out DIR``, stops it with a signal drawn from ``--signals`` one to three
times (at a random instant, or a random moment after the k-th training was recorded), and
after each stop runs the same command again; the last run goes to the end. After every stop
``DIR/transfer.json`` is absent or a whole, readable report (never half a file). At the end:
the report is complete, every training recorded before a stop kept its test error and its
time (it was not trained again), no temporary file is left in DIR, and every test error
equals that of an uninterrupted run of the same command. A traceback printed by a stopped
process is listed, as in kill_trials.py.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = """
import sys
try:  # a Ctrl-C while this driver imports is the harness's, not genet-lab's: no traceback for it
    import torchvision.datasets as tvd, torchvision.datasets.cifar as c, torchvision.datasets.svhn as s
    s.check_integrity = c.check_integrity = lambda *a, **k: True  # the fake sets are not the published files
    tvd.CIFAR100._check_integrity = lambda self: True
    from genet_lab.cli.main import main
except KeyboardInterrupt:
    sys.exit(130)
sys.exit(main(sys.argv[1:]))
"""
SIGNALS = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}
GRACE = 30.0


def write_data(root: Path) -> Path:
    """Fake SVHN (train/test_32x32.mat, 30 images each) and CIFAR-100 (one image per class)."""
    import numpy as np
    import scipy.io

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        X = rng.integers(0, 256, (32, 32, 3, 30), dtype=np.uint8)
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": X, "y": (np.arange(30) % 10 + 1).reshape(30, 1)})
    base = root / "cifar-100-python"
    base.mkdir(exist_ok=True)
    for name in ("train", "test"):
        entry = {"data": rng.integers(0, 256, (100, 3072), dtype=np.uint8), "fine_labels": list(range(100))}
        (base / name).write_bytes(pickle.dumps(entry))
    (base / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"f{i}" for i in range(100)]}))
    return root


def command(data: Path, out: Path) -> list[str]:
    return [
        *("transfer", "chain", "zeros", "--stages", "3", "--dataset", "svhn,cifar100", "--data-dir", str(data)),
        *("--protocol", "plain", "--preset", "paper-cifar10", "--val-size", "0", "--epochs", "1"),
        *("--batch-size", "16", "--device", "cpu", "--threads", "1", "--out", str(out), "--json"),
    ]


def start(data: Path, out: Path) -> subprocess.Popen:
    # a background job starts with SIGINT ignored, which Python keeps: give "Ctrl-C" its default back
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, *command(data, out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def cells(out: Path) -> dict | None:
    """(genome, data set) -> (test error, seconds) of every recorded training; None without a
    report; raises ValueError for a report that is not whole JSON."""
    path = out / "transfer.json"
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    return {
        (row["genome"], ds): (err, row["seconds"].get(ds))
        for row in report["rows"]
        for ds, err in row["test_error"].items()
        if err is not None
    } | ({("", "complete"): (True, None)} if report.get("complete") else {})


def reference(data: Path, workdir: Path) -> dict:
    out = workdir / "reference"
    proc = start(data, out)
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"reference transfer failed: {err.strip()[-300:]}")
    return cells(out) or {}


def _moment(proc: subprocess.Popen, out: Path, rng: random.Random) -> bool:
    """Wait for a random instant (0.5-8 s) or the k-th recorded training; False if it ended first."""
    if rng.random() < 0.5:
        end = time.time() + rng.uniform(0.5, 8.0)
        while time.time() < end:
            if proc.poll() is not None:
                return False
            time.sleep(0.01)
        return True
    try:
        base = len(cells(out) or {})
    except ValueError:
        base = 0
    target, t0 = base + rng.randint(1, 3), time.time()
    while time.time() - t0 < 300:
        if proc.poll() is not None:
            return False
        try:
            if len(cells(out) or {}) >= target:
                time.sleep(rng.uniform(0.0, 0.3))
                return proc.poll() is None
        except ValueError:
            pass  # read while being replaced: the rename makes the next read whole
        time.sleep(0.01)
    raise RuntimeError(f"{out}: no training recorded in 300 s")


def trial(n: int, data: Path, workdir: Path, rng: random.Random, ref: dict, signals=("kill", "term", "int")) -> dict:
    out = workdir / f"transfer-{n:02d}"
    proc: subprocess.Popen | None = start(data, out)
    wanted, stops, problems, tracebacks, sent = rng.randint(1, 3), 0, [], [], {}
    kept: dict = {}
    outcomes = {"resumed": 0, "absent": 0, "finished": 0}
    while stops < wanted and proc is not None:
        if not _moment(proc, out, rng):
            break
        name = rng.choice(signals)
        proc.send_signal(SIGNALS[name])
        try:
            _, err = proc.communicate(timeout=GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=30)
            problems.append(f"still running {GRACE:.0f} s after {name}")
        stops += 1
        sent[name] = sent.get(name, 0) + 1
        if "Traceback" in (err or ""):
            lines = (err or "").strip().splitlines()
            frames = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
            tracebacks.append(f"{name}: {lines[-1][:80]} at {frames[-1][:140] if frames else '?'}")
        try:
            now = cells(out)
        except ValueError as exc:
            problems.append(f"transfer.json not whole after stop {stops} ({name}): {exc}")
            break
        if now is None:
            outcomes["absent"] += 1
        elif ("", "complete") in now:
            outcomes["finished"] += 1
        else:
            outcomes["resumed"] += 1
        for key, value in (now or {}).items():
            if key != ("", "complete"):
                kept.setdefault(key, value)
        proc = None if now and ("", "complete") in now else start(data, out)
    if proc is not None:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            problems.append(f"last run exit {proc.returncode}: {(err or '').strip()[-200:]}")
    try:
        final = cells(out) or {}
    except ValueError as exc:
        final = {}
        problems.append(f"final transfer.json unreadable: {exc}")
    if ("", "complete") not in final:
        problems.append("the report is not complete")
    for key, value in kept.items():
        if final.get(key) != value:
            problems.append(f"{key} changed after a stop: {value} -> {final.get(key)} (trained again?)")
    if {k: v[0] for k, v in final.items()} != {k: v[0] for k, v in ref.items()}:
        problems.append("test errors differ from the uninterrupted transfer")
    left = [p.name for p in out.iterdir() if p.name.endswith((".tmp", ".probe"))] if out.is_dir() else []
    if left:
        problems.append(f"temporary files left: {', '.join(left)}")
    return {
        "trial": n,
        "mode": "transfer",
        "kills": stops,
        "signals": sent,
        "outcomes": outcomes,
        "resumes": outcomes["resumed"] + outcomes["absent"],
        "kills_during_evaluation": stops - outcomes["finished"],
        "kept": len(kept),
        "evaluations": len(final) - (("", "complete") in final),
        "generations": 0,
        "ok": not problems,
        "problems": problems,
        "tracebacks": tracebacks,
    }


def run(trials: int, seed: int, signals=("kill", "term", "int"), quiet: bool = False) -> list[dict]:
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="kill-transfer-") as tmp:
        work = Path(tmp)
        data = write_data(work / "data")
        ref = reference(data, work)
        for n in range(trials):
            r = trial(n, data, work, rng, ref, signals)
            results.append(r)
            if not quiet:
                print(
                    f"trial {n:2d} transfer stops {r['kills']} {r['signals']} -> {r['outcomes']} kept "
                    f"{r['kept']}/{r['evaluations']} recorded trainings  "
                    f"{'ok' if r['ok'] else 'FAILED: ' + '; '.join(r['problems'])}"
                    f"{'' if not r['tracebacks'] else ' (tracebacks: ' + '; '.join(r['tracebacks']) + ')'}",
                    flush=True,
                )
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--signals", default="kill,term,int")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    a = ap.parse_args()
    t0 = time.time()
    results = run(a.trials, a.seed, tuple(a.signals.split(",")))
    failed = sum(not r["ok"] for r in results)
    summary = {
        "trials": len(results),
        "stops": sum(r["kills"] for r in results),
        "outcomes": {o: sum(r["outcomes"][o] for r in results) for o in ("resumed", "absent", "finished")},
        "trainings_kept_across_stops": sum(r["kept"] for r in results),
        "failed_trials": failed,
        "tracebacks": [t for r in results for t in r["tracebacks"]],
        "seconds": round(time.time() - t0),
    }
    print(f"\n{json.dumps(summary) if a.json else summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
