"""The ``genet-lab train`` command that reproduces one evaluation of a stored run.

An evaluation of a ``train`` fitness is one training of
:class:`~genet_lab.evolution.fitness.TrainFitness`: the run's data split (the run's seed), network
preset and training config (the search's overrides, fp32 and channels-last off pinned as the
fitness pins them), with the evaluation's own seed for the weights and batches, on the device it
recorded, on :data:`~genet_lab.evolution.config.EVAL_THREADS` thread(s) (the evaluating process's
default; a run evaluated with other threads or batched reproduces up to float rounding only).
:func:`reproduce_evaluation` reads the run (read-only) and writes that command with
:mod:`genet_lab.bench.reproduce`; :func:`markdown` is the report's paragraph. Fitnesses without a
training (toy, proxy, a table's) have nothing to reproduce: a one-line error says so. No torch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from genet_lab.bench.reproduce import Reproduction, config_options
from genet_lab.errors import UsageError
from genet_lab.evolution.config import EVAL_THREADS, SearchConfig, table_ref
from genet_lab.evolution.records import Individual
from genet_lab.evolution.store import RunStore
from genet_lab.training import proxies

__all__ = ["markdown", "reproduce_evaluation"]

PINNED = {"precision": "fp32", "channels_last": "off"}
"""What TrainFitness pins unless the search sets it."""


def _no_training(config: SearchConfig) -> str | None:
    """Why the run's evaluations are no trainings (None when they are)."""
    ref = table_ref(config.fitness)
    if ref:
        return (
            f"its fitness reads recorded trainings of table {Path(ref).name}; reproduce an entry with "
            "'genet-lab bench show GENOME'"
        )
    if config.fitness == "toy":
        return "its fitness is toy, a function of the bits (a test aid)"
    proxy = proxies.fitness_proxy(config.fitness)
    if proxy is not None:
        return f"its fitness is {config.fitness}, the {proxy} score of the network at initialisation (no training)"
    return None


def _best(inds: list[Individual]) -> Individual:
    trained = [i for i in inds if i.state == "done" and not i.reused and i.accuracy is not None]
    if not trained:
        raise UsageError("the run has no finished training yet; nothing to reproduce")
    return max(trained, key=lambda i: (i.accuracy, -i.gen, -i.index))


def _pick(inds: list[Individual], at: tuple[int, int] | None) -> Individual:
    if at is None:
        return _best(inds)
    hit = next((i for i in inds if (i.gen, i.index) == at), None)
    if hit is None:
        gens = sorted({i.gen for i in inds})
        last = f"generations 0..{gens[-1]}" if gens else "no generations yet"
        raise UsageError(f"the run has no evaluation {at[0]}:{at[1]} ({last}; GEN:INDEX, both from 0)")
    if hit.state not in ("done", "failed"):
        raise UsageError(f"evaluation {at[0]}:{at[1]} has not finished (it is {hit.state}); nothing to reproduce yet")
    if hit.reused:
        sources = [f"{i.gen}:{i.index}" for i in inds if i.structure_key == hit.structure_key and not i.reused
                   and i.state == "done" and (i.gen, i.index) < at]  # fmt: skip
        raise UsageError(
            f"evaluation {at[0]}:{at[1]} trained nothing: it reused the mean accuracy of its structure's trained "
            f"evaluations ({', '.join(sources) or 'none left'}); reproduce one of those"
        )
    return hit


def reproduce_evaluation(run: str | Path, at: tuple[int, int] | None = None) -> dict[str, Any]:
    """The evaluation ``at`` = (generation, index) of ``run`` (default: the best single trained
    evaluation), what it recorded, and the train command that reproduces it (``command``, ``argv``)."""
    from genet_lab.training.config import default_train_config

    with RunStore(run, readonly=True) as st:
        config = SearchConfig.from_stored(st.config())
        inds = st.individuals()
    why = _no_training(config)
    if why:
        raise UsageError(f"run {run} has no training to reproduce: {why}")
    ind = _pick(inds, at)
    overrides = {**PINNED, "epochs": config.epochs, **config.train.to_dict()}
    cfg = default_train_config(config.dataset, **overrides, eval_test=config.eval_test, seed=ind.seed)
    device = ind.device if cfg.device == "auto" and ind.device else cfg.device
    cfg = replace(cfg, device=device, threads=cfg.threads or EVAL_THREADS)
    options: dict[str, Any] = {
        "stages": config.stages, "dataset": config.dataset, "data_dir": config.data_dir,
        "train_size": config.train_size, "val_size": config.val_size, "preset": config.preset,
        **config_options(cfg, config.dataset), "split_seed": config.seed,
    }  # fmt: skip
    rep = Reproduction(ind.genome, options)
    return {
        "run": str(run), "gen": ind.gen, "index": ind.index, "genome": ind.genome, "state": ind.state,
        "accuracy": ind.accuracy, "test_accuracy": ind.test_accuracy, "seed": ind.seed, "split_seed": config.seed,
        "device": device, "command": rep.command(), "argv": ["genet-lab", *rep.argv()],
    }  # fmt: skip


def markdown(run: str | Path) -> list[str]:
    """The report's paragraph: the command that reproduces the run's best single evaluation, or one
    line saying why there is none."""
    try:
        r = reproduce_evaluation(run)
    except UsageError as exc:
        return [f"Reproducing an evaluation: {exc}.", ""]
    acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}%"
    return [
        f"Reproducing the best single evaluation (generation {r['gen']}, #{r['index']}, {r['genome']}: "
        f"val. accuracy {acc}, seed {r['seed']}, split seed {r['split_seed']}); any other with "
        f"'genet-lab report RUN --reproduce GEN:INDEX':",
        "",
        "```",
        r["command"],
        "```",
        "",
    ]
