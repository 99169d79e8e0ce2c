"""Kill `genet-lab evolve` at random moments (kill -9, SIGTERM, Ctrl-C), resume, and check that nothing was lost.

Usage: python benchmarks/kill_trials.py [--trials 52] [--seed 0] [--modes train,db,between,create,pause,transfer]
       [--signals kill,term,int] [--json]

Each trial starts `genet-lab evolve` in a fresh run directory, stops it with a signal drawn
from ``--signals`` (SIGKILL, SIGTERM, SIGINT as Ctrl-C sends it) one to three times (each
resume may be stopped again), then resumes it to the end. Four kinds of moment, cycled over
the trials:

* ``train``: a deterministic fitness that runs torch (``--fitness proxy``, the
  NASWOT score), stopped a random fraction of an evaluation after the k-th one;
* ``db``: ``--fitness toy`` with no delay, so the process spends its time in
  store transactions, stopped at a random instant;
* ``between``: ``--fitness toy`` with a small delay, stopped as soon as a new
  generation shows up as finished (breeding and storing the next one);
* ``create``: stopped a random 0-50 ms after the process first touches its run
  directory (creating it, its lock and its store; for a resume: opening them).
* ``pause``: the TUI's pause: ``evolve`` runs under a stand-in for the lab (a parent that starts
  it with ``GENET_LAB_PARENT``, as the TUI does), is paused (SIGSTOP) a random moment after an
  evaluation, and the lab is killed -9 a random 0-0.2 s later (the signal drawn from ``--signals``
  is not used). The paused child must be gone within :data:`GRACE` seconds with the run's lock
  free; the run then resumes (again under a lab that may be paused and killed).
* ``transfer``: ``transfer --out DIR`` stopped and run again (benchmarks/kill_transfer.py, whose
  checks it applies: a whole report after every stop, recorded trainings never trained again,
  the final table equal to an uninterrupted transfer's).

After every stop: either the store is intact (``PRAGMA
integrity_check`` is ``ok``, it opens read-only) and the run continues with ``--resume``,
or the run is cleanly absent (no store, or one that a new ``--run-dir`` start accepts) and the
same command starts it again; a run left neither resumable nor restartable is a dead end and
fails the trial. At the end: every evaluation finished before a stop kept its accuracy and its
finish time (it was not redone), each (generation, index) has exactly one
``IndividualEvaluated`` event, every evaluation is done, and the generations and individuals
equal those of an uninterrupted run of the same command. Prints one line per trial and a
summary; exit status 1 if any check failed. A traceback printed by a stopped process is
listed in the summary (the contract says none), but it fails no trial: the data is judged here.
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
from genet_lab.processes import process_state  # noqa: E402

MODES = {
    "train": dict(args=["--fitness", "proxy", "-N", "4", "-T", "3"], delay="0"),
    "db": dict(args=["--fitness", "toy", "-N", "30", "-T", "60"], delay="0"),
    "between": dict(args=["--fitness", "toy", "-N", "6", "-T", "8"], delay="0.02"),
    "create": dict(args=["--fitness", "toy", "-N", "6", "-T", "4"], delay="0.005"),
    "pause": dict(args=["--fitness", "toy", "-N", "6", "-T", "6"], delay="0.02"),
}
LAB = """
import os, signal, subprocess, sys, threading
child = subprocess.Popen(sys.argv[1:], env={**os.environ, "GENET_LAB_PARENT": str(os.getpid())},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
print(child.pid, flush=True)
def commands():
    for line in sys.stdin:
        child.send_signal(signal.SIGSTOP if line.strip() == "pause" else signal.SIGCONT)
threading.Thread(target=commands, daemon=True).start()
sys.stderr.write(child.communicate()[1])
sys.exit(child.returncode)
"""
"""A stand-in for the TUI (``pause`` mode): starts its argv as the lab starts a run, pauses or
continues it on the lines ``pause`` / ``continue`` of its stdin, exits with it."""
SIGNALS = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}
GRACE = 30.0
"""Seconds a process may take to exit after SIGTERM or SIGINT."""
VOLATILE_IND = ("seconds", "device")
VOLATILE_GEN = ("started", "finished")


def _start(args: list[str], delay: str, lab: bool = False) -> subprocess.Popen:
    env = {**os.environ, "GENET_LAB_TOY_DELAY": delay, "PYTHONPATH": str(ROOT)}
    if lab:  # under a stand-in for the TUI; its first stdout line is the run process's pid
        return subprocess.Popen(
            [sys.executable, "-c", LAB, sys.executable, "-m", "genet_lab", "evolve", *args, "--json"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored:
    # give the child the default back, or "Ctrl-C" would never reach it.
    return subprocess.Popen(
        [sys.executable, "-m", "genet_lab", "evolve", *args, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


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


def _listing(run: Path) -> set:
    try:
        return {(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in run.iterdir()} | {("", 0, 0)}
    except OSError:  # not there (yet), or a file went away while listed
        return set()


def _wait_create_moment(proc, run: Path, rng: random.Random, timeout: float) -> bool:
    """0-50 ms after the process first changes its run directory (made it, or touched a file in it)."""
    before, t0 = _listing(run), time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if _listing(run) != before:
            time.sleep(rng.uniform(0.0, 0.05))
            return proc.poll() is None
        time.sleep(0.001)
    raise RuntimeError(f"{run}: untouched after {timeout}s")


def _wait_kill_moment(proc, run: Path, mode: str, rng: random.Random, timeout: float = 120) -> bool:
    """Block until the chosen moment; False if the process finished first."""
    if mode == "create":
        return _wait_create_moment(proc, run, rng, timeout)
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


def _stop(proc: subprocess.Popen, sig: signal.Signals) -> tuple[int | None, str, str | None]:
    """Send ``sig`` and wait for the process: (exit status, stderr, a problem or None)."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        return proc.returncode, err or "", f"still running {GRACE:.0f} s after {sig.name}"
    return proc.returncode, err or "", None


def _traceback(err: str, sig: signal.Signals) -> str | None:
    """A traceback on stderr after ``sig``, summarised by its last frame and line; None without one."""
    if "Traceback" not in err:
        return None
    lines = [ln.strip() for ln in err.strip().splitlines()]
    frames = [ln for ln in lines if ln.startswith("File ")]
    return f"{sig.name}: {lines[-1][:80]} at {frames[-1][:120] if frames else '?'}"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux /proc)."""
    state = process_state(pid)
    return state is not None and state[0] != "Z"


def _writer(run: Path) -> bool:
    try:
        with RunStore(run, readonly=True) as st:
            return st.writer_alive()
    except Exception:  # not created yet
        return False


def _pause_and_kill_lab(lab: subprocess.Popen, run: Path, rng: random.Random) -> tuple[int, str, str | None]:
    """Pause the run under ``lab``, kill the lab -9 a moment later, and wait for the paused run to
    end by itself: (the lab's exit status, '', a problem or None)."""
    assert lab.stdout is not None and lab.stdin is not None
    child = int(lab.stdout.readline() or 0)
    t0 = time.time()
    while _alive(child) and not _writer(run) and time.time() - t0 < GRACE:
        time.sleep(0.005)  # paused once it holds the run (it has armed its watch on the lab by then)
    lab.stdin.write("pause\n")
    lab.stdin.flush()
    time.sleep(rng.uniform(0.0, 0.2))
    lab.kill()
    lab.communicate(timeout=30)
    t0 = time.time()
    while child and _alive(child) and time.time() - t0 < GRACE:
        time.sleep(0.05)
    if child and _alive(child):
        os.kill(child, signal.SIGKILL)
        return lab.returncode, "", f"the paused run (pid {child}) outlived its lab by {GRACE:.0f} s"
    return lab.returncode, "", None


def trial(
    n: int, mode: str, workdir: Path, rng: random.Random, seed: int, ref, signals: tuple[str, ...] = ("kill",)
) -> dict:
    run = workdir / f"trial-{n:02d}-{mode}"
    args = [*MODES[mode]["args"], "--seed", str(seed)]
    delay = MODES[mode]["delay"]
    lab = mode == "pause"
    proc = _start([*args, "--run-dir", str(run)], delay, lab)
    wanted = rng.randint(1, 3)
    kills, resumes, during_eval, problems, tracebacks = 0, 0, 0, [], []
    outcomes = {"resumed": 0, "absent": 0, "finished": 0}
    sent: dict[str, int] = {}
    finished_before: dict = {}
    while kills < wanted:
        if not _wait_kill_moment(proc, run, "db" if lab else mode, rng):
            break  # finished before the moment came
        name = "pause" if lab else rng.choice(signals)
        rc, err, problem = _pause_and_kill_lab(proc, run, rng) if lab else _stop(proc, SIGNALS[name])
        kills += 1
        sent[name] = sent.get(name, 0) + 1
        if problem:
            problems.append(f"stop {kills}: {problem}")
        noise = None if lab else _traceback(err, SIGNALS[name])
        if noise:  # reported, not failed: the run's data is what this soak test judges
            tracebacks.append(noise)
        status = _status(run)
        if status is None:  # no store, or one without a committed schema: the run must count as absent
            outcomes["absent"] += 1
            proc = _start([*args, "--run-dir", str(run)], delay, lab)
            continue
        try:
            gens, inds, evals, _, integrity = snapshot(run)
        except Exception as exc:
            problems.append(f"store unreadable after stop {kills} ({name}): {exc}")
            break
        if integrity != "ok":
            problems.append(f"integrity_check after stop {kills} ({name}): {integrity}")
        during_eval += any(state == "running" for state, _, _ in evals.values())
        for key, (state, acc, fin) in evals.items():
            if state in ("done", "failed"):
                finished_before.setdefault(key, (acc, fin))
        if status.state == "finished":  # the signal came as the run ended
            outcomes["finished"] += 1
            proc = None
            break
        outcomes["resumed"] += 1
        proc = _start(["--resume", str(run)], delay, lab)
        resumes += 1
    if proc is not None:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            dead_end = " (dead end: neither resumable nor absent)" if outcomes["absent"] else ""
            problems.append(f"last process exit {proc.returncode}{dead_end}: {err.strip()[-200:]}")
    try:
        gens, inds, evals, evaluated, integrity = snapshot(run)
    except Exception as exc:
        problems.append(f"store unreadable at the end: {' '.join(str(exc).split())[:200]}")
        return {
            "trial": n,
            "mode": mode,
            "kills": kills,
            "signals": sent,
            "outcomes": outcomes,
            "resumes": resumes,
            "kills_during_evaluation": during_eval,
            "kept": len(finished_before),
            "evaluations": 0,
            "generations": 0,
            "ok": False,
            "problems": problems,
            "tracebacks": tracebacks,
        }
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
    return {
        "trial": n,
        "mode": mode,
        "kills": kills,
        "signals": sent,
        "outcomes": outcomes,
        "resumes": resumes,
        "kills_during_evaluation": during_eval,
        "kept": len(finished_before),
        "evaluations": len(evals),
        "generations": len(gens),
        "ok": not problems,
        "problems": problems,
        "tracebacks": tracebacks,
    }


def run_trials(
    trials: int,
    seed: int = 0,
    modes=("train", "db", "between"),
    quiet: bool = False,
    signals: tuple[str, ...] = ("kill",),
) -> dict:
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="kill-trials-") as tmp:
        workdir = Path(tmp)
        refs = {m: reference(m, workdir, seed) for m in modes if m != "transfer"}
        if "transfer" in modes:  # transfer --out DIR: benchmarks/kill_transfer.py's trials
            import kill_transfer

            tdata = kill_transfer.write_data(workdir / "transfer-data")
            refs["transfer"] = kill_transfer.reference(tdata, workdir)
        for n in range(trials):
            mode = modes[n % len(modes)]
            if mode == "transfer":
                r = kill_transfer.trial(n, tdata, workdir, rng, refs[mode], signals)
            else:
                r = trial(n, mode, workdir, rng, seed, refs[mode], signals)
            results.append(r)
            if not quiet:
                print(
                    f"trial {n:2d} {mode:8s} stops {r['kills']} {r['signals']} -> {r['outcomes']} "
                    f"(during an evaluation: {r['kills_during_evaluation']}) "
                    f"resumes {r['resumes']} kept {r['kept']:4d}/{r['evaluations']} finished evaluations  "
                    f"{'ok' if r['ok'] else 'FAILED: ' + '; '.join(r['problems'])}"
                    f"{'' if not r['tracebacks'] else ' (tracebacks: ' + '; '.join(r['tracebacks']) + ')'}",
                    flush=True,
                )
    summary = {
        "trials": len(results),
        "kills": sum(r["kills"] for r in results),
        "resumes": sum(r["resumes"] for r in results),
        "kills_during_evaluation": sum(r["kills_during_evaluation"] for r in results),
        "evaluations_kept_across_kills": sum(r["kept"] for r in results),
        "failed_trials": sum(not r["ok"] for r in results),
        "tracebacks": [t for r in results for t in r["tracebacks"]],
        "by_mode": {m: sum(r["kills"] for r in results if r["mode"] == m) for m in modes},
        "by_signal": {g: sum(r["signals"].get(g, 0) for r in results) for g in (*signals, "pause")},
        "outcomes": {o: sum(r["outcomes"][o] for r in results) for o in ("resumed", "absent", "finished")},
        "results": results,
    }
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=52)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="train,db,between,create")
    ap.add_argument("--signals", default="kill,term,int", help="signals to stop with: kill, term, int")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    a = ap.parse_args()
    t0 = time.time()
    s = run_trials(a.trials, a.seed, tuple(a.modes.split(",")), signals=tuple(a.signals.split(",")))
    print(
        f"\n{s['trials']} trials, {s['kills']} stops ({s['by_mode']}; {s['by_signal']}; "
        f"{s['kills_during_evaluation']} with an evaluation running), afterwards {s['outcomes']}, "
        f"{s['resumes']} resumes, {s['evaluations_kept_across_kills']} finished evaluations "
        f"checked unchanged after resume, {s['failed_trials']} failed trials, {time.time() - t0:.0f} s"
    )
    for t in s["tracebacks"]:
        print(f"traceback printed after a stop (not a failure of the run's data): {t}")
    if a.json:
        print(json.dumps({k: v for k, v in s.items() if k != "results"}))
    return 1 if s["failed_trials"] else 0


if __name__ == "__main__":
    sys.exit(main())
