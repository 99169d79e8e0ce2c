"""Named training recipes: the values of :class:`~genet_lab.training.config.TrainConfig` that
say *how* to train (optimiser, schedule, regularisation), apart from the budget (epochs,
batch size, images) a data set gets. Plain data, no torch, so a search config can name and
check a recipe without importing the trainer.

``fast`` is the default: chosen by ``benchmarks/bench_fitness.py`` (docs/training.md and
docs/benchmarks.md have the figures), because at a laptop's budget of a few epochs the
paper's recipe mostly measures which network trains fastest and the seed's luck, not which
is better. ``paper`` is section 4.1.1 as written. ``legacy`` is what genet-lab 0.1 used
before recipes existed; runs stored then resume with it.
"""

from __future__ import annotations

from typing import Any

from genet_lab.errors import ConfigError

SCHEDULES = ("paper", "paper-full", "onecycle", "cosine", "constant")
"""Learning-rate schedules (:func:`~genet_lab.training.config.lr_factor` defines them)."""

PAPER_EPOCHS = (120, 60, 40, 20)
"""Section 4.1.1: epochs at learning rates 1e-2, 1e-3, 1e-4 and 1e-5."""
PAPER_FULL_EPOCHS = sum(PAPER_EPOCHS)
"""240: the only length the paper-full schedule trains (:func:`check_paper_full`)."""

RECIPES: dict[str, dict[str, Any]] = {
    # No dropout in the head, label smoothing 0.1, one-cycle at a 0.05 peak, Nesterov momentum.
    "fast": dict(
        schedule="onecycle", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, label_smoothing=0.1, dropout=0.0
    ),
    # Section 4.1.1: D0.5 after FC32; SGD at 1e-2 for 120 epochs, then 1e-3, 1e-4, 1e-5 for 60, 40
    # and 20 (scaled to the epochs asked for unless the schedule is paper-full). Momentum 0.9 and
    # weight decay 5e-4 are not in the paper: the usual values of its time (docs/training.md).
    "paper": dict(
        schedule="paper", lr=0.01, momentum=0.9, nesterov=False, weight_decay=5e-4, label_smoothing=0.0, dropout=0.5
    ),
    # genet-lab 0.1: cosine with a 5% warm-up at the data set's lr (0.02 on digits, else 0.05),
    # the head's 0.5 dropout, plain momentum, no label smoothing.
    "legacy": dict(
        schedule="cosine", momentum=0.9, nesterov=False, weight_decay=5e-4, label_smoothing=0.0, dropout=0.5
    ),
}
"""Every TrainConfig field each recipe sets."""

DEFAULT_RECIPE = "fast"

RECIPE_HELP = (
    "fast (default: no head dropout, label smoothing 0.1, one-cycle lr, Nesterov), paper (section "
    "4.1.1: dropout 0.5, 1e-2 with steps), legacy (genet-lab 0.1); see docs/training.md"
)
"""The recipes in one line, for the command-line help of every command that trains."""


def check_recipe(name: str) -> str:
    """``name`` if it names a recipe, else the one-line :class:`ConfigError` every caller gives."""
    if name not in RECIPES:
        raise ConfigError("recipe", name, accepted=RECIPES, what="recipe")
    return name


def check_paper_full(schedule: str | None, epochs: int | None) -> None:
    """The paper-full schedule counts the paper's steps in absolute epochs (1e-2 up to epoch 120,
    1e-3 to 180, 1e-4 to 220, 1e-5 to 240), so a shorter run would never leave 1e-2 and a longer
    one would train on at 1e-5: both are refused with a one-line :class:`ConfigError` on
    ``epochs`` that names the scaled schedule (paper) instead."""
    if schedule == "paper-full" and epochs is not None and epochs != PAPER_FULL_EPOCHS:
        raise ConfigError(
            "epochs",
            epochs,
            template=f"schedule paper-full is the paper's {PAPER_FULL_EPOCHS} epochs (120/60/40/20 at "
            "1e-2..1e-5), got {value} epochs: use {schedule} paper (the same steps scaled to "
            f"{{value}} epochs) or {{option}} {PAPER_FULL_EPOCHS}",
            also=("schedule",),
        )
