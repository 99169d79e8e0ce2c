"""Redraw time of the TUI's genome editor after a bit toggle (target: under 50 ms).

Runs the real app headless (App.run_test) and toggles N bits. For each toggle
it times, from the moment the toggle action starts, until the last screen
update that follows it is written (``App._display``, where Textual hands the
composed frame to the terminal driver): the editor's recompute (decode,
complexity, structure hash, sharing counts, drawings) and Textual's layout and
compositing, and counts the frames a toggle draws (one is enough). Pilot's own
waiting after the frame is excluded; the time from the key to the last frame
is printed too. Also reports the editor's own share
(``EditorPane.last_redraw_ms``). Medians, for the paper's (3,4,5) genome and
the 40-layer residual-40 (11,11,11) genome. The cold cost of one stage layout
is printed last.

``--baseline REV`` measures the code of git revision REV too, in the same run
(a temporary ``git worktree``; nothing in the working tree is touched): each
case runs in a child process per tree, the trees alternating, so both see the
same machine load.

    .venv/bin/python benchmarks/bench_tui.py [N] [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENOMES = ("paper-best", "residual-40")
SIZES = ((80, 24), (160, 48))


async def measure(name: str, n: int, size: tuple[int, int]) -> dict[str, list[float]]:
    """Toggle ``n`` bits of genome ``name`` in the app at ``size``; times in ms and frames per toggle."""
    from genet_lab.encoding import genome as gn
    from genet_lab.tui.app import GenetLabApp
    from genet_lab.tui.editor import EditorPane

    class TimedApp(GenetLabApp):
        """The app, noting when each frame reaches the driver and when the toggle action starts."""

        frames: list[float] = []
        action_start = 0.0

        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            self.frames.append(time.perf_counter())

    toggle = EditorPane.action_toggle_bit

    def timed_toggle(self) -> None:
        self.app.action_start = time.perf_counter()
        toggle(self)

    EditorPane.action_toggle_bit = timed_toggle  # type: ignore[method-assign]
    app = TimedApp(genome=gn.named(name))
    out: dict[str, list[float]] = {"key": [], "first": [], "last": [], "editor": [], "frames": []}
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for i in range(n):
            await pilot.press("right" if i % 2 else "left")
            await pilot.pause()
            app.frames = []
            start = time.perf_counter()
            await pilot.press("space")
            await pilot.pause()
            await pilot.pause(0.05)  # a second frame, if any, comes within this
            after = [f for f in app.frames if f > app.action_start]
            out["key"].append((after[-1] - start) * 1000)
            out["first"].append((after[0] - app.action_start) * 1000)
            out["last"].append((after[-1] - app.action_start) * 1000)
            out["editor"].append(app.editor.last_redraw_ms)
            out["frames"].append(len(after))
    return out


def run_case(tree: Path, name: str, n: int, size: tuple[int, int]) -> dict[str, list[float]]:
    """:func:`measure` in a child process that imports genet_lab from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "GENET_LAB_NO_WARM": "1"}
    argv = [sys.executable, __file__, "--child", name, str(n), f"{size[0]}x{size[1]}"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label: str, r: dict[str, list[float]]) -> str:
    med = {k: statistics.median(v) for k, v in r.items()}
    n = len(r["last"])
    p90 = sorted(r["last"])[int(0.9 * (n - 1))]
    frames = ",".join(str(int(f)) for f in sorted(set(r["frames"])))
    return (
        f"{label:<32} {n:>3} {med['first']:>9.1f} {med['last']:>9.1f} [{p90:>6.1f}] {med['frames']:>6.1f} "
        f"({frames:>3}) {med['editor']:>8.1f} {med['key']:>9.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=40, help="toggles per case (default 40)")
    ap.add_argument("--baseline", metavar="REV", help="also measure git revision REV, in the same run")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work inflates these times)")
    print("medians in ms; p90 of the action-to-last-frame time in brackets; frames per toggle (all counts seen)")
    print(
        f"{'code / genome / terminal':<32} {'n':>3} {'->1st':>9} {'->last':>9} {'[p90]':>8} {'frames':>6} "
        f"{'':>5} {'editor':>8} {'key->last':>9}"
    )
    trees = [("this tree", ROOT)]
    base = None
    if args.baseline:
        base = Path(tempfile.mkdtemp(prefix="bench-tui-base-"))
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline], check=True)
        trees.insert(0, (f"baseline {args.baseline}", base))
    try:
        for name in GENOMES:
            for size in SIZES:
                for label, tree in trees:
                    r = run_case(tree, name, args.n, size)
                    print(row(f"{label[:16]:<16} {name:<11} {size[0]}x{size[1]}", r), flush=True)
    finally:
        if base is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    layout_cost()


def layout_cost() -> None:
    """Median cold time of one stage layout (``stage_art`` with its cache cleared)."""
    from genet_lab.encoding import genome as gn
    from genet_lab.encoding.ascii_graph import stage_art

    for name, genome in (
        ("paper-best S3", gn.paper_best()),
        ("dense K=6", gn.dense((6,))),
        ("residual-40 S1", gn.residual_40()),
    ):
        last = genome.num_stages - 1
        k, bits = genome.stages[last], genome.stage_bits(last)
        times = []
        for _ in range(20):
            stage_art.cache_clear()
            start = time.perf_counter()
            stage_art(k, bits)
            times.append((time.perf_counter() - start) * 1000)
        print(f"stage layout, cold: {name:<15} {statistics.median(times):6.2f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        width, height = map(int, sys.argv[4].split("x"))
        print(json.dumps(asyncio.run(measure(sys.argv[2], int(sys.argv[3]), (width, height)))))
    else:
        main()
