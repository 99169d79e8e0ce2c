"""GenomeEditor: edit a genome bit by bit and watch its stages redraw.

One toggle button per bit, grouped by stage and by target node j (the row
"into 4" holds the bits (1,4), (2,4), (3,4), the paper's group for node 4);
the paper's notation; each stage drawn by graphviz (or as text without
``dot``); complexity figures for a network preset and the structure key.
``editor.genome`` reads and sets the genome from code; ``on_change`` or
``observe(..., "notation")`` report every change. Knows the core, not torch.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
import traitlets

from genet_lab.encoding.complexity import complexity
from genet_lab.encoding.draw import have_dot, render
from genet_lab.encoding.genome import PAPER_STAGES, Genome, named, pair_index, parse, parse_stages, resolve
from genet_lab.encoding.graph import decode, structure_hash
from genet_lab.encoding.presets import NetworkConfig, get_preset
from genet_lab.encoding.space import strings_sharing
from genet_lab.training.catalog import DEFAULT_PRESET
from genet_lab.widgets._render import stage_html

PRESETS = ("zeros", "chain", "residual", "dense", "paper-best", "random")
"""Preset buttons: the core's named genomes at the editor's stage sizes, plus a random one."""

_MAX_COUNT_K = 5
"""Largest K for which "strings building this stage" is shown (enumeration is 2^(K(K-1)/2))."""


class GenomeEditor(widgets.VBox):
    """Toggle buttons, notation, stage drawings and figures for one genome.

    ``genome``: a Genome, notation, or name (``paper-best`` by default);
    ``config``: the NetworkConfig (or preset name) whose parameters and
    multiply-adds are shown; ``use_dot``: force graphviz on/off (default:
    whether ``dot`` is installed).
    """

    notation = traitlets.Unicode(help="the genome in the paper's notation; observe it for changes")

    def __init__(
        self,
        genome: Genome | str = "paper-best",
        config: NetworkConfig | str = DEFAULT_PRESET,
        use_dot: bool | None = None,
        presets: Sequence[str] = PRESETS,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = get_preset(config) if isinstance(config, str) else config
        self.use_dot = have_dot() if use_dot is None else bool(use_dot)
        self._rng = np.random.default_rng(seed)
        self._genome: Genome | None = None
        self._syncing = False
        self.toggles: list[dict[tuple[int, int], widgets.ToggleButton]] = []
        self.drawings: list[widgets.HTML] = []
        self._drawn: list[tuple | None] = []

        self.title = widgets.HTML()
        self.text = widgets.Text(
            description="genome",
            continuous_update=False,
            layout=widgets.Layout(width="420px"),
            placeholder="1-01 0-01-100 0-11-101-0001",
        )
        self.stages_text = widgets.Text(
            description="stages", continuous_update=False, layout=widgets.Layout(width="180px"), placeholder="3,4,5"
        )
        self.error = widgets.HTML()
        self.preset_buttons: dict[str, widgets.Button] = {}
        for name in presets:
            button = widgets.Button(
                description=name, layout=widgets.Layout(width="auto"), tooltip=f"set every stage to the {name} genome"
            )
            button.on_click(lambda _b, n=name: self.apply_preset(n))
            self.preset_buttons[name] = button
        self.add_class("genet-editor")  # a stable hook for the browser tests and for styling
        self.stage_box = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.info = widgets.HTML()
        self.text.observe(self._on_text, "value")
        self.stages_text.observe(self._on_stages_text, "value")
        self.children = [
            self.title,
            widgets.HBox([self.text, self.stages_text]),
            widgets.HBox(list(self.preset_buttons.values())),
            self.error,
            self.stage_box,
            self.info,
        ]
        self.genome = genome if isinstance(genome, Genome) else resolve(genome)

    # -- the value ---------------------------------------------------------------
    @property
    def genome(self) -> Genome:
        g = self._genome
        assert g is not None, "set at the end of __init__"
        return g

    @genome.setter
    def genome(self, value: Genome | str) -> None:
        g = value if isinstance(value, Genome) else resolve(value)
        if self._genome is not None and g == self._genome:
            return
        if self._genome is None or g.stages != self._genome.stages:
            self._syncing = True
            try:
                self._build_stages(g.stages)
            finally:
                self._syncing = False
        self._genome = g
        self._sync(g)
        self.notation = g.notation()

    @property
    def stages(self) -> tuple[int, ...]:
        return self.genome.stages

    def on_change(self, callback: Callable[[Genome], None]) -> Callable[[Genome], None]:
        """Call ``callback(genome)`` after every change; returns it (usable as a decorator)."""
        self.observe(lambda change: callback(self.genome), "notation")
        return callback

    def set_bit(self, stage: int, i: int, j: int, value: int | bool = 1) -> None:
        """Set the bit of edge (i, j), 1 <= i < j <= K, in stage ``stage`` (1-based like the paper)."""
        if not 1 <= stage <= len(self.stages):
            raise ValueError(f"stage must be in 1..{len(self.stages)}, got {stage}")
        k = self.stages[stage - 1]
        if not 1 <= i < j <= k:
            raise ValueError(f"edge (i, j) needs 1 <= i < j <= K={k}, got ({i}, {j})")
        self.toggles[stage - 1][(i, j)].value = bool(value)

    def apply_preset(self, name: str) -> None:
        """Set the genome to a preset (see PRESETS) at the current stage sizes."""
        self.error.value = ""
        if name == "random":
            bits = self._rng.integers(0, 2, size=self.genome.length)
            self.genome = Genome(self.stages, tuple(int(b) for b in bits))
        elif name == "paper-best" and self.stages != PAPER_STAGES:
            self._show_error(f"paper-best has stages 3,4,5; this editor has {_fmt(self.stages)}")
        else:
            self.genome = named(name, self.stages)

    def svg(self) -> str:
        """SVG of the whole genome (every stage joined by pooling), for saving or display."""
        return render(self.genome, "svg").decode()

    # -- building ------------------------------------------------------------------
    def _build_stages(self, stages: tuple[int, ...]) -> None:
        self.toggles, self.drawings, self._drawn, panels = [], [], [], []
        offset = 0
        for s, k in enumerate(stages):
            rows, toggles = [], {}
            for j in range(2, k + 1):
                buttons = []
                for i in range(1, j):
                    flat = offset + pair_index(i, j)
                    t = widgets.ToggleButton(
                        description=str(i),
                        layout=widgets.Layout(width="34px"),
                        tooltip=f"bit {flat + 1}: node {j} sums node {i}",
                    )
                    t.observe(lambda ch, idx=flat: self._on_toggle(idx, ch["new"]), "value")
                    toggles[(i, j)] = t
                    buttons.append(t)
                label = widgets.Label(f"into {j}:", layout=widgets.Layout(width="56px"))
                rows.append(widgets.HBox([label, *buttons]))
            drawing = widgets.HTML()
            drawing.add_class("genet-stage-drawing")
            self.toggles.append(toggles)
            self.drawings.append(drawing)
            self._drawn.append(None)
            head = widgets.HTML(f"<b>Stage {s + 1}</b> &nbsp;K={k}, {k * (k - 1) // 2} bits")
            panel = widgets.VBox(
                [head, *rows, drawing], layout=widgets.Layout(border="1px solid #ddd", padding="4px", margin="2px")
            )
            panel.add_class("genet-stage")
            panels.append(panel)
            offset += k * (k - 1) // 2
        self.stage_box.children = panels
        self.stages_text.value = _fmt(stages)

    def _sync(self, g: Genome) -> None:
        """Push the genome into the toggles, text, drawings and figures."""
        self._syncing = True
        try:
            for s, (k, bits) in enumerate(g.iter_stages()):
                for (i, j), t in self.toggles[s].items():
                    t.value = bool(bits[pair_index(i, j)])
                    t.button_style = "info" if t.value else ""
                if self._drawn[s] != bits:
                    self.drawings[s].value = stage_html(k, bits, s, self.use_dot)
                    self._drawn[s] = bits
            self.text.value = g.notation()
        finally:
            self._syncing = False
        self.title.value = (
            f"<b style='font-size:1.2em;font-family:monospace'>{html.escape(g.notation())}</b>"
            f" &nbsp;L={g.length} bits: <code>{g.bitstring()}</code>"
        )
        self.info.value = self._info_html(g)

    def _info_html(self, g: Genome) -> str:
        try:
            c = complexity(g, self.config)
            figures = (
                f"<b>{self.config.name}</b>: {c.params:,} parameters, {c.macs / 1e6:.2f} M multiply-adds, "
                f"{c.layers} layers (depth {c.depth}), convolutions per stage {list(c.convs)}"
            )
        except ValueError as exc:
            figures = f"complexity not available: {html.escape(str(exc))}"
        items = []
        for s, st in enumerate(decode(g)):
            if st.is_single_conv:
                what = "all bits zero: a single convolution"
            else:
                what = f"{st.num_convs} convolutions, depth {st.depth}"
                if st.dropped:
                    what += f", dropped node{'s' if len(st.dropped) > 1 else ''} {', '.join(map(str, st.dropped))}"
            if st.k <= _MAX_COUNT_K:
                n = strings_sharing(st.k, st.bits)
                what += f"; {n} of {2 ** (st.k * (st.k - 1) // 2)} strings build this stage"
            items.append(f"<li>Stage {s + 1}: {what}</li>")
        return (
            f"{figures}<br>structure key <code>{structure_hash(g)}</code> "
            f"(equal keys = same network)<ul style='margin:2px'>{''.join(items)}</ul>"
        )

    # -- events ----------------------------------------------------------------------
    def _on_toggle(self, index: int, value: bool) -> None:
        if self._syncing:
            return
        g = self.genome
        if g.bits[index] != int(value):
            self.genome = g.flip(index)

    def _on_text(self, change) -> None:
        if self._syncing:
            return
        try:
            g = parse(change["new"])
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.error.value = ""
        self.genome = g

    def _on_stages_text(self, change) -> None:
        if self._syncing or change["new"] == _fmt(self.stages):
            return
        try:
            stages = parse_stages(change["new"])
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.error.value = ""
        self.genome = named("zeros", stages)

    def _show_error(self, message: str) -> None:
        self.error.value = f"<span style='color:#c00'>{html.escape(message)}</span>"


def _fmt(stages: Sequence[int]) -> str:
    return ",".join(map(str, stages))
