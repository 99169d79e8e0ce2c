"""Seeding a population: the settings of a new run and a preview of generation 0.

The preview is the population itself: the exact genomes are drawn here with
the evolution engine's initialisation operators (numpy, no torch), written
to a file in the run directory and handed to ``genet-lab evolve --init FILE``,
so what the user saw is what the run starts from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import numpy as np
from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from genet_lab.encoding import genome as gn
from genet_lab.encoding.genome import Genome, parse_stages
from genet_lab.encoding.presets import list_presets
from genet_lab.evolution.config import CLI_DEFAULTS, FITNESS_KINDS, SearchConfig, TrainOverrides
from genet_lab.training.recipes import DEFAULT_RECIPE, RECIPES
from genet_lab.tui.train_panel import DATASETS

INIT_KINDS = ("random", "zeros", "residual-40", "editor", "paper-best", "file")
FITNESS = FITNESS_KINDS
NAMED_INITS = ("residual-40", "paper-best", "editor")
"""Inits that copy one genome: the stages are that genome's, not the stages field's."""

DEFAULTS: dict[str, str | bool] = {
    "seed-init": "random",
    "seed-p": "0.5",
    "seed-flips": "2",
    "seed-file": "",
    "seed-stages": "3,4,5",
    "seed-seed": "0",
    "seed-n": str(CLI_DEFAULTS["population"]),
    "seed-t": str(CLI_DEFAULTS["generations"]),
    "seed-fitness": "train",
    "seed-dataset": "digits",
    "seed-data-dir": "",
    "seed-preset": "paper-cifar10",
    "seed-epochs": str(CLI_DEFAULTS["epochs"]),
    "seed-recipe": DEFAULT_RECIPE,
    "seed-objective": "accuracy",
    "seed-eval-test": False,
}
"""The dialog's first values: ``genet-lab evolve``'s defaults (train on the embedded digits)."""


def seed_population(
    kind: str,
    n: int,
    stages: tuple[int, ...],
    *,
    p: float = 0.5,
    flips: int = 2,
    base: Genome | None = None,
    path: str | None = None,
    seed: int = 0,
) -> list[Genome]:
    """Generation 0 for ``kind``: random (bits ~ Bernoulli(p)), zeros, a base genome
    (residual-40, paper-best, editor) with ``flips`` bits flipped per copy, or a file's genomes."""
    from genet_lab.evolution import operators as ops

    rng = np.random.default_rng(seed)
    if kind == "file":
        if not path:
            raise ValueError("give the path of a genome file (one genome a line)")
        genomes = ops.read_genome_file(path)
        if len(genomes) != n:
            raise ValueError(f"{path} lists {len(genomes)} genomes; set N to {len(genomes)}")
        return genomes
    if kind in ("residual-40", "paper-best", "editor"):
        if kind != "editor":
            start = gn.named(kind)
        elif base is None:
            raise ValueError("no genome in the editor")
        else:
            start = base
        return ops.to_genomes(ops.init_from_base(start, n, rng, flips), start.stages)
    length = sum(gn.stage_length(k) for k in stages)
    if kind == "zeros":
        return ops.to_genomes(ops.init_zeros(n, length), stages)
    if kind == "random":
        return ops.to_genomes(ops.init_random(n, length, rng, p), stages)
    raise ValueError(f"unknown initialisation {kind!r}; use one of {', '.join(INIT_KINDS)}")


