"""The New-run dialog: the settings of a run as a SearchConfig, and generation 0 previewed.

The dialog builds a :class:`~genet_lab.evolution.config.SearchConfig` (its first values are
SearchConfig's own defaults and the catalog's; an empty epochs box is the data set's budget),
resolves it as a run would (the search strategy, the fitness: training, a zero-cost proxy or a
shipped benchmark table, whose space, data set and budget it takes), and previews
:func:`genet_lab.evolution.population.initial_population` of it drawn from
:func:`~genet_lab.evolution.population.initial_rng`: exactly the generation 0 that the run
created from that config stores. The "editor" start is said as the editor's genome in the
paper's notation. Errors are one line worded with the dialog's labels. No torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from genet_lab.encoding.genome import Genome, parse_stages
from genet_lab.errors import ConfigError
from genet_lab.evolution.config import DEFAULT_STAGES, SearchConfig, TrainOverrides, table_ref
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.training import catalog
from genet_lab.tui.choices import STRATEGIES, fitness_choices, fitness_text, search_text, table_names, table_settings

INIT_KINDS = ("random", "zeros", "residual-40", "editor", "paper-best", "file")
COPIES = ("residual-40", "paper-best", "editor", "file")
"""Starts that bring their own stages: the stages field shows them."""

_BASE = SearchConfig()
DEFAULTS: dict[str, str | bool] = {
    "seed-kind": _BASE.kind,
    "seed-aging-p": str(_BASE.aging_population),
    "seed-sample-s": str(_BASE.sample_size),
    "seed-init": _BASE.init,
    "seed-p": str(_BASE.init_p),
    "seed-flips": str(_BASE.init_flips),
    "seed-file": "",
    "seed-stages": ",".join(map(str, _BASE.stages or DEFAULT_STAGES)),
    "seed-seed": str(_BASE.seed),
    "seed-n": str(_BASE.population),
    "seed-t": str(_BASE.generations),
    "seed-fitness": _BASE.fitness,
    "seed-dataset": _BASE.dataset,
    "seed-data-dir": "",
    "seed-preset": _BASE.preset,
    "seed-epochs": "",
    "seed-recipe": _BASE.train.recipe or catalog.DEFAULT_RECIPE,
    "seed-objective": _BASE.objective,
    "seed-eval-test": _BASE.eval_test,
    "seed-reuse": _BASE.reuse_structures,
}
"""The dialog's first values: SearchConfig's defaults (what every front end starts from);
epochs empty: the data set's budget."""
CHECKBOXES = ("seed-eval-test", "seed-reuse")
TABLE_FIXED = ("seed-dataset", "seed-data-dir", "seed-preset", "seed-recipe", "seed-eval-test")
"""The fields a benchmark table fixes (its build's): off while a table is the fitness."""

LABELS = {
    "population": "N",
    "generations": "T",
    "init_p": "p",
    "init_flips": "flips",
    "init_genomes": "file",
    "data_dir": "data dir",
    "dataset": "data set",
    "eval_test": "eval-test",
    "kind": "strategy",
    "reuse_structures": "reuse",
}
"""SearchConfig field -> the dialog's label, for its error lines."""


def label_of(field: str) -> str:
    return LABELS.get(field, field.replace("_", "-"))


@dataclass(frozen=True)
class NewRun:
    """What the dialog is dismissed with."""

    run_dir: Path
    config: SearchConfig
    """As built from the fields (the run resolves it again: the same result)."""
    values: dict[str, Any]
    """The fields as typed, to reopen the dialog with."""


