"""The five notebooks in JupyterLab, in headless Chromium, run and used as a person would.

Each test opens a fresh copy of a notebook, runs all cells with ``GENET_LAB_BUDGET=ci`` (the
kernel spec sets it), fails on any browser console error or traceback in an output, then uses
the notebook's widgets with the mouse and keyboard and checks what the page shows. Screenshots
of each widget go to the ``screenshots`` folder (``$GENET_LAB_SCREENSHOTS``). See conftest.py
for the server, the browser and what they need.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright").expect

# Records (bar width, the bar's label, status line) of the TrainPanel each time one changes, from
# before the panel exists (so the runs of Run All are seen too) to the end of the test.
_WATCH_TRAIN_PANEL = """() => {
  window.__train = [];
  let last = null;
  setInterval(() => {
    const panel = document.querySelector('.genet-train-panel');
    const bar = panel && panel.querySelector('.genet-train-progress .progress-bar');
    const label = panel && panel.querySelector('.genet-train-progress .widget-label');
    const status = panel && panel.querySelector('.genet-train-status');
    if (!bar || !label || !status) return;
    // an empty description hides the label but leaves its old text in place
    const text = label.style.display === 'none' ? '' : label.textContent.trim();
    const now = [parseFloat(bar.style.width), text, status.innerText];
    if (JSON.stringify(now) !== last) { window.__train.push(now); last = JSON.stringify(now); }
  }, 10);
}"""

# Records every distinct "done/total" label of the EvolutionMonitor's run progress bar.
_WATCH_MONITOR = """() => {
  window.__monitor = [];
  setInterval(() => {
    for (const el of document.querySelectorAll('.jupyter-widgets .widget-label')) {
      const t = el.innerText.trim();
      if (/^\\d+\\/\\d+$/.test(t) && window.__monitor[window.__monitor.length - 1] !== t) window.__monitor.push(t);
    }
  }, 50);
}"""


def _shot(locator, folder, name: str) -> None:
    locator.evaluate("e => e.scrollIntoView({block: 'center'})")
    locator.screenshot(path=str(folder / name))
    assert (folder / name).stat().st_size > 1000


def _drawings(editor) -> list[str]:
    return editor.locator(".genet-stage-drawing").evaluate_all("els => els.map(e => e.innerHTML)")


def test_01_encoding_editor_redraws_only_the_toggled_stage(notebook_page, screenshots):
    nb = notebook_page("01_encoding")
    nb.run_all()
    nb.wait_all_done()
    nb.assert_clean()
    # graphviz drawings: show()'s six SVG outputs, and the two editors' 3 + 2 stages
    assert nb.page.locator(".jp-OutputArea-output[data-mime-type='image/svg+xml']").count() == 6
    assert nb.page.locator(".genet-stage-drawing svg").count() == 5
    editor = nb.page.locator(".genet-editor").first
    # the notebook's last cell pressed "zeros": every stage is one convolution, and shows in and out
    assert "0-00 0-00-000 0-00-000-0000" in editor.locator(".widget-html").first.inner_text()
    before = _drawings(editor)
    assert len(before) == 3
    for svg in before:
        texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
        assert "in" in texts and "out" in texts, texts
    _shot(editor, screenshots, "genome-editor-zeros.png")

    editor.locator("button[title^='bit 4: node 2 sums node 1']").click()  # stage 2, edge (1, 2)
    nb.page.wait_for_function(
        "([el, old]) => el.querySelectorAll('.genet-stage-drawing')[1].innerHTML !== old",
        arg=[editor.element_handle(), before[1]],
    )
    after = _drawings(editor)
    assert after[0] == before[0] and after[2] == before[2]  # only stage 2 was redrawn
    assert "Stage 2: 1-00-000" in after[1] and "identity" not in after[1]
    assert "0-00 1-00-000 0-00-000-0000" in editor.locator(".widget-html").first.inner_text()
    assert editor.locator("input").first.input_value() == "0-00 1-00-000 0-00-000-0000"

    editor.get_by_role("button", name="paper-best").click()
    nb.page.wait_for_function("el => el.innerText.includes('1-01 0-01-100 0-11-101-0001')", arg=editor.element_handle())
    _shot(editor, screenshots, "genome-editor.png")
    nb.assert_clean()


def _check_train_samples(samples: list) -> int:
    """The bar's label "epoch e/E" always beside a bar in ((e-1)/E, e/E]; a status "epoch e/E done"
    never beside a bar under e/E; the epoch never going back within a run. Returns how many
    samples were checked."""
    checked, last_epoch = 0, 0
    for width, label, status in samples:
        if status.startswith(("loading", "training ")):
            last_epoch = 0  # a new run
        m = re.fullmatch(r"epoch (\d+)/(\d+)", label)
        if not m:
            continue
        epoch, epochs = int(m[1]), int(m[2])
        assert 100 * (epoch - 1) / epochs < width <= 100 * epoch / epochs + 0.01, (width, label, status)
        done = re.match(r"epoch (\d+)/\d+ done", status)
        assert done is None or width >= 100 * int(done[1]) / epochs - 0.01, (width, label, status)
        assert epoch >= last_epoch, (width, label, status, "the epoch went back")
        last_epoch = epoch
        checked += 1
    return checked


def test_02_hand_design_train_panel_trains_and_stops(notebook_page, screenshots):
    nb = notebook_page("02_hand_design")
    nb.page.evaluate(_WATCH_TRAIN_PANEL)
    nb.run_all()
    nb.wait_all_done()
    nb.assert_clean()
    panel = nb.page.locator(".genet-train-panel")
    rows = panel.locator(".genet-train-table tbody tr")
    assert rows.count() == 7  # one per design, trained by the notebook
    assert _check_train_samples(nb.page.evaluate("window.__train")) >= 7 * 8
    _shot(panel, screenshots, "train-panel.png")

    plot_before = panel.locator(".genet-train-plot").get_attribute("src")
    panel.get_by_label("epochs").fill("40")  # long enough to be stopped by hand
    panel.get_by_label("epochs").press("Enter")
    nb.page.evaluate("window.__train = []")
    panel.get_by_role("button", name="Train").click()
    status = panel.locator(".genet-train-status")
    label = panel.locator(".genet-train-progress .widget-label")
    label.first.wait_for(timeout=60_000)
    # three epochs done: "epoch N/40" with N >= 4 (a fast epoch can pass one label between two polls)
    nb.page.wait_for_function(
        "el => { const m = /epoch (\\d+)\\/40/.exec(el.innerText); return m && +m[1] >= 4; }",
        arg=label.first.element_handle(),
        timeout=120_000,
    )
    bar = panel.locator(".genet-train-progress .progress-bar")
    assert 100 * 3 / 40 - 0.01 <= float(bar.evaluate("e => parseFloat(e.style.width)")) < 100
    assert re.fullmatch(r"epoch \d+/40", label.inner_text().strip())
    panel.get_by_role("button", name="Stop").click()
    status.filter(has_text="cancelled").wait_for(timeout=60_000)
    text = status.inner_text()
    assert "0.00%" not in text and "accuracy" not in text and "last validation" in text, text
    width = bar.evaluate("e => parseFloat(e.style.width)")
    assert 100 * 3 / 40 <= width < 100, width  # left where the run stopped
    rows.nth(7).wait_for()  # the table follows the status line
    assert rows.count() == 8 and "failed: cancelled" in rows.nth(7).inner_text()
    assert panel.locator(".genet-train-plot").get_attribute("src") != plot_before
    assert panel.get_by_role("button", name="Train").is_enabled()
    assert not panel.get_by_role("button", name="Stop").is_enabled()
    assert _check_train_samples(nb.page.evaluate("window.__train")) >= 3
    _shot(panel, screenshots, "train-panel-cancelled.png")
    nb.assert_clean()


def _run_watching_the_monitor(nb, final: str):
    """Run the whole notebook while recording the monitor's progress line: it must end at
    ``final``, never go back, say finished, and stop polling once the launched process has
    exited (up to one interval after the store says finished). Returns (evaluations seen, monitor)."""
    nb.page.evaluate(_WATCH_MONITOR)
    nb.run_all()
    nb.wait_all_done()
    nb.assert_clean()
    seen = nb.page.evaluate("window.__monitor")
    done = [int(t.split("/")[0]) for t in seen]
    assert seen and seen[-1] == final, seen
    assert done == sorted(done), seen  # never going back
    monitor = nb.page.locator(".jp-OutputArea-output .widget-vbox", has_text="genetic process").last
    assert "finished" in monitor.locator(".widget-html").first.inner_text()
    expect(monitor.get_by_role("button", name="auto-refresh")).not_to_have_class(
        re.compile("mod-active"), timeout=20_000
    )
    return done, monitor


def test_03_evolution_monitor_advances_and_seeder_seeds(notebook_page, screenshots):
    nb = notebook_page("03_evolution")
    # the monitor advanced while its cell was busy, then stopped polling at the end of the run
    done, monitor = _run_watching_the_monitor(nb, "12/12")  # N=4, T=2 under the CI budget
    assert len(set(done)) >= 3, done  # seen live
    assert not monitor.get_by_role("button", name="Stop run").is_enabled()
    assert monitor.locator("table tbody tr").count() == 3  # Table 1: generations 0, 1, 2
    _shot(monitor, screenshots, "evolution-monitor.png")
    # the best-so-far drawing scrolls in its own box: nothing of the monitor runs past its right edge
    assert max(over := _overflow(monitor)) <= 1, over

    seeder = nb.page.locator(".jp-OutputArea-output > .widget-vbox", has=nb.page.get_by_label("start"))
    start = seeder.get_by_label("start")
    offered = start.locator("option").all_inner_texts()
    assert "random" in offered and "zeros" in offered
    based = [m for m in offered if m not in ("random", "zeros", "file")]
    assert based, offered  # the start from a base genome (WRN)
    summary = seeder.locator(":scope > .widget-html").nth(1)  # after the error line
    for mode in ("zeros", *based, "random"):
        old = summary.inner_text()
        start.select_option(mode)
        seeder.get_by_role("button", name="seed").click()
        nb.page.wait_for_function("([el, old]) => el.innerText !== old", arg=[summary.element_handle(), old])
        text = summary.inner_text()
        assert text.startswith("6 individuals"), text  # N = SMALL_N of the CI budget
        if mode == "zeros":
            assert "1 distinct structure" in text and "mean 0.0 one-bits" in text, text
        elif mode == "random":
            assert "stages 3,4,5" in text, text
        else:
            assert "stages 3,4,5" not in text, text  # WRN-style stages
        assert seeder.locator("table tbody tr").count() == 6
        assert seeder.locator("svg").count() >= 1
        _shot(seeder, screenshots, f"population-seeder-{mode}.png")
        # wide drawings (residual-40: about 3,900 px) scroll inside the gallery and the table;
        # the seeder itself, controls included, never grows past the notebook's width
        assert max(over := _overflow(seeder)) <= 1, (mode, over)
    nb.assert_clean()


def _overflow(locator) -> list[float]:
    """How far (px) the element's content reaches past its own right edge, the element past its
    output cell's, and the cell's content past the cell."""
    return locator.evaluate("""el => {
        const cell = el.closest('.jp-OutputArea-output') || el.parentElement;
        return [el.scrollWidth - el.clientWidth, el.getBoundingClientRect().right
                - cell.getBoundingClientRect().right, cell.scrollWidth - cell.clientWidth];
    }""")


def test_04_paper_runs_clean(notebook_page, screenshots):
    nb = notebook_page("04_paper")
    nb.run_all()
    nb.wait_all_done()
    nb.assert_clean()
    text = "\n".join(nb.page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "GA ahead on" in text and "ga-zeros: 12 evaluations" in text
    assert nb.page.locator(".jp-OutputArea-output img").count() >= 3  # Figures 3, 4 and GA vs random


def test_05_whole_space_monitor_follows_the_table_run(notebook_page, screenshots):
    nb = notebook_page("05_whole_space")
    # the run on the table (N=20, T=50: seconds) watched by the monitor
    _, monitor = _run_watching_the_monitor(nb, "1020/1020")
    assert "table digits-334-e6" in monitor.locator(".widget-html").first.inner_text()  # the fitness's unit
    assert monitor.locator("table tbody tr").count() == 51  # Table 1: generations 0 to 50
    assert monitor.locator("img").count() >= 1  # Figure 3 (and the Pareto view)
    # the monitor with 51 rows is taller than the page: its top, Figure 3 beside the best so far
    _shot(monitor.locator(".widget-hbox", has=nb.page.locator(".genet-monitor-best")), screenshots, "monitor-table.png")
    assert max(over := _overflow(monitor)) <= 1, over

    text = "\n".join(nb.page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "is not of table digits-334-e6's space" in text  # paper-best, said in one line
    assert "random    regret minus the GA's" in text
    # the strategies' table and the estimators' table rendered as HTML tables from Markdown
    assert nb.page.locator(".jp-OutputArea-output table", has_text="winner's curse").count() == 1
    assert nb.page.locator(".jp-OutputArea-output table", has_text="noise ceiling").count() == 1
    # the landscape, the run against the truth, the anytime curves, the scatter plots
    figures = nb.page.locator(".jp-OutputArea-output[data-mime-type='image/png'] img")
    assert figures.count() == 4
    _shot(figures.nth(3), screenshots, "estimators-scatter.png")
    nb.assert_clean()
