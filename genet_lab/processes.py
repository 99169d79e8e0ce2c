"""Process plumbing every layer may use: a worker process that dies with its parent, and a front
end's child (a run the TUI started, perhaps paused) that ends when the front end is gone.

A base utility like :mod:`genet_lab.errors` and :mod:`genet_lab.fileio`: imports nothing of
genet_lab, so the evolution's worker pools and the benchmark build's workers share it.
"""

from __future__ import annotations

from pathlib import Path


def exit_with_parent(parent: int, poll: float = 1.0) -> None:
    """Make this worker process end when the coordinating process ``parent`` dies, even by kill -9
    (a worker left behind would hold its memory, up to a GB of data, for ever).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, so the kernel signals the worker at once. Everywhere:
    a daemon thread that checks every ``poll`` seconds whether the parent pid changed (the worker
    was re-parented) and exits the process. The parent may have died before either was in place:
    that is checked once the signal is armed."""
    import os
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="genet-lab-parent-watchdog", daemon=True).start()


PARENT_ENV = "GENET_LAB_PARENT"
"""Set by a front end to its pid in the environment of a command it starts and controls (the TUI's
and the widgets' ``evolve --resume``): that command ends when the front end does (:func:`follow_parent`)."""


def follow_parent(parent: int, poll: float = 0.5, grace: float = 30.0) -> None:
    """End this process when the front end ``parent`` that controls it is gone, even while it is
    paused (SIGSTOPped): a paused child left behind would hold its run's lock for ever.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGCONT)``, so the kernel wakes a stopped child as the parent
    dies (harmless otherwise, and harmless if it fires early: it continues a running process).
    Everywhere: a daemon thread that sees its parent change (re-parented) or the front end gone and
    sends this process SIGTERM, which a command turns into a clean stop (its store closed, as on
    Ctrl-C); after ``grace`` seconds it exits outright. The parent may have died before either
    was in place: the watchdog's first look sees it."""
    import os
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGCONT), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watchdog below still works once something continues the process

    def orphaned() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(143)

    first = os.getppid()  # the front end itself, or a launcher between them (then: the front end's pid gone)

    def gone() -> bool:
        if os.getppid() != first:
            return True
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def watch() -> None:
        while not gone():
            time.sleep(poll)
        orphaned()

    threading.Thread(target=watch, name="genet-lab-front-end-watchdog", daemon=True).start()


def follow_parent_from_env() -> None:
    """:func:`follow_parent` when :data:`PARENT_ENV` names a parent (the variable is removed, so the
    processes this one starts do not inherit it)."""
    import os

    text = os.environ.pop(PARENT_ENV, "")
    if text.isdigit():
        follow_parent(int(text))


def process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of process ``pid`` from /proc (Linux), None when it does not exist
    or cannot be read (``Z`` is a zombie, ``T``/``t`` stopped)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[1])
    except (IndexError, ValueError):
        return None
