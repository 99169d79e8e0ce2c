"""Redraw time of the TUI's genome editor after a bit toggle (target: under 50 ms).

Runs the real app headless (App.run_test) and toggles N bits. For each toggle
it times, from the moment the key is handed to the app, until the last screen
update that follows it is written (``App._display``, where Textual hands the
composed frame to the terminal driver): the key dispatch, the editor's
recompute (decode, complexity, structure hash, sharing counts, drawings) and
Textual's layout and compositing. Pilot's own waiting after the frame is
excluded; for scale, a key bound to nothing is timed the same way. Also
reports the editor's own share (``EditorPane.last_redraw_ms``). Medians, for
the paper's (3,4,5) genome and the 40-layer residual-40 (11,11,11) genome.
The stage drawings' layouts are cached per stage, so a toggle lays out one
stage afresh at most; the cold cost of one layout is printed last.

    .venv/bin/python benchmarks/bench_tui.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

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


_toggle = EditorPane.action_toggle_bit


def timed_toggle(self) -> None:
    self.app.action_start = time.perf_counter()
    _toggle(self)


EditorPane.action_toggle_bit = timed_toggle


async def measure(genome: gn.Genome, n: int, size=(80, 24)) -> dict[str, list[float]]:
    app = TimedApp(genome=genome)
    out: dict[str, list[float]] = {"key": [], "first": [], "last": [], "editor": []}
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
            after = [f for f in app.frames if f > app.action_start]
            out["key"].append((after[-1] - start) * 1000)
            out["first"].append((after[0] - app.action_start) * 1000)
            out["last"].append((after[-1] - app.action_start) * 1000)
            out["editor"].append(app.editor.last_redraw_ms)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    import os

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work inflates these times)")
    print("medians in ms; p90 of the action-to-last-frame time in brackets")
    print(
        f"{'genome':<11} {'terminal':<8} {'n':>3} {'action->1st frame':>17} {'action->last frame':>22}"
        f" {'editor compute':>14} {'pilot key->last':>15}"
    )
    for name, genome in (("paper-best", gn.paper_best()), ("residual-40", gn.residual_40())):
        for size in ((80, 24), (160, 48)):
            r = asyncio.run(measure(genome, n, size))
            med = {k: statistics.median(v) for k, v in r.items()}
            p90 = sorted(r["last"])[int(0.9 * (n - 1))]
            print(
                f"{name:<11} {size[0]}x{size[1]:<5} {n:>3} {med['first']:>17.1f} {med['last']:>13.1f} [{p90:>6.1f}]"
                f" {med['editor']:>14.1f} {med['key']:>15.1f}"
            )
    layout_cost()


def layout_cost() -> None:
    """Median cold time of one stage layout (``stage_art`` with its cache cleared)."""
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
    main()
