"""Building blocks of the page: colours per backend, faceted charts, tables, numbers with CIs.

A chart is a plotly figure with one panel per machine (wrapped into rows, so any number of
machines fits) and, when the grid is wide, dropdown facets (problem, operator, dtype …): every
trace belongs to one facet combination and only the selected combination is visible, so a wide
grid gives more menu entries, not more legend lines.

Text from results files (machine names, targets, cases, versions …) is data, never markup:
`esc` escapes it for the page and `label` for plotly, which renders <a href>, <b>, <br> … in
trace names, hover text, tick labels and titles. `safe_figure` then neutralises any tag outside
the few this report writes itself, so a label that slipped past `label` still shows as text.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
from typing import Any, Iterable, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from adcompare.measure.numbers import fmt_interval, fmt_value

# Okabe–Ito, colour-blind safe; backends take them in registry order, then alphabetically.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C6D31", "#000000", "#999999"]
GPU_DEVICES = ("cuda", "gpu")
PREFERRED = {"operator": "vjp", "dtype": "float64", "jacobian": "batched"}   # shown first, where present
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
MAX_COLUMNS = 3          # machine panels per row; more machines wrap into further rows
ROW_GAP_PX = 90          # between rows of panels: room for the x title and the next panel's title
WARN = "⚠"
# The only tags this report puts into plotly text; anything else from the data is shown as text.
OWN_TAGS = re.compile(r"<(?!/?(?:b|i|br|sub|sup|extra)>)", re.IGNORECASE)


def split_target(target: str) -> tuple[str, str]:
    backend, _, device = str(target).partition(":")
    return backend, device or "cpu"


class Styles:
    """One colour per backend, one line dash / marker per device: the same in every chart."""

    def __init__(self, registry_order: Sequence[str], targets: Iterable[str]):
        seen = {split_target(t)[0] for t in targets}
        order = [b for b in registry_order if b in seen] + sorted(seen - set(registry_order))
        self.colours = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(order)}

    def colour(self, target: str) -> str:
        return self.colours.get(split_target(target)[0], "#444444")

    def line(self, target: str) -> dict:
        gpu = split_target(target)[1] in GPU_DEVICES
        return {"color": self.colour(target), "width": 2, "dash": "dash" if gpu else "solid"}

    def symbol(self, target: str, hollow: bool = False) -> str:
        """Circle for CPU, diamond for GPU; hollow for a figure flagged as noisy."""
        base = "diamond" if split_target(target)[1] in GPU_DEVICES else "circle"
        return base + "-open" if hollow else base

    def marker(self, target: str) -> dict:
        return {"color": self.colour(target), "size": 7, "symbol": self.symbol(target)}


def target_key(target: str, registry_order: Sequence[str]) -> tuple:
    """Sort targets by backend (registry order) then device, cpu first."""
    backend, device = split_target(target)
    rank = registry_order.index(backend) if backend in registry_order else len(registry_order)
    return rank, backend, device not in ("cpu",), device


# --- text ------------------------------------------------------------------------------------

def esc(value: Any) -> str:
    """Text for the HTML page."""
    return html.escape(str(value), quote=True)


def label(value: Any) -> str:
    """Text for plotly (trace names, hover, ticks, titles): <, > and & escaped, so markup in a
    results file shows as text. Quotes stay as they are: plotly does not decode &quot;."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_text(text: str) -> str:
    """`text` with every tag but this report's own (<b>, <i>, <br>, <sub>, <sup>, <extra>) made inert."""
    return OWN_TAGS.sub("&lt;", text)


