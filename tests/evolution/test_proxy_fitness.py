"""``--fitness proxy:NAME``: a search scored by a zero-cost proxy (genet_lab.evolution.fitness's
ProxyFitness over genet_lab.training.proxies): config checks, determinism, a run end to end."""

from __future__ import annotations

import json

import pytest
from helpers import assert_rejected, run_cli

from genet_lab.encoding.genome import parse
from genet_lab.errors import ConfigError
from genet_lab.evolution.config import UNITS, SearchConfig
from genet_lab.evolution.fitness import ProxyFitness, make_fitness
from genet_lab.training import proxies


@pytest.mark.parametrize("name", list(proxies.PROXIES))
def test_every_proxy_is_a_fitness(name):
    config = SearchConfig(fitness=f"proxy:{name}", stages=(3, 3, 4)).resolve()
    assert config.fitness == f"proxy:{name}" and UNITS[config.fitness] == f"{name} score (no training)"


def test_an_unknown_proxy_is_one_line_listing_them():
    with pytest.raises(ConfigError) as info:
        SearchConfig(fitness="proxy:bogus").resolve()
    text = str(info.value)
    assert "\n" not in text and "'proxy:bogus'" in text and all(f"proxy:{n}" in text for n in proxies.PROXIES)
    err = assert_rejected(["evolve", "--fitness", "proxy:bogus", "-N", "2", "-T", "0"], "--fitness", "proxy:bogus")
    assert all(f"proxy:{n}" in err for n in proxies.PROXIES)
    assert_rejected(["evolve", "--fitness", "proxy:snip", "--eval-test", "-N", "2", "-T", "0"], "--eval-test")


def test_proxy_fitness_is_the_proxy_of_the_evaluations_seed():
    fit = ProxyFitness("digits", proxy="grad_norm", batch=16)
    assert fit.proxy == "grad_norm" and fit.unit == "grad_norm score (no training)"
    g = parse("1-01 0-11 1-00-011", (3, 3, 4))
    a, b, c = fit.evaluate(g, 7), fit.evaluate(g, 7), fit.evaluate(g, 8)
    assert a.accuracy == b.accuracy != c.accuracy and not a.failed
    x, y = proxies.minibatch(fit.data, 16, 7)
    assert a.accuracy == proxies.score("grad_norm", g, fit.net_config, x, y, 7)
    plain = make_fitness(SearchConfig(fitness="proxy", stages=(3, 3, 4)).resolve())
    assert isinstance(plain, ProxyFitness) and plain.proxy == "naswot" and plain.unit == UNITS["proxy"]


def test_a_non_finite_score_fails_the_individual(monkeypatch):
    fit = ProxyFitness("digits", proxy="jacob_cov", batch=8)
    monkeypatch.setattr(proxies, "score", lambda *a, **k: float("nan"))
    ev = fit.evaluate(parse("0-00 0-00 0-00-000", (3, 3, 4)), 1)
    assert ev.failed and ev.accuracy == 0.0 and "jacob_cov" in ev.error


def test_a_search_with_a_proxy_completes_and_reports(tmp_path):
    run = tmp_path / "r"
    argv = ["random-search", "--fitness", "proxy:synflow", "-N", "3", "-T", "1", "--stages", "3,3,4",
            "--run-dir", str(run)]  # fmt: skip
    rc, out, err = run_cli(argv)
    assert rc == 0, err
    assert "6/6 evaluations" in out
    rc, out, err = run_cli(["report", str(run), "--json"])
    assert rc == 0, err
    data = json.loads(out)
    text = json.dumps(data)
    assert "proxy:synflow" in text and "synflow score (no training)" in text