class SeedScreen(ModalScreen[NewRun | None]):
    """Settings of a new run, with generation 0 previewed; dismissed with a :class:`NewRun`.

    ``values`` (widget id -> value, as :attr:`values` returns them) restores the last
    dialog's settings; the defaults are SearchConfig's (the same as every front end's).
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "start", "Start")]
    DEFAULT_CSS = """
    SeedScreen { align: center middle; }
    SeedScreen > Vertical { width: 100%; max-width: 110; height: 100%; max-height: 35;
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
        self.resolved: SearchConfig | None = None
        """The resolved config of the settings (None while they are wrong)."""
        self._typed_stages = str(self.initial["seed-stages"])
        self._fitness = str(self.initial["seed-fitness"])
        """The fitness of the last preview: choosing another table takes that table's settings."""
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
            yield Label("[b]New run[/b]: generation 0 below is exactly what the run starts from")
            with Grid(id="seed-form"):
                yield Label("strategy")
                yield choice("seed-kind", STRATEGIES)
                yield Label("P")
                yield text("seed-aging-p", type="integer", tooltip="aging evolution: the P youngest individuals kept")
                yield Label("S")
                yield text("seed-sample-s", type="integer", tooltip="aging evolution: individuals in each tournament")
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
                yield choice("seed-fitness", fitness_choices())
                yield Label("data set")
                yield choice("seed-dataset", catalog.list_datasets(listed_only=True))
                yield Label("data dir")
                yield text("seed-data-dir", "default")
                yield Label("preset")
                yield choice("seed-preset", catalog.list_presets())
                yield Label("epochs")
                yield text("seed-epochs", type="integer", tooltip="empty: the data set's budget")
                yield Label("recipe")
                yield choice("seed-recipe", catalog.list_recipes())
                yield Label("objective")
                yield text("seed-objective", "accuracy, params:0.5, macs:0.5")
                yield Label("eval-test")
                yield Checkbox("on", bool(v["seed-eval-test"]), compact=True, id="seed-eval-test")
                yield Label("reuse")
                yield Checkbox(
                    "structures",
                    bool(v["seed-reuse"]),
                    compact=True,
                    id="seed-reuse",
                    tooltip="an already evaluated structure's fitness is copied, not trained again",
                )
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
        """The fields as typed (widget id -> text, or bool for a checkbox), to reopen the dialog with."""
        out: dict[str, Any] = {wid: self._value(wid) for wid in DEFAULTS if wid not in CHECKBOXES}
        out.update({wid: self.query_one(f"#{wid}", Checkbox).value for wid in CHECKBOXES})
        return out

    def config(self) -> SearchConfig:
        """The run the form asks for, resolved as the run will be; ValueError (one line, worded with
        the dialog's labels) says which field is wrong."""

        def number(wid, cast, name, low, empty=None):
            text = self._value(wid)
            if not text and empty is not None:
                return empty
            try:
                v = cast(text)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {text!r}") from None
            if v < low:
                raise ValueError(f"{name} must be at least {low}, got {v}")
            return v

        p = number("seed-p", float, "p", 0.0)
        if p > 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        init = self._value("seed-init")
        stages = parse_stages(self._value("seed-stages"))
        if init == "editor":
            if self.editor_genome is None:
                raise ValueError("no genome in the editor")
            init = self.editor_genome.notation()
        elif init == "file":
            init = self._value("seed-file")
            if not init:
                raise ValueError("give the path of a genome file (one genome a line)")
        on_table = table_ref(self._value("seed-fitness")) is not None  # the table fixes the data and network
        data_dir = None if on_table else self._value("seed-data-dir") or None
        if data_dir and not Path(data_dir).expanduser().is_dir():
            raise ValueError(f"data directory {data_dir} does not exist")
        dataset = _BASE.dataset if on_table else self._value("seed-dataset")
        if dataset == "imagefolder" and not data_dir:
            raise ValueError("data set imagefolder needs a data directory (one folder per class)")
        kind = self._value("seed-kind")
        aging = kind == "aging"  # P and S mean nothing to the other strategies: their fields are off
        config = SearchConfig(
            kind=kind,
            aging_population=number("seed-aging-p", int, "P", 1) if aging else _BASE.aging_population,
            sample_size=number("seed-sample-s", int, "S", 1) if aging else _BASE.sample_size,
            reuse_structures=self.query_one("#seed-reuse", Checkbox).value,
            population=number("seed-n", int, "N", 2),
            generations=number("seed-t", int, "T", 0),
            stages=() if self._value("seed-init") in COPIES else stages,
            init=init,
            init_p=p,
            init_flips=number("seed-flips", int, "flips", 0),
            fitness=self._value("seed-fitness"),
            seed=number("seed-seed", int, "seed", 0),
            preset=_BASE.preset if on_table else self._value("seed-preset"),
            dataset=dataset,
            data_dir=data_dir,
            epochs=number("seed-epochs", int, "epochs", 1, empty=0) or None,
            eval_test=self.query_one("#seed-eval-test", Checkbox).value,
            objective=self._value("seed-objective") or "accuracy",
            train=TrainOverrides(recipe=self._value("seed-recipe")),
        )
        try:
            return config.resolve()
        except ConfigError as exc:
            raise ValueError(exc.format(label_of)) from None

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def preview(self) -> None:
        box = self.query_one("#seed-preview", Static)
        self._take_table()
        on_table = table_ref(self._value("seed-fitness")) is not None
        for wid in TABLE_FIXED:  # a table's data, network and recipe are its own: nothing to choose
            self.query_one(f"#{wid}").disabled = on_table
        self.query_one("#seed-aging-p", Input).disabled = self.query_one("#seed-sample-s", Input).disabled = (
            self._value("seed-kind") != "aging"
        )
        self._epochs_hint()
        try:
            config = self.config()
            self.genomes = initial_population(config, initial_rng(config))
        except ValueError as exc:  # UsageError is one too
            self.genomes, self.resolved = [], None
            self._error(str(exc))
            box.update("[dim]generation 0 appears here once the settings are valid[/dim]")
            return
        self.resolved = config
        self._error("")
        self._follow_stages(self._value("seed-init"))
        distinct = len({g.bits for g in self.genomes})
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", no_wrap=True, style="dim")
        grid.add_column(overflow="fold")  # a long genome wraps under itself, stage by stage
        for i, g in enumerate(self.genomes):
            grid.add_row(str(i), g.notation())
        title = Text.from_markup(
            f"[b]generation 0[/b]: {len(self.genomes)} individuals, {distinct} distinct, stages "
            f"{','.join(map(str, config.stages))}\n"
        )
        title.append(f"{search_text(config)}; {fitness_text(config)}", style="dim")
        box.update(Group(title, grid))

    def _take_table(self) -> None:
        """A table just chosen as the fitness: its space, data set and preset in their fields, the
        epochs its own (empty box). Another start's stages stay: the error then names the space."""
        fitness = self._value("seed-fitness")
        if fitness == self._fitness:
            return
        self._fitness = fitness
        name = table_ref(fitness)
        if name is None:
            return
        try:
            stages, dataset, preset, _ = table_settings(name)
        except ValueError as exc:  # a damaged file: resolve says so again, in the error line
            self._error(str(exc))
            return
        space = ",".join(map(str, stages))
        with self.prevent(Input.Changed, Select.Changed):
            field = self.query_one("#seed-stages", Input)
            if field.disabled:
                self._typed_stages = space  # a copied start shows its own; random or zeros get the table's
            else:
                field.value = space
            self.query_one("#seed-epochs", Input).value = ""
            listed = (("#seed-dataset", dataset, catalog.list_datasets(listed_only=True)),
                      ("#seed-preset", preset, catalog.list_presets()))  # fmt: skip
            for wid, value, options in listed:
                select = cast("Select[str]", self.query_one(wid))
                if value not in options:  # imagefolder, which the menu offers only for a table built on one
                    select.set_options([(o, o) for o in (*options, value)])
                select.value = value

    def _epochs_hint(self) -> None:
        ref = table_ref(self._value("seed-fitness"))
        epochs = self.query_one("#seed-epochs", Input)
        if ref is not None and ref in table_names():
            epochs.placeholder = f"{table_settings(ref)[3]} (the table's)"
            return
        dataset = self._value("seed-dataset")
        if dataset in catalog.DATASETS:
            epochs.placeholder = f"{catalog.dataset(dataset).epochs} (data set's)"

    def _follow_stages(self, init: str) -> None:
        """A copied genome (or a file) brings its own stages: show them in the stages field."""
        stages = self.query_one("#seed-stages", Input)
        copies = init in COPIES
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
        self.query_one("#seed-error", Static).update(Text(f"error: {text}") if text else "")

    @on(Button.Pressed, "#seed-start")
    def action_start(self) -> None:
        self.preview()
        if self.resolved is None:
            self.notify(f"fix the settings first: {self.error}", severity="error")
            return
        run_dir = Path(self._value("seed-dir"))
        if not str(run_dir) or (run_dir / "run.sqlite").exists():
            self._error(f"{run_dir} already holds a run: open it with o, or choose another directory")
            return
        self.dismiss(NewRun(run_dir, self.resolved, self.values))

    @on(Button.Pressed, "#seed-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
