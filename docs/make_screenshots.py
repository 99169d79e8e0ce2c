"""Re-take the README's screenshots of the terminal lab (SVG from Textual, PNG through Chromium).

    .venv/bin/python docs/make_screenshots.py --run runs/digits/ga-s1 [--out assets]

Writes ``tui-editor.{svg,png}`` (the editor on the paper's best genome, 120x36) and
``tui-evolution.{svg,png}`` (the evolution pane on the finished run RUN, 120x36). The PNGs are
rendered by Debian's Chromium through Playwright (``--chromium`` to point elsewhere). The
widget screenshots come from the browser tests: ``GENET_LAB_SCREENSHOTS=DIR pytest tests/browser``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from genet_lab.encoding import genome as gn
from genet_lab.tui.app import GenetLabApp

SIZE = (120, 36)


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
    ap.add_argument("--run", type=Path, required=True, help="a finished run directory for the evolution pane")
    ap.add_argument("--out", type=Path, default=Path("assets"))
    ap.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    svgs = [asyncio.run(_editor(args.out)), asyncio.run(_evolution(args.out, args.run))]
    for png in to_png(svgs, args.chromium):
        print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
