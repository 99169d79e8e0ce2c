"""Seeding a population: the settings of a new run and a preview of generation 0.

The preview is the population itself: the exact genomes are drawn here with
the evolution engine's initialisation operators (numpy, no torch), written
to a file in the run directory and handed to ``genet-lab evolve --init FILE``,
so what the user saw is what the run starts from.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import numpy as np
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from genet_lab.encoding import genome as gn
from genet_lab.encoding.genome import Genome, parse_stages

INIT_KINDS = ("random", "zeros", "residual-40", "editor", "paper-best", "file")
FITNESS = ("toy", "proxy", "train")


def seed_population(kind: str, n: int, stages: tuple[int, ...], *, p: float = 0.5, flips: int = 2,
                    base: Genome | None = None, path: str | None = None, seed: int = 0) -> list[Genome]:
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
    """Settings of a new run, with generation 0 previewed; dismissed with the run spec."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "start", "Start")]
    DEFAULT_CSS = """
    SeedScreen { align: center middle; }
    SeedScreen > Vertical { width: 100%; max-width: 110; height: 100%; max-height: 34;
                            border: thick $accent; background: $surface; }
    SeedScreen Horizontal { height: 3; }
    SeedScreen Input, SeedScreen Select { width: 1fr; border-title-color: $accent; }
    SeedScreen #seed-preview { height: 1fr; border: round $primary; padding: 0 1; overflow-y: auto; }
    SeedScreen #seed-buttons { height: 3; }
    """

    def __init__(self, editor_genome: Genome | None = None, run_dir: str | None = None) -> None:
        super().__init__()
        self.editor_genome = editor_genome
        self.run_dir = run_dir or f"runs/tui-{time.strftime('%Y%m%d-%H%M%S')}"
        self.genomes: list[Genome] = []

    def compose(self) -> ComposeResult:
        def field(widget, title):
            widget.border_title = title
            return widget

        with Vertical():
            yield Label("[b]New run[/b] (init ▾, fitness ▾): generation 0 below is exactly what the run starts from")
            with Horizontal():
                yield field(Select([(k, k) for k in INIT_KINDS], value="random", allow_blank=False,
                                   id="seed-init"), "init")
                yield field(Input("0.5", id="seed-p"), "p (random)")
                yield field(Input("2", type="integer", id="seed-flips"), "k flips")
                yield field(Input("", placeholder="genomes.txt", id="seed-file"), "file")
            with Horizontal():
                yield field(Input("8", type="integer", id="seed-n"), "N")
                yield field(Input("5", type="integer", id="seed-t"), "T")
                yield field(Select([(f, f) for f in FITNESS], value="toy", allow_blank=False,
                                   id="seed-fitness"), "fitness")
                yield field(Input("2", type="integer", id="seed-epochs"), "epochs")
                yield field(Input("0", type="integer", id="seed-seed"), "seed")
            with Horizontal():
                yield field(Input("3,4,5", id="seed-stages"), "stages")
                yield field(Input(self.run_dir, id="seed-dir"), "run directory")
            yield Static(id="seed-preview")
            with Horizontal(id="seed-buttons"):
                yield Button("Start (ctrl+s)", variant="success", id="seed-start")
                yield Button("Cancel (esc)", id="seed-cancel")

    def on_mount(self) -> None:
        self.preview()

    def _value(self, wid: str) -> str:
        w = cast("Input | Select[str]", self.query_one(f"#{wid}"))  # every field is one of these
        return str(w.value).strip()

    def settings(self) -> dict:
        """The form as typed values; ValueError says which field is wrong."""
        def number(wid, cast, name, low):
            try:
                v = cast(self._value(wid))
            except ValueError:
                raise ValueError(f"{name} must be a number, got {self._value(wid)!r}") from None
            if v < low:
                raise ValueError(f"{name} must be at least {low}, got {v}")
            return v

        return dict(
            init=self._value("seed-init"), p=number("seed-p", float, "p", 0.0), flips=number("seed-flips", int, "k", 0),
            file=self._value("seed-file"), n=number("seed-n", int, "N", 2), t=number("seed-t", int, "T", 0),
            fitness=self._value("seed-fitness"), epochs=number("seed-epochs", int, "epochs", 1),
            seed=number("seed-seed", int, "seed", 0), stages=parse_stages(self._value("seed-stages")),
            run_dir=self._value("seed-dir"),
        )

    @on(Input.Changed)
    @on(Select.Changed)
    def preview(self) -> None:
        box = self.query_one("#seed-preview", Static)
        try:
            s = self.settings()
            if s["p"] > 1:
                raise ValueError(f"p must be in [0, 1], got {s['p']}")
            self.genomes = seed_population(s["init"], s["n"], s["stages"], p=s["p"], flips=s["flips"],
                                           base=self.editor_genome, path=s["file"] or None, seed=s["seed"])
        except ValueError as exc:
            self.genomes = []
            box.update(f"[red]{exc}[/red]")
            return
        distinct = len({g.bits for g in self.genomes})
        lines = [f"[b]generation 0[/b]: {len(self.genomes)} individuals, {distinct} distinct, stages "
                 f"{','.join(map(str, self.genomes[0].stages))}"]
        lines += [f"{i:>3}  {g.notation()}" for i, g in enumerate(self.genomes)]
        box.update("\n".join(lines))

    @on(Button.Pressed, "#seed-start")
    def action_start(self) -> None:
        self.preview()
        if not self.genomes:
            self.notify("fix the settings first (see the preview)", severity="error")
            return
        s = self.settings()
        run_dir = Path(s["run_dir"])
        if (run_dir / "run.sqlite").exists():
            self.notify(f"{run_dir} already holds a run: open it with o, or choose another directory", severity="error")
            return
        self.dismiss({**s, "genomes": [g.notation() for g in self.genomes]})

    @on(Button.Pressed, "#seed-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
