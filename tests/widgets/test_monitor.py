"""EvolutionMonitor driven from code: a run created from a SearchConfig and run in a separate
process through the supervisor, watched, attached to, cancelled; a failed process; the figures."""

from __future__ import annotations

import time

import pytest

from genet_lab.encoding.draw import have_dot


def test_launch_takes_a_search_config_and_refuses_a_bad_one_before_anything_is_made(tmp_path):
    from genet_lab.errors import UsageError
    from genet_lab.evolution.config import SearchConfig
    from genet_lab.widgets import EvolutionMonitor
    from genet_lab.widgets.monitor import run_config

    assert run_config() == SearchConfig().resolve()  # SearchConfig's own defaults, resolved
    assert run_config(SearchConfig(population=4), generations=2) == SearchConfig(population=4, generations=2).resolve()
    with pytest.raises(UsageError, match="populaton"):
        EvolutionMonitor.launch(tmp_path / "typo", populaton=8)  # a typo is an error, not a field
    with pytest.raises(ValueError, match="pm"):
        EvolutionMonitor.launch(tmp_path / "bad", fitness="toy", pm=2)
    with pytest.raises(ValueError, match="kind"):
        EvolutionMonitor.launch(tmp_path / "bad", kind="evolution")
    assert not (tmp_path / "typo").exists() and not (tmp_path / "bad" / "run.sqlite").exists()
    random = SearchConfig(kind="random", fitness="toy", population=3, generations=1)
    mon = EvolutionMonitor.launch(tmp_path / "rs", random, seed=7, poll=False)  # a config and a field
    try:
        assert (
            mon.command[3:5] == ["random-search", "--resume"] and mon.config == random.with_overrides(seed=7).resolve()
        )
        snap = mon.wait(timeout=120, interval=0.2)
        assert snap.state == "finished" and snap.status.kind == "random" and snap.config["seed"] == 7
    finally:
        mon.close()


def test_monitor_launches_watches_and_reattaches(tmp_path):
    from genet_lab.evolution.store import RunStore
    from genet_lab.widgets import EvolutionMonitor

    run = tmp_path / "run"
    mon = EvolutionMonitor.launch(run, fitness="toy", population=6, generations=3, seed=2, interval=0.2, poll=False)
    assert mon.command[3:] == ["evolve", "--resume", str(run), "--json"]  # the run was created from the config
    assert (mon.config.population, mon.config.generations, mon.config.seed) == (6, 3, 2)
    snap = mon.wait(timeout=120, interval=0.2)
    assert snap.state == "finished" and mon.process.exit().returncode == 0
    with RunStore(run, readonly=True) as store:
        gens = store.generations()
        best = store.status().best
    assert [g.gen for g in snap.generations] == [0, 1, 2, 3]
    assert mon.table.value.count("<tr>") == 1 + len(gens)  # header + Table 1 rows
    assert f"{gens[-1].mean:.2f}" in mon.table.value and gens[-1].best in mon.table.value
    assert mon.plot.value[:4] == b"\x89PNG"
    assert best in mon.best.value
    if have_dot():
        assert "<svg" in mon.best.value
    assert mon.progress.value == mon.progress.max == 6 * 4
    assert "run finished" in mon.events_view.value
    mon.close()
    # attach to the finished run, refreshing from a background thread
    again = EvolutionMonitor(run, interval=0.1)
    again.start_polling()
    again._poller.join(timeout=30)
    assert not again._poller.is_alive() and again.state == again.snapshot.state == "finished"
    assert again.table.value == mon.table.value
    again.close()


def test_monitor_waits_for_a_run_and_cancels_it(tmp_path):
    from genet_lab.errors import UsageError
    from genet_lab.widgets import EvolutionMonitor

    early = EvolutionMonitor(tmp_path / "not-yet")
    assert early.refresh() is None and early.state == "waiting" and "waiting" in early.title.value
    run = tmp_path / "long"
    mon = EvolutionMonitor.launch(run, fitness="toy", population=4, generations=100_000, interval=0.2)
    deadline = time.monotonic() + 60
    while (mon.refresh() is None or len(mon.snapshot.generations) < 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mon.cancel() is not None
    snap = mon.refresh()
    assert not mon.process_running and snap.state == "stopped" and not mon.process.exit().failed
    assert len(snap.generations) >= 2
    assert mon.wait(timeout=10).state == "stopped"  # a cancelled run is not an error
    with pytest.raises(UsageError, match="already holds a run"):
        EvolutionMonitor.launch(run, fitness="toy")
    mon.close()


def _no_images(tmp_path):
    """A run whose process fails once it loads the data: an image folder with no class folder."""
    (tmp_path / "empty").mkdir()
    return dict(dataset="imagefolder", data_dir=str(tmp_path / "empty"), population=2, generations=0)


def test_monitor_polls_a_launched_run_until_its_process_ends(tmp_path):
    from genet_lab.widgets import EvolutionMonitor

    mon = EvolutionMonitor.launch(tmp_path / "run", fitness="toy", population=4, generations=2, interval=0.1)
    assert mon.auto.value and mon._poller.is_alive()
    mon._poller.join(timeout=60)
    assert not mon._poller.is_alive() and not mon.auto.value
    assert mon.state == "finished" and len(mon.snapshot.generations) == 3
    bad = EvolutionMonitor.launch(tmp_path / "bad", interval=0.1, **_no_images(tmp_path))
    bad._poller.join(timeout=120)  # a process that dies early ends the polling too
    assert not bad._poller.is_alive() and bad.state == "failed"
    mon.close()
    bad.close()


def test_monitor_reports_a_failed_run_process(tmp_path):
    from genet_lab.widgets import EvolutionMonitor

    mon = EvolutionMonitor.launch(tmp_path / "bad", interval=0.1, poll=False, **_no_images(tmp_path))
    with pytest.raises(RuntimeError, match=r"exited with status 2:\n(.*\n)*error: "):
        mon.wait(timeout=120)
    assert mon.state == "failed"
    assert "error:" in mon.events_view.value
    assert mon.process.exit().error.startswith("error: ")
    mon.close()


def test_run_process_kills_what_ignores_sigterm(tmp_path):
    import sys

    from genet_lab.supervisor import RunProcess

    stubborn = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('error: ignoring you', file=sys.stderr, flush=True); time.sleep(600)"
    )
    proc = RunProcess([sys.executable, "-c", stubborn])
    deadline = time.monotonic() + 30
    while "ignoring" not in proc.tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.pause()
    assert proc.paused
    ended = proc.stop(timeout=0.5)  # SIGTERM is ignored: SIGKILL after 0.5 s
    assert ended.returncode == -9 and ended.stopped and not ended.failed
    assert ended.error == "error: ignoring you" and not proc.running and not proc.paused
    proc.close()


def test_figure3_with_one_generation_has_integer_ticks():
    from genet_lab.widgets._render import figure3, figure_png

    for n in (1, 2, 11):
        fig = figure3([{"gen": g, "mean": 50.0, "min": 40.0, "max": 60.0} for g in range(n)])
        figure_png(fig)
        ax = fig.axes[0]
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), (n, ticks)
        assert lo < 0 and hi > n - 1