class SeedScreen(ModalScreen[dict | None]):
    """Settings of a new run, with generation 0 previewed; dismissed with the run spec.

    ``values`` (widget id -> value, as :attr:`values` returns them) restores the last
    dialog's settings; the defaults are ``genet-lab evolve``'s.
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "start", "Start")]
    DEFAULT_CSS = """
    SeedScreen { align: center middle; }
    SeedScreen > Vertical { width: 100%; max-width: 110; height: 100%; max-height: 34;
                            border: thick $accent; background: $surface; padding: 0 1; }
    SeedScreen #seed-form { grid-size: 6; grid-columns: auto 1fr auto 1fr auto 1.4fr; grid-rows: 1;
                            grid-gutter: 0 1; height: auto; margin: 1 0 0 0; }
    SeedScreen #seed-form Label { color: $accent; text-style: bold; }
    SeedScreen #seed-dir { column-span: 3; }
    SeedScreen #seed-error { height: auto; max-height: 2; color: $error; }
    SeedScreen #seed-preview { height: 1fr; min-height: 3; border: round $primary; padding: 0 1;
                               overflow-y: auto; }
    SeedScreen #seed-buttons { height: 1; }
    SeedScreen #seed-buttons Button { margin-right: 2; }
    """

    def __init__(
        self, editor_genome: Genome | None = None, run_dir: str | None = None, values: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.editor_genome = editor_genome
        self.run_dir = run_dir or f"runs/tui-{time.strftime('%Y%m%d-%H%M%S')}"
        self.initial: dict[str, Any] = {**DEFAULTS, **(values or {})}
        self.genomes: list[Genome] = []
        self._typed_stages = str(self.initial["seed-stages"])
        self.error = ""
        """The one-line error of the settings, shown in the dialog ('' when they are fine)."""

    def compose(self) -> ComposeResult:
        v = self.initial

        def choice(wid: str, options) -> Select[str]:
            value = v[wid] if v[wid] in options else DEFAULTS[wid]
            return Select([(o, o) for o in options], value=value, allow_blank=False, compact=True, id=wid)

        def text(wid: str, placeholder: str = "", **kw) -> Input:
            return Input(str(v[wid]), placeholder=placeholder, compact=True, id=wid, **kw)

        with Vertical():
            yield Label("[b]New run[/b]: generation 0 below is exactly what genet-lab evolve starts from")
            with Grid(id="seed-form"):
                yield Label("init")
                yield choice("seed-init", INIT_KINDS)
                yield Label("p")
                yield text("seed-p", tooltip="init random: probability of a 1 bit")
                yield Label("flips")
                yield text(
                    "seed-flips",
                    type="integer",
                    tooltip="init residual-40, paper-best, editor: bits flipped in each copy",
                )
                yield Label("stages")
                yield text("seed-stages", "3,4,5")
                yield Label("file")
                yield text("seed-file", "genomes.txt")
                yield Label("seed")
                yield text("seed-seed", type="integer")
                yield Label("N")
                yield text("seed-n", type="integer")
                yield Label("T")
                yield text("seed-t", type="integer")
                yield Label("fitness")
                yield choice("seed-fitness", FITNESS)
                yield Label("data set")
                yield choice("seed-dataset", DATASETS)
                yield Label("data dir")
                yield text("seed-data-dir", "default")
                yield Label("preset")
                yield choice("seed-preset", list_presets())
                yield Label("epochs")
                yield text("seed-epochs", type="integer")
                yield Label("recipe")
                yield choice("seed-recipe", tuple(RECIPES))
                yield Label("objective")
                yield text("seed-objective", "accuracy, params:0.5, macs:0.5")
                yield Label("eval-test")
                yield Checkbox("on", bool(v["seed-eval-test"]), compact=True, id="seed-eval-test")
                yield Label("run dir")
                yield Input(self.run_dir, compact=True, id="seed-dir")
            yield Static(id="seed-error")
            yield Static(id="seed-preview")
            with Horizontal(id="seed-buttons"):
                yield Button("Start (ctrl+s)", variant="success", compact=True, id="seed-start")
                yield Button("Cancel (esc)", compact=True, id="seed-cancel")

    def on_mount(self) -> None:
        self.preview()

    def _value(self, wid: str) -> str:
        w = cast("Input | Select[str]", self.query_one(f"#{wid}"))  # every field is one of these
        return str(w.value).strip()

    @property
    def values(self) -> dict[str, Any]:
        """The fields as typed (widget id -> text, or bool for eval-test), to reopen the dialog with."""
        out: dict[str, Any] = {wid: self._value(wid) for wid in DEFAULTS if wid != "seed-eval-test"}
        out["seed-eval-test"] = self.query_one("#seed-eval-test", Checkbox).value
        return out

    def settings(self) -> dict:
        """The form as typed values; ValueError (one line) says which field is wrong."""

        def number(wid, cast, name, low):
            try:
                v = cast(self._value(wid))
            except ValueError:
                raise ValueError(f"{name} must be a number, got {self._value(wid)!r}") from None
            if v < low:
                raise ValueError(f"{name} must be at least {low}, got {v}")
            return v

        p = number("seed-p", float, "p", 0.0)
        if p > 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        s = dict(
            init=self._value("seed-init"),
            p=p,
            flips=number("seed-flips", int, "k flips", 0),
            file=self._value("seed-file"),
            n=number("seed-n", int, "N", 2),
            t=number("seed-t", int, "T", 0),
            fitness=self._value("seed-fitness"),
            epochs=number("seed-epochs", int, "epochs", 1),
            seed=number("seed-seed", int, "seed", 0),
            stages=parse_stages(self._value("seed-stages")),
            dataset=self._value("seed-dataset"),
            data_dir=self._value("seed-data-dir") or None,
            preset=self._value("seed-preset"),
            recipe=self._value("seed-recipe"),
            objective=self._value("seed-objective") or "accuracy",
            eval_test=self.query_one("#seed-eval-test", Checkbox).value,
            run_dir=self._value("seed-dir"),
        )
        if not s["run_dir"]:
            raise ValueError("give a run directory")
        if s["data_dir"] and not Path(s["data_dir"]).expanduser().is_dir():
            raise ValueError(f"data directory {s['data_dir']} does not exist")
        if s["dataset"] == "imagefolder" and not s["data_dir"]:
            raise ValueError("data set imagefolder needs a data directory (one folder per class)")
        # the checks `genet-lab evolve` makes before it starts, so the dialog says what it would refuse
        SearchConfig(
            population=s["n"],
            generations=s["t"],
            stages=s["stages"],
            fitness=s["fitness"],
            seed=s["seed"],
            preset=s["preset"],
            dataset=s["dataset"],
            data_dir=s["data_dir"],
            epochs=s["epochs"],
            eval_test=s["eval_test"],
            objective=s["objective"],
            train=TrainOverrides(recipe=s["recipe"]),
        ).validated()
        return s

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def preview(self) -> None:
        box = self.query_one("#seed-preview", Static)
        try:
            s = self.settings()
            self.genomes = seed_population(
                s["init"],
                s["n"],
                s["stages"],
                p=s["p"],
                flips=s["flips"],
                base=self.editor_genome,
                path=s["file"] or None,
                seed=s["seed"],
            )
        except ValueError as exc:  # UsageError is one too
            self.genomes = []
            self._error(str(exc))
            box.update("[dim]generation 0 appears here once the settings are valid[/dim]")
            return
        self._error("")
        self._follow_stages(s["init"])
        distinct = len({g.bits for g in self.genomes})
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", no_wrap=True, style="dim")
        grid.add_column(overflow="fold")  # a long genome wraps under itself, stage by stage
        for i, g in enumerate(self.genomes):
            grid.add_row(str(i), g.notation())
        title = (
            f"[b]generation 0[/b]: {len(self.genomes)} individuals, {distinct} distinct, stages "
            f"{','.join(map(str, self.genomes[0].stages))}"
        )
        from rich.console import Group

        box.update(Group(title, grid))

    def _follow_stages(self, init: str) -> None:
        """A copied genome (or a file) brings its own stages: show them in the stages field."""
        stages = self.query_one("#seed-stages", Input)
        copies = init in NAMED_INITS or init == "file"
        with self.prevent(Input.Changed):
            if copies and not stages.disabled:
                self._typed_stages = stages.value  # given back when a random or zero init is chosen again
            elif not copies and stages.disabled:
                stages.value = self._typed_stages
            stages.disabled = copies
            text = ",".join(map(str, self.genomes[0].stages))
            if copies and stages.value != text:
                stages.value = text

    def _error(self, text: str) -> None:
        self.error = text
        self.query_one("#seed-error", Static).update(f"error: {text}" if text else "")

    @on(Button.Pressed, "#seed-start")
    def action_start(self) -> None:
        self.preview()
        if not self.genomes:
            self.notify(f"fix the settings first: {self.error}", severity="error")
            return
        s = self.settings()
        run_dir = Path(s["run_dir"])
        if (run_dir / "run.sqlite").exists():
            self._error(f"{run_dir} already holds a run: open it with o, or choose another directory")
            return
        self.dismiss({**s, "genomes": [g.notation() for g in self.genomes], "values": self.values})

    @on(Button.Pressed, "#seed-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
