"""Process plumbing every layer may use: a worker process that dies with its parent.

A base utility like :mod:`genet_lab.errors` and :mod:`genet_lab.fileio`: imports nothing of
genet_lab, so the evolution's worker pools and the benchmark build's workers share it.
"""

from __future__ import annotations


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
