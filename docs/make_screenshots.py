"""Re-take the README's screenshots of the terminal lab (SVG from Textual, PNG through Chromium).

    .venv/bin/python docs/make_screenshots.py --run runs/digits/ga-s1 [--out assets] [--only genes,compare]

Writes, all at 120x36:

- ``tui-editor.{svg,png}``: the editor on the paper's best genome;
- ``tui-evolution.{svg,png}``: the evolution pane on the finished run RUN (``--run``, needed only
  for this one);
- ``tui-genes.{svg,png}``: the genes over time (``f`` three times) with the best structure drawn,
  of a GA at N=20, T=50 on the tabular benchmark: ``evolve --fitness table:digits-334-e6 -N 20
  -T 50 --seed 1`` (a few seconds: table look-ups), run into a temporary folder unless
  ``--genes-run`` names a finished one;
- ``tui-new-run.{svg,png}``: the New-run dialog filled in for aging evolution on that table;
- ``tui-compare.{svg,png}``: compare (``m``) of the paper's best genome with two bits flipped,
  drawings shown (``v``);
- ``tui-graphviz.{svg,png}``: the graphviz image of the paper's best genome (``i``; the
  half-cell fallback in a terminal without an image protocol).

``--only NAMES`` (comma-separated: editor, evolution, genes, new-run, compare, graphviz) re-takes
some of them. The PNGs are rendered by Debian's Chromium through Playwright (``--chromium`` to
point elsewhere). The widget screenshots come from the browser tests:
``GENET_LAB_SCREENSHOTS=DIR pytest tests/browser``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

from genet_lab.encoding import genome as gn
from genet_lab.tui.app import GenetLabApp

SIZE = (120, 36)
GENES_RUN = ["--fitness", "table:digits-334-e6", "-N", "20", "-T", "50", "--seed", "1"]
"""The run of ``tui-genes``: a GA on the digits table (the README's caption names it)."""


async def _editor(out: Path) -> Path:
    app = GenetLabApp(genome=gn.paper_best())
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        return Path(app.save_screenshot(filename="tui-editor.svg", path=str(out)))


async def _evolution(out: Path, run: Path) -> Path:
    app = GenetLabApp(run_dir=run)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one("#evolution-pane")
        for _ in range(300):  # up to 30 s for the store to be read
            if getattr(pane, "generations", None):
                break
            await pilot.pause(0.1)
        await pilot.press("down", "down")
        await app.workers.wait_for_complete()
        await pilot.pause(1.0)
        return Path(app.save_screenshot(filename="tui-evolution.svg", path=str(out)))


async def _until(pilot, ready, seconds: float = 30.0, what: str = "the TUI") -> None:
    for _ in range(int(seconds * 10)):
        if ready():
            return
        await pilot.pause(0.1)
    raise SystemExit(f"gave up waiting {seconds:.0f} s for {what}")


async def _genes(out: Path, run: Path) -> Path:
    app = GenetLabApp(run_dir=run)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one("#evolution-pane")
        await _until(
            pilot, lambda: len(getattr(pane, "generations", None) or ()) >= 51, what=f"the 51 generations of {run}"
        )
        await pilot.press("f", "f", "f")  # Figure 3 -> Pareto front -> the genes over time
        await app.workers.wait_for_complete()
        await pilot.pause(1.0)
        return Path(app.save_screenshot(filename="tui-genes.svg", path=str(out)))


async def _new_run(out: Path) -> Path:
    app = GenetLabApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "s")
        await pilot.pause()
        sc = app.screen
        for field, value in (
            ("#seed-kind", "aging"),
            ("#seed-fitness", "table:digits-334-e6"),
            ("#seed-n", "20"),
            ("#seed-t", "50"),
            ("#seed-sample-s", "5"),
            ("#seed-dir", "runs/aging-table"),
        ):
            sc.query_one(field).value = value
        await pilot.pause(0.5)
        if getattr(sc, "error", ""):
            raise SystemExit(f"the New-run dialog refused the screenshot's settings: {sc.error}")
        return Path(app.save_screenshot(filename="tui-new-run.svg", path=str(out)))


async def _compare(out: Path) -> Path:
    app = GenetLabApp(genome=gn.paper_best())
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        # m: compare with a copy; flip two bits of it, then v: the drawings side by side
        await pilot.press("m", "right", "space", "down", "down", "right", "right", "space", "v")
        await pilot.pause(0.5)
        return Path(app.save_screenshot(filename="tui-compare.svg", path=str(out)))


async def _graphviz(out: Path) -> Path:
    app = GenetLabApp(genome=gn.paper_best())
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("i")
        box = app.query_one("#graph-box")
        await _until(pilot, lambda: getattr(box, "rendered", None) is not None, what="the graphviz image")
        await pilot.pause(0.5)
        return Path(app.save_screenshot(filename="tui-graphviz.svg", path=str(out)))


def genes_run(folder: Path) -> Path:
    """The GA of ``tui-genes`` (:data:`GENES_RUN`), evolved into ``folder``/runs/ga-table; the
    relative path ``runs/ga-table`` is returned (the screenshot shows it), to open from ``folder``."""
    run = Path("runs", "ga-table")
    cmd = [sys.executable, "-m", "genet_lab", "evolve", *GENES_RUN, "--run-dir", str(run), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=folder)
    if done.returncode:
        raise SystemExit(f"could not evolve the genes run: {done.stderr.strip()[-300:]}")
    return run


def to_png(svgs: list[Path], chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(device_scale_factor=1)
        for svg in svgs:
            page.goto(svg.resolve().as_uri())
            png = svg.with_suffix(".png")
            page.locator("svg").first.screenshot(path=str(png))
            out.append(png)
        browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a finished run directory for the evolution pane (tui-evolution)")
    ap.add_argument("--genes-run", type=Path, help="a finished run for tui-genes (default: evolve GENES_RUN)")
    ap.add_argument("--only", default=",".join(SHOTS), help=f"comma-separated, of: {', '.join(SHOTS)}")
    ap.add_argument("--out", type=Path, default=Path("assets"))
    ap.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    args = ap.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in SHOTS]
    if unknown:
        ap.error(f"--only: unknown screenshot {', '.join(unknown)}; known: {', '.join(SHOTS)}")
    if "evolution" in only and args.run is None:
        ap.error("--run RUN is needed for tui-evolution (or leave it out: --only without evolution)")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    runs = {"evolution": args.run, "genes": args.genes_run}
    svgs = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in only:
            if name == "genes" and runs["genes"] is None:  # evolved here, opened as runs/ga-table
                runs["genes"] = genes_run(Path(tmp))
                with contextlib.chdir(tmp):
                    svgs.append(asyncio.run(_genes(out, runs["genes"])))
                continue
            svgs.append(asyncio.run(SHOTS[name](out, *([runs[name]] if name in runs else []))))
    for png in to_png(svgs, args.chromium):
        print(png)
    return 0


SHOTS = {
    "editor": _editor,
    "evolution": _evolution,
    "genes": _genes,
    "new-run": _new_run,
    "compare": _compare,
    "graphviz": _graphviz,
}
"""Screenshot name (``tui-NAME``) -> what takes it; evolution and genes also get their run."""


if __name__ == "__main__":
    raise SystemExit(main())
