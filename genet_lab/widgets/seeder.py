"""PopulationSeeder: make an initial population (section 3.2.1) and preview it.

The seeder's controls make a :class:`~genet_lab.evolution.config.SearchConfig` (the
generation-0 fields: N, stages, seed, init and its p, flips or genomes; every other field
is the given config's, else SearchConfig's default) and preview
:func:`~genet_lab.evolution.population.initial_population` of it: exactly the generation 0
a run of that config starts from (``EvolutionMonitor.launch(run_dir, seeder.config)``). The
config is kept as the controls say it, not resolved, so that a field changed later (another
data set) brings its own defaults; ``seeder.resolved`` is what a run stores.
Five starts: random (every bit Bernoulli(p)), all-zero (section 4.1.2), a base genome such
as the 40-layer ``residual-40`` or the attached editor's genome with a few bits flipped
(section 4.2), or a file with one genome a line. The preview tabulates every individual
(notation, structure key, convolutions, parameters), counts distinct structures and draws
the first few. Knows the core's config and generation 0, not torch.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.draw import have_dot, render
from genet_lab.encoding.genome import RENAMED, RESIDUAL40_STAGES, Genome, parse_stages, renamed_error, resolve
from genet_lab.encoding.graph import decode, structure_hash
from genet_lab.encoding.presets import get_preset
from genet_lab.evolution.config import DEFAULT_STAGES, SearchConfig
from genet_lab.evolution.population import initial_population, initial_rng
from genet_lab.widgets._render import html_table

MODES = ("random", "zeros", "residual-40", "editor", "file")
"""random: Bernoulli(p) bits; zeros: all-zero strings; residual-40: the named genome
``residual-40`` with ``flips`` bits flipped per individual; editor: the attached editor's
genome likewise; file: genomes read from ``path``."""


def seed_config(
    mode: str,
    config: SearchConfig | None = None,
    *,
    genome: Genome | str | None = None,
    path: str | Path | None = None,
    **fields: Any,
) -> SearchConfig:
    """The SearchConfig of a start (see :data:`MODES`), not resolved: ``config`` (default: SearchConfig's
    own) with ``fields`` (SearchConfig's: population, stages, seed, init_p, init_flips, preset, ...)
    replaced and ``init`` said for ``mode``: ``editor`` as ``genome`` in the paper's notation,
    ``file`` as ``path``, which :meth:`SearchConfig.resolve` reads into ``init_genomes`` (N and the
    stages are the file's)."""
    if mode in RENAMED:
        raise renamed_error(mode)
    if mode not in MODES:
        raise ValueError(f"unknown start {mode!r}; choose one of {', '.join(MODES)}")
    base = config or SearchConfig()
    fields["init"] = mode
    if mode == "file":
        if not path:
            raise ValueError("the 'file' start needs a path to a file with one genome a line")
        # N and the stages are the file's
        fields.update(init=str(path), stages=(), population=SearchConfig().population)
    elif mode == "editor":
        if genome is None:
            raise ValueError("the 'editor' start needs a genome: PopulationSeeder(editor=...)")
        fields.update(init=(resolve(genome) if isinstance(genome, str) else genome).notation(), stages=())
    return base.with_overrides(**fields)


def seed_population(
    mode: str, n: int | None = None, stages: Sequence[int] | None = None, seed: int | None = None, **options: Any
) -> list[Genome]:
    """Generation 0 of the config :func:`seed_config` makes (``options``: p, flips, genome, path,
    preset; None leaves SearchConfig's default): what a run of that config starts from."""
    given: dict[str, Any] = dict(population=n, stages=stages, seed=seed, init_p=options.pop("p", None))
    given["init_flips"] = options.pop("flips", None)
    fields: dict[str, Any] = {k: (tuple(v) if k == "stages" else v) for k, v in given.items() if v is not None}
    config = seed_config(mode, None, **fields, **options).resolve()
    return initial_population(config, initial_rng(config))


def _start(config: SearchConfig, mode, n, stages, seed, p, flips) -> tuple:
    """The controls' first values: those given, else ``config``'s (residual-40 brings its stages)."""
    mode = mode or (config.init if config.init in MODES else "random")
    if mode in RENAMED:
        raise renamed_error(mode)
    stages = tuple(parse_stages(stages) if isinstance(stages, str) else stages or config.stages or DEFAULT_STAGES)
    if mode == "residual-40" and stages == DEFAULT_STAGES:
        stages = RESIDUAL40_STAGES
    return (
        mode,
        n or config.population,
        stages,
        config.seed if seed is None else seed,
        config.init_p if p is None else p,
        config.init_flips if flips is None else flips,
    )


class PopulationSeeder(widgets.VBox):
    """Controls for the start, a "seed" button, and a preview of the population.

    ``seeder.config`` is the :class:`~genet_lab.evolution.config.SearchConfig` the controls say
    (not resolved), ``seeder.resolved`` that config resolved as a run stores it,
    ``seeder.population`` its generation 0; ``seeder.save(path)`` writes the
    genomes one a line for ``genet-lab evolve --init FILE``. The controls start at ``config``'s
    fields (default: SearchConfig's own) unless given; the other fields of ``config`` (data
    set, epochs, ...) are kept. ``editor``: a :class:`~genet_lab.widgets.GenomeEditor` (or a
    genome) whose genome the ``editor`` start copies; ``preset``: the network preset of the
    parameter counts (and of the config).
    """

    version = traitlets.Int(0, help="incremented each time a new population is made")

    def __init__(
        self,
        mode: str | None = None,
        n: int | None = None,
        stages: Sequence[int] | str | None = None,
        seed: int | None = None,
        p: float | None = None,
        flips: int | None = None,
        path: str = "",
        preset: str | None = None,
        editor: Any = None,
        config: SearchConfig | None = None,
        gallery: int = 4,
        use_dot: bool | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.base = config or SearchConfig()
        """The config whose other fields (data set, epochs, ...) :attr:`config` keeps."""
        self.net_config = get_preset(preset or self.base.preset)
        self.editor = editor
        self.use_dot = have_dot() if use_dot is None else bool(use_dot)
        self.gallery_size = gallery
        self.config: SearchConfig | None = None
        """The config of the last population made, as the controls say it (None until one was made)."""
        self.resolved: SearchConfig | None = None
        """:attr:`config` resolved: every default applied, as a run of it stores it."""
        self.population: list[Genome] = []
        if mode == "editor" and editor is None:
            raise ValueError("the 'editor' start needs a genome: PopulationSeeder(editor=...)")
        mode, n, stages, seed, p, flips = _start(self.base, mode, n, stages, seed, p, flips)
        modes = MODES if editor is not None else tuple(m for m in MODES if m != "editor")
        self.mode = widgets.Dropdown(options=modes, value=mode, description="start")
        self.n = widgets.BoundedIntText(value=n, min=2, max=1000, description="N")
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
            config = seed_config(
                self.mode.value,
                self.base,
                genome=self._editor_genome(),
                path=self.path.value or None,
                population=self.n.value,
                stages=parse_stages(self.stages.value),
                seed=self.seed_box.value,
                init_p=self.p.value,
                init_flips=self.flips.value,
                preset=self.net_config.name,
            )
            resolved = config.resolve()
            pop = initial_population(resolved, initial_rng(resolved))
        except ValueError as exc:
            self.error.value = f"<span style='color:#c00'>{html.escape(str(exc))}</span>"
            return self.population
        self.error.value = ""
        self.config, self.resolved, self.population = config, resolved, pop
        if self.mode.value == "file":
            self.n.value = len(pop)  # a file fixes N
        self._preview()
        self.version += 1
        return pop

    def _editor_genome(self) -> Genome | None:
        editor = self.editor
        return getattr(editor, "genome", editor)

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
                params = complexity(g, self.net_config).params
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
        span = f", parameters {min(params):,} to {max(params):,} ({self.net_config.name})" if params else ""
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
        """residual-40 brings its own stages (11,11,11) in place of the default ones, and back."""
        default, own = (",".join(map(str, st)) for st in (DEFAULT_STAGES, RESIDUAL40_STAGES))
        shown = self.stages.value.replace(" ", "")
        if change["new"] == "residual-40" and shown == default:
            self.stages.value = own
        elif change["old"] == "residual-40" and change["new"] != "residual-40" and shown == own:
            self.stages.value = default