def safe_figure(node: Any) -> Any:
    """A plotly figure dict with `safe_text` applied to every string in it."""
    if isinstance(node, str):
        return safe_text(node)
    if isinstance(node, dict):
        return {k: safe_figure(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [safe_figure(v) for v in node]
    if hasattr(node, "dtype") and getattr(node.dtype, "kind", "") in "OUS":   # numpy arrays of text
        return [safe_figure(v) for v in node.tolist()]
    return node


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "",
          raw: bool = False) -> str:
    """An HTML table; cells are escaped unless raw (then they are trusted HTML fragments)."""
    cell = (lambda c: str(c)) if raw else esc
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="table-wrap"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def note(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{text}</p>'


def no_data(what: str, benchmark: str) -> str:
    return note(f"No data for {esc(what)} in these results (asv benchmark <code>{esc(benchmark)}</code>).",
                "nodata")


def hover(lines: Sequence[str]) -> str:
    return "<br>".join(line for line in lines if line)


# --- numbers ---------------------------------------------------------------------------------

def ci_reason(m) -> str:
    """Why a measurement has no CI: an older result without a figure, or one process."""
    if m.figure is None:
        return "no CI recorded"
    if m.figure.processes <= 1:
        return "no CI: one process"
    return "no CI: spread unknown"


def fmt_measured(m) -> str:
    """A measurement's value with its CI, or with the reason it has none."""
    if m.ci is None:
        return f"{fmt_value(m.value, m.unit)} ({ci_reason(m)})"
    return fmt_interval(m.value, m.ci, m.unit)


def error_bars(values: Sequence[float], cis: Sequence[tuple[float, float] | None], transform=None) -> dict:
    """plotly's asymmetric error bars from CIs, in the axis's units after `transform` (e.g. log₂);
    a point without a CI, or whose CI the transform cannot take, gets none (and a trace with no CI
    at all draws none: plotly would draw a zero-length bar with caps for each)."""
    f = transform or (lambda v: v)
    plus, minus = [], []
    for v, ci in zip(values, cis):
        try:
            hi, mid, lo = f(ci[1]), f(v), f(ci[0])
        except (TypeError, ValueError, ZeroDivisionError):   # no CI (None), or log of ≤ 0
            plus.append(None)
            minus.append(None)
            continue
        plus.append(hi - mid)
        minus.append(mid - lo)
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
            "thickness": 1.2, "width": 3, "visible": any(v is not None for v in plus)}


# --- charts ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Chart:
    """A figure plus the facet menus that pick which traces are visible."""

    fig: go.Figure
    facet_names: tuple[str, ...]
    facet_values: list[list[str]]          # options of each menu, in order
    trace_facets: list[tuple | None]       # per trace: its facet values, None = always visible
    default: tuple | None = None           # the facet values shown first
    caption: str = ""
    trace_columns: list[str] = dataclasses.field(default_factory=list)   # per trace: its machine panel


def grid_shape(panels: int, max_columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """(rows, columns) for `panels` machine panels: at most `max_columns` per row."""
    cols = max(1, min(panels, max_columns))
    return max(1, math.ceil(panels / cols)), cols


class FacetedFigure:
    """Collects traces into one panel per machine and one view per facet combination."""

    def __init__(self, columns: Sequence[str], facet_names: Sequence[str] = (), *, height: int = 430,
                 x_title: str = "", y_title: str = "", x_log: bool = False, y_log: bool = False,
                 shared_y: bool = True, spacing: float | None = None, titles: Sequence[str] | None = None,
                 max_columns: int = MAX_COLUMNS):
        self.columns = list(columns)
        self.facet_names = tuple(facet_names)
        self.rows, self.cols = grid_shape(len(self.columns), max_columns)
        if spacing is None:
            spacing = 0.05 if shared_y else 0.08
        total = height * self.rows
        several = len(self.columns) > 1
        self.fig = make_subplots(
            rows=self.rows, cols=self.cols, shared_yaxes="all" if shared_y else False,
            horizontal_spacing=min(spacing, 0.5 / max(1, self.cols - 1)),
            vertical_spacing=min(0.5 / max(1, self.rows - 1), ROW_GAP_PX / total),
            subplot_titles=[label(t) for t in (titles or self.columns)] if several else None)
        self.trace_facets: list[tuple | None] = []
        self.trace_columns: list[str] = []
        # One tick per decade on log x: plotly's automatic log ticks sometimes come out empty.
        self.fig.update_xaxes(title_text=x_title, type="log" if x_log else None, dtick=1 if x_log else None,
                              showgrid=True, gridcolor="#e5e7eb", zeroline=False)
        self.fig.update_yaxes(type="log" if y_log else None, showgrid=True, gridcolor="#e5e7eb",
                              zeroline=False)
        for row in range(1, self.rows + 1):
            self.fig.update_yaxes(title_text=y_title, row=row, col=1)
        self.fig.update_layout(
            height=total, margin={"l": 70, "r": 20, "t": 50 if several else 20, "b": 60},
            template="plotly_white", font={"family": FONT, "size": 13},
            legend={"orientation": "h", "yanchor": "top", "y": -0.18 / self.rows, "x": 0, "title": {"text": ""}},
            hoverlabel={"align": "left"},
        )

    def position(self, column: str) -> tuple[int, int]:
        """(row, col), 1-based, of a machine's panel."""
        index = self.columns.index(column) if column in self.columns else 0
        return index // self.cols + 1, index % self.cols + 1

    def add(self, trace, column: str, facets: tuple | None = None) -> None:
        row, col = self.position(column)
        self.fig.add_trace(trace, row=row, col=col)
        self.trace_facets.append(tuple(facets) if facets is not None else None)
        self.trace_columns.append(column)

    def _default(self, values: list[list[str]]) -> tuple | None:
        """The first view: preferred values (vjp, float64) where they exist, else the first options;
        when that combination has no traces, the view that matches it best."""
        views = [f for f in self.trace_facets if f is not None]
        if not views:
            return None
        wanted = tuple(PREFERRED.get(name) if PREFERRED.get(name) in vals else vals[0]
                       for name, vals in zip(self.facet_names, values))
        return max(views, key=lambda f: sum(a == b for a, b in zip(f, wanted)))

    def chart(self, caption: str = "", orders: dict[str, Sequence] | None = None) -> Chart:
        """Finish: menu options in first-seen order (or `orders`), first view visible, one legend
        entry per legend group per view."""
        values = [list(dict.fromkeys(f[i] for f in self.trace_facets if f is not None))
                  for i in range(len(self.facet_names))]
        for i, name in enumerate(self.facet_names):
            if orders and name in orders:
                values[i] = [v for v in orders[name] if v in values[i]] + \
                            [v for v in values[i] if v not in orders[name]]
        default = self._default(values)
        shown_groups: set[tuple] = set()
        for trace, facets in zip(self.fig.data, self.trace_facets):
            visible = facets is None or facets == default
            trace.visible = visible
            group = (facets, trace.legendgroup or trace.name)
            if trace.showlegend is not False and group not in shown_groups and trace.name:
                shown_groups.add(group)
                trace.showlegend = True
            else:
                trace.showlegend = False
        return Chart(self.fig, self.facet_names, values, self.trace_facets, default, caption, self.trace_columns)
