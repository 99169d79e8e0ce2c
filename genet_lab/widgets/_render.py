"""Shared drawing helpers for the widgets: stage SVGs, HTML tables, PNG plots.

Graphviz runs through :mod:`genet_lab.encoding.draw`; when ``dot`` is missing a stage is
shown as the core's text drawing in a ``<pre>`` block. Plots are drawn with
matplotlib's object API (no pyplot state) into PNG bytes for an
``ipywidgets.Image``, which a background thread may update safely. No torch.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from genet_lab.encoding.draw import have_dot, stage_text, to_dot
from genet_lab.encoding.genome import Genome
from genet_lab.encoding.graph import decode_stage


def stage_dot(k: int, bits: Sequence[int], index: int) -> str:
    """Graphviz source of one stage, labelled with its place (0-based ``index``) in the genome."""
    source = to_dot(Genome((k,), tuple(bits)))
    return source.replace('label="Stage 1: ', f'label="Stage {index + 1}: ', 1)


@lru_cache(maxsize=512)
def stage_svg(k: int, bits: tuple[int, ...], index: int) -> str:
    """SVG text of one stage drawn by graphviz (cached: ``dot`` is a subprocess)."""
    import graphviz

    svg = graphviz.Source(stage_dot(k, bits, index)).pipe(format="svg").decode()
    start = svg.find("<svg")  # drop the XML prolog and doctype, keep an inline element
    return svg[start:] if start >= 0 else svg


def stage_html(k: int, bits: Sequence[int], index: int, use_dot: bool | None = None) -> str:
    """One stage as inline HTML: graphviz SVG, or the text drawing without ``dot``."""
    if use_dot is None:
        use_dot = have_dot()
    if use_dot:
        return stage_svg(k, tuple(bits), index)
    lines = stage_text(decode_stage(k, bits), index)
    return "<pre style='margin:0'>" + html.escape("\n".join(lines)) + "</pre>"


def field(row: Any, name: str) -> Any:
    """``row.name`` of a record (``GenerationStats``...), ``row.get(name)`` of a JSON dict
    (``report.run_summary``, a panel's result rows)."""
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)


def html_table(
    rows: Iterable[Any], columns: Sequence[str], headers: Sequence[str] | None = None, formats: dict | None = None
) -> str:
    """A plain HTML table of records or dict rows (missing values shown as '-')."""
    formats = formats or {}
    headers = headers or columns
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = field(row, c)
            text = "-" if v is None else (formats[c](v) if c in formats else str(v))
            cells.append(f"<td style='padding:2px 8px;font-family:monospace'>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure_png(fig) -> bytes:
    """PNG bytes of a matplotlib Figure made with ``matplotlib.figure.Figure``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)  # no bbox_inches="tight": it renders twice
    return buf.getvalue()


def new_figure(width: float = 6.0, height: float = 3.2, **kwargs: Any):
    """A pyplot-free Figure (safe to draw from a worker thread); ``kwargs`` go to ``Figure``."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), **kwargs)


def figure3(gens: Sequence[Any], unit: str = "fitness"):
    """Figure 3: mean fitness per generation, bars from the lowest to the highest.

    ``gens``: the store's GenerationStats, or the generation dicts of ``report.run_summary``.
    """
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(5.5, 3.2)
    ax = fig.subplots()
    if gens:
        x = [field(g, "gen") for g in gens]
        mean = [field(g, "mean") for g in gens]
        err = [[m - field(g, "min") for m, g in zip(mean, gens)], [field(g, "max") - m for m, g in zip(mean, gens)]]
        ax.errorbar(x, mean, yerr=err, fmt="o-", capsize=3, color="#4c72b0", ecolor="#999999")
        # half a generation either side: with one generation matplotlib's default +-0.05 gives
        # fractional ticks (-0.04 ... 0.04); min_n_ticks=1 lets the locator keep to integers
        ax.set_xlim(min(x) - 0.5, max(x) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("generation")
    ax.set_ylabel(unit)
    ax.set_title("mean over individuals, bars: max and min")
    fig.tight_layout()
    return fig


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"
