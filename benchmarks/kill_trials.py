"""kill -9 `genet-lab evolve` at random moments, resume, and check that nothing was lost.

Usage: python benchmarks/kill_trials.py [--trials 24] [--seed 0] [--modes train,db,between] [--json]

Each trial starts `genet-lab evolve` in a fresh run directory, kills it with SIGKILL
one to three times (each resume may be killed again), then resumes it to the end.
Three kinds of moment, cycled over the trials:

* ``train``: a deterministic fitness that runs torch (``--fitness proxy``, the
  NASWOT score), killed a random fraction of an evaluation after the k-th one;
* ``db``: ``--fitness toy`` with no delay, so the process spends its time in
  store transactions, killed at a random instant;
* ``between``: ``--fitness toy`` with a small delay, killed as soon as a new
  generation shows up as finished (breeding and storing the next one).

After every kill: ``PRAGMA integrity_check`` is ``ok`` and the store opens
read-only. At the end: every evaluation finished before a kill kept its
accuracy and its finish time (it was not redone), each (generation, index) has
exactly one ``IndividualEvaluated`` event, every evaluation is done, and the
generations and individuals equal those of an uninterrupted run of the same
command. The moment of each kill is classified from the store afterwards
(an evaluation left ``running`` or not). Prints one line per trial and a summary;
exit status 1 if any check failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genet_lab.evolution.records import RunStatus  # noqa: E402
from genet_lab.evolution.store import RunStore  # noqa: E402

MODES = {
    "train": dict(args=["--fitness", "proxy", "-N", "4", "-T", "3"], delay="0"),
    "db": dict(args=["--fitness", "toy", "-N", "30", "-T", "60"], delay="0"),
    "between": dict(args=["--fitness", "toy", "-N", "6", "-T", "8"], delay="0.02"),
}
VOLATILE_IND = ("seconds", "device")
VOLATILE_GEN = ("started", "finished")


def _start(args: list[str], delay: str) -> subprocess.Popen:
    env = {**os.environ, "GENET_LAB_TOY_DELAY": delay, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "genet_lab", "evolve", *args, "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _status(run: Path) -> RunStatus | None:
    try:
        with RunStore(run, readonly=True) as st:
            return st.status()
    except Exception:  # not created yet, or schema not committed yet
        return None


def snapshot(run: Path):
    with RunStore(run, readonly=True) as st:
        gens = [replace(g, **{k: None for k in VOLATILE_GEN}) for g in st.generations()]
        inds = [replace(i, **{k: None for k in VOLATILE_IND}) for i in st.individuals()]
        evals = st.evaluation_log()
        evaluated = [(e.gen, e.index) for _, e in st.events_since(0) if type(e).__name__ == "IndividualEvaluated"]
        integrity = st.integrity()
    return gens, inds, evals, evaluated, integrity


def _wait_kill_moment(proc, run: Path, mode: str, rng: random.Random, timeout: float = 120) -> bool:
    """Block until the chosen moment; False if the process finished first."""
    t0 = time.time()
    first = _status(run)
    target = None
    if mode == "train":
        base = first.evaluations_done if first is not None else 0
        target = base + rng.randint(1, 5)
    elif mode == "between":
        base_gen = None
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        st = _status(run)
        if st is not None:
            if mode == "db" and st.evaluations_done >= 1:
                time.sleep(rng.uniform(0.0, 0.35))
                return proc.poll() is None
            if mode == "train" and st.evaluations_done >= target:
                time.sleep(rng.uniform(0.0, 0.2))
                return proc.poll() is None
            if mode == "between":
                with RunStore(run, readonly=True) as s:
                    n = len(s.generations())
                if base_gen is None:
                    base_gen = n + rng.randint(0, 2)
                elif n > base_gen:
                    return proc.poll() is None
        time.sleep(0.005 if mode == "between" else 0.01)
    raise RuntimeError(f"{run}: no progress in {timeout}s")


def reference(mode: str, workdir: Path, seed: int):
    run = workdir / f"reference-{mode}"
    proc = _start([*MODES[mode]["args"], "--seed", str(seed), "--run-dir", str(run)], MODES[mode]["delay"])
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"reference run failed: {err}")
    return snapshot(run)


def trial(n: int, mode: str, workdir: Path, rng: random.Random, seed: int, ref) -> dict:
    run = workdir / f"trial-{n:02d}-{mode}"
    args = [*MODES[mode]["args"], "--seed", str(seed)]
    delay = MODES[mode]["delay"]
    proc = _start([*args, "--run-dir", str(run)], delay)
    wanted = rng.randint(1, 3)
    kills, resumes, during_eval, problems = 0, 0, 0, []
    finished_before: dict = {}
    while kills < wanted:
        if not _wait_kill_moment(proc, run, mode, rng):
            break  # finished before the moment came
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        if not (run / "run.sqlite").exists():
            proc = _start([*args, "--run-dir", str(run)], delay)  # killed before the store existed
            continue
        try:
            gens, inds, evals, _, integrity = snapshot(run)
        except Exception as exc:  # the schema itself may not be committed yet
            problems.append(f"store unreadable after kill {kills}: {exc}")
            break
        if integrity != "ok":
            problems.append(f"integrity_check after kill {kills}: {integrity}")
        during_eval += any(state == "running" for state, _, _ in evals.values())
        for key, (state, acc, fin) in evals.items():
            if state in ("done", "failed"):
                finished_before.setdefault(key, (acc, fin))
        proc = _start(["--resume", str(run)], delay)
        resumes += 1
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        problems.append(f"last process exit {proc.returncode}: {err.strip()[-200:]}")
    gens, inds, evals, evaluated, integrity = snapshot(run)
    if integrity != "ok":
        problems.append(f"final integrity_check: {integrity}")
    for key, (acc, fin) in finished_before.items():
        if evals.get(key, (None, None, None))[1:] != (acc, fin):
            problems.append(f"evaluation {key} changed after resume: {(acc, fin)} -> {evals.get(key)}")
    dup = len(evaluated) - len(set(evaluated))
    if dup:
        problems.append(f"{dup} evaluations recorded twice in the event log")
    if any(state != "done" for state, _, _ in evals.values()):
        problems.append("not every evaluation is done")
    if (gens, inds) != (ref[0], ref[1]):
        problems.append("final generations/individuals differ from the uninterrupted run")
    return {"trial": n, "mode": mode, "kills": kills, "resumes": resumes, "kills_during_evaluation": during_eval,
            "kept": len(finished_before), "evaluations": len(evals), "generations": len(gens),
            "ok": not problems, "problems": problems}


def run_trials(trials: int, seed: int = 0, modes=("train", "db", "between"), quiet: bool = False) -> dict:
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="kill-trials-") as tmp:
        workdir = Path(tmp)
        refs = {m: reference(m, workdir, seed) for m in modes}
        for n in range(trials):
            mode = modes[n % len(modes)]
            r = trial(n, mode, workdir, rng, seed, refs[mode])
            results.append(r)
            if not quiet:
                print(f"trial {n:2d} {mode:8s} kills {r['kills']} "
                      f"(during an evaluation: {r['kills_during_evaluation']}) "
                      f"resumes {r['resumes']} kept {r['kept']:4d}/{r['evaluations']} finished evaluations  "
                      f"{'ok' if r['ok'] else 'FAILED: ' + '; '.join(r['problems'])}", flush=True)
    summary = {"trials": len(results), "kills": sum(r["kills"] for r in results),
               "resumes": sum(r["resumes"] for r in results),
               "kills_during_evaluation": sum(r["kills_during_evaluation"] for r in results),
               "evaluations_kept_across_kills": sum(r["kept"] for r in results),
               "failed_trials": sum(not r["ok"] for r in results),
               "by_mode": {m: sum(r["kills"] for r in results if r["mode"] == m) for m in modes},
               "results": results}
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="train,db,between")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    a = ap.parse_args()
    t0 = time.time()
    s = run_trials(a.trials, a.seed, tuple(a.modes.split(",")))
    print(f"\n{s['trials']} trials, {s['kills']} kills -9 ({s['by_mode']}; {s['kills_during_evaluation']} with an "
          f"evaluation running), {s['resumes']} resumes, {s['evaluations_kept_across_kills']} finished evaluations "
          f"checked unchanged after resume, {s['failed_trials']} failed trials, {time.time() - t0:.0f} s")
    if a.json:
        print(json.dumps({k: v for k, v in s.items() if k != "results"}))
    return 1 if s["failed_trials"] else 0


if __name__ == "__main__":
    sys.exit(main())
