"""PopulationSeeder: make an initial population (section 3.2.1) and preview it.

Four starts, through the evolution operators: random (every bit
Bernoulli(p)), all-zero (section 4.1.2), derived from a base genome such as the
40-layer ``residual-40`` with a few bits flipped (section 4.2), or a file with one genome
a line. The preview tabulates every individual (notation, structure key,
convolutions, parameters), counts distinct structures and draws the first few.
Knows the core and the operators, not torch.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import traitlets

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.draw import have_dot, render
from genet_lab.encoding.genome import (
    RENAMED,
    RESIDUAL40_STAGES,
    Genome,
    check_stages,
    parse_stages,
    renamed_error,
    resolve,
    stage_length,
)
from genet_lab.encoding.graph import decode, structure_hash
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.evolution.operators import (
    init_from_base,
    init_from_file,
    init_random,
    init_zeros,
    read_genome_file,
    to_genomes,
)
from genet_lab.widgets._render import html_table

MODES = ("random", "zeros", "residual-40", "file")
"""random: Bernoulli(p) bits; zeros: all-zero strings; residual-40: a base genome (the named
genome ``residual-40`` by default) with ``flips`` bits flipped per individual; file: genomes
read from ``path``."""


def seed_population(
    mode: str,
    n: int,
    stages: Sequence[int] = (3, 4, 5),
    seed: int = 0,
    p: float = 0.5,
    flips: int = 2,
    base: Genome | str | None = None,
    path: str | Path | None = None,
) -> list[Genome]:
    """N genomes made the way ``mode`` says (see :data:`MODES`); a file gives as many as it lists."""
    if mode in RENAMED:
        raise renamed_error(mode)
    if mode not in MODES:
        raise ValueError(f"unknown start {mode!r}; choose one of {', '.join(MODES)}")
    if mode != "file" and n < 1:
        raise ValueError(f"population size must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    if mode == "file":
        if not path:
            raise ValueError("the 'file' start needs a path to a file with one genome a line")
        genomes = read_genome_file(path)
        return to_genomes(init_from_file(path, len(genomes), rng), genomes[0].stages)
    stages = check_stages(stages)
    length = sum(stage_length(k) for k in stages)
    if mode == "random":
        pop = init_random(n, length, rng, p)
    elif mode == "zeros":
        pop = init_zeros(n, length, rng)
    else:
        base_genome = resolve(base, stages) if isinstance(base, str) else base
        if base_genome is None:
            base_genome = resolve("residual-40", stages)
        stages = base_genome.stages
        pop = init_from_base(base_genome, n, rng, flips)
    return to_genomes(pop, stages)


class PopulationSeeder(widgets.VBox):
    """Controls for the start, a "seed" button, and a preview of the population.

    ``seeder.population`` is the list of genomes; ``seeder.save(path)`` writes
    them one a line for ``genet-lab evolve --init FILE``.
    """

    version = traitlets.Int(0, help="incremented each time a new population is made")

    def __init__(
        self,
        mode: str = "random",
        n: int = 20,
        stages: Sequence[int] | str = (3, 4, 5),
        seed: int = 0,
        p: float = 0.5,
        flips: int = 2,
        path: str = "",
        config: NetworkConfig | str = "paper-cifar10",
        gallery: int = 4,
        use_dot: bool | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = get_preset(config) if isinstance(config, str) else config
        self.use_dot = have_dot() if use_dot is None else bool(use_dot)
        self.gallery_size = gallery
        self.population: list[Genome] = []
        stages = parse_stages(stages) if isinstance(stages, str) else check_stages(stages)
        if mode in RENAMED:
            raise renamed_error(mode)
        if mode == "residual-40" and tuple(stages) == (3, 4, 5):
            stages = RESIDUAL40_STAGES
        self.mode = widgets.Dropdown(options=MODES, value=mode, description="start")
        self.n = widgets.BoundedIntText(value=n, min=1, max=1000, description="N")
        self.stages = widgets.Text(value=",".join(map(str, stages)), description="stages")
        self.p = widgets.FloatSlider(value=p, min=0.0, max=1.0, step=0.05, description="p (bit=1)")
        self.flips = widgets.BoundedIntText(value=flips, min=0, max=10_000, description="flips")
        self.seed_box = widgets.IntText(value=seed, description="seed")
        self.path = widgets.Text(value=path, description="file", placeholder="genomes.txt")
        self.button = widgets.Button(description="seed", button_style="primary")
        self.button.on_click(lambda _b: self.reseed())
        self.error = widgets.HTML()
        self.summary = widgets.HTML()
        # wide genomes (residual-40 drawings are about 3,900 px) scroll inside their own box
        # instead of pushing the whole cell, controls included, sideways
        self.table = widgets.HTML(layout=widgets.Layout(max_width="100%", overflow="auto"))
        self.gallery = widgets.HTML(layout=widgets.Layout(max_width="100%", max_height="640px", overflow="auto"))
        self.gallery.add_class("genet-seeder-gallery")
        self.table.add_class("genet-seeder-table")
        self.mode.observe(self._on_mode, "value")
        controls = widgets.VBox(
            [
                widgets.HBox([self.mode, self.n, self.seed_box]),
                widgets.HBox([self.stages, self.p, self.flips]),
                widgets.HBox([self.path, self.button]),
            ]
        )
        controls.add_class("genet-seeder-controls")
        self.add_class("genet-seeder")
        self.children = [controls, self.error, self.summary, self.gallery, self.table]
        self.reseed()

    # -- actions -----------------------------------------------------------------------
    def reseed(self) -> list[Genome]:
        """Make a new population from the controls and refresh the preview."""
        try:
            stages = parse_stages(self.stages.value)
            pop = seed_population(
                self.mode.value,
                self.n.value,
                stages,
                self.seed_box.value,
                self.p.value,
                self.flips.value,
                path=self.path.value or None,
            )
        except ValueError as exc:
            self.error.value = f"<span style='color:#c00'>{html.escape(str(exc))}</span>"
            return self.population
        self.error.value = ""
        self.population = pop
        if self.mode.value == "file":
            self.n.value = len(pop)  # a file fixes N
        self._preview()
        self.version += 1
        return pop

    def on_change(self, callback: Callable[[list[Genome]], None]) -> Callable:
        """Call ``callback(population)`` after each new population."""
        self.observe(lambda _c: callback(self.population), "version")
        return callback

    def save(self, path: str | Path) -> Path:
        """Write the population one genome a line (paper notation) for ``--init FILE``."""
        path = Path(path)
        lines = [f"# {len(self.population)} genomes, start={self.mode.value}, seed={self.seed_box.value}"]
        lines += [g.notation() for g in self.population]
        path.write_text("\n".join(lines) + "\n")
        return path

    def rows(self) -> list[dict]:
        """One dict per individual: index, genome, structure key, 1-bits, convolutions, parameters."""
        out = []
        for i, g in enumerate(self.population):
            try:
                params = complexity(g, self.config).params
            except ValueError:
                params = None
            out.append(
                {
                    "index": i,
                    "genome": g.notation(),
                    "key": structure_hash(g),
                    "ones": sum(g.bits),
                    "convs": [st.num_convs for st in decode(g)],
                    "params": params,
                }
            )
        return out

    # -- preview -------------------------------------------------------------------------
    def _preview(self) -> None:
        rows = self.rows()
        keys: dict[str, int] = {}
        for r in rows:
            keys[r["key"]] = keys.get(r["key"], 0) + 1
        params = [r["params"] for r in rows if r["params"] is not None]
        span = f", parameters {min(params):,} to {max(params):,} ({self.config.name})" if params else ""
        g0 = self.population[0]
        self.summary.value = (
            f"<b>{len(rows)}</b> individuals, stages {','.join(map(str, g0.stages))} "
            f"(L={g0.length}), <b>{len(keys)}</b> distinct structure{'s' if len(keys) != 1 else ''}, "
            f"mean {np.mean([r['ones'] for r in rows]):.1f} one-bits{span}"
        )
        self.table.value = html_table(
            rows,
            ["index", "genome", "key", "ones", "convs", "params"],
            ["#", "genome", "structure", "1-bits", "convs/stage", "params"],
            {"params": lambda v: f"{v:,}"},
        )
        shown: set[str] = set()
        parts: list[str] = []
        for g, r in zip(self.population, rows):
            if len(shown) >= self.gallery_size:
                break
            if r["key"] in shown:
                continue
            shown.add(r["key"])
            caption = f"#{r['index']} {html.escape(r['genome'])} (x{keys[r['key']]})"
            if self.use_dot:
                svg = render(g, "svg").decode()
                body = svg[svg.find("<svg") :]
            else:
                body = f"<pre>{html.escape(r['genome'])}</pre>"
            parts.append(
                f"<div style='display:inline-block;margin:4px;vertical-align:top'>"
                f"<div style='font-family:monospace'>{caption}</div>{body}</div>"
            )
        self.gallery.value = "".join(parts)

    def _on_mode(self, change) -> None:
        if change["new"] == "residual-40" and self.stages.value.replace(" ", "") == "3,4,5":
            self.stages.value = ",".join(map(str, RESIDUAL40_STAGES))
        elif (
            change["old"] == "residual-40"
            and change["new"] != "residual-40"
            and self.stages.value.replace(" ", "") == ",".join(map(str, RESIDUAL40_STAGES))
        ):
            self.stages.value = "3,4,5"
