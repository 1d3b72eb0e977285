"""Building blocks of the page: colours per backend, faceted charts, tables, number formatting.

A chart is a plotly figure with one column per machine and, when the grid is wide, dropdown
facets (problem, operator, dtype …): every trace belongs to one facet combination and only the
selected combination is visible, so a wide grid gives more menu entries, not more legend lines.
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any, Iterable, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Okabe–Ito, colour-blind safe; backends take them in registry order, then alphabetically.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C6D31", "#000000", "#999999"]
GPU_DEVICES = ("cuda", "gpu")
PREFERRED = {"operator": "vjp", "dtype": "float64", "jacobian": "batched"}   # shown first, where present
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


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

    def marker(self, target: str) -> dict:
        gpu = split_target(target)[1] in GPU_DEVICES
        return {"color": self.colour(target), "size": 7, "symbol": "diamond" if gpu else "circle"}


def target_key(target: str, registry_order: Sequence[str]) -> tuple:
    """Sort targets by backend (registry order) then device, cpu first."""
    backend, device = split_target(target)
    rank = registry_order.index(backend) if backend in registry_order else len(registry_order)
    return rank, backend, device not in ("cpu",), device


# --- numbers ---------------------------------------------------------------------------------

def fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_bytes(b: float) -> str:
    """Decimal prefixes, as asv and the chart axes print them."""
    if not math.isfinite(b):
        return "n/a"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(b) >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} B"


def fmt_value(value: float, unit: str) -> str:
    if unit == "seconds":
        return fmt_seconds(value)
    if unit == "bytes":
        return fmt_bytes(value)
    if unit == "ratio":
        return f"{value:.3g}×"
    return f"{value:.4g} {unit}"


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


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


class FacetedFigure:
    """Collects traces into one column per machine and one view per facet combination."""

    def __init__(self, columns: Sequence[str], facet_names: Sequence[str] = (), *, height: int = 430,
                 x_title: str = "", y_title: str = "", x_log: bool = False, y_log: bool = False,
                 shared_y: bool = True, spacing: float | None = None):
        self.columns = list(columns)
        self.facet_names = tuple(facet_names)
        if spacing is None:
            spacing = 0.05 if shared_y else 0.08
        self.fig = make_subplots(rows=1, cols=max(1, len(self.columns)), shared_yaxes=shared_y,
                                 horizontal_spacing=spacing,
                                 subplot_titles=self.columns if len(self.columns) > 1 else None)
        self.trace_facets: list[tuple | None] = []
        # One tick per decade on log x: plotly's automatic log ticks sometimes come out empty.
        self.fig.update_xaxes(title_text=x_title, type="log" if x_log else None, dtick=1 if x_log else None,
                              showgrid=True, gridcolor="#e5e7eb", zeroline=False)
        self.fig.update_yaxes(type="log" if y_log else None, showgrid=True, gridcolor="#e5e7eb",
                              zeroline=False)
        self.fig.update_yaxes(title_text=y_title, row=1, col=1)
        self.fig.update_layout(
            height=height, margin={"l": 70, "r": 20, "t": 50 if len(self.columns) > 1 else 20, "b": 60},
            template="plotly_white", font={"family": FONT, "size": 13},
            legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0, "title": {"text": ""}},
            hoverlabel={"align": "left"},
        )

    def add(self, trace, column: str, facets: tuple | None = None) -> None:
        col = self.columns.index(column) + 1 if column in self.columns else 1
        self.fig.add_trace(trace, row=1, col=col)
        self.trace_facets.append(tuple(facets) if facets is not None else None)

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
        return Chart(self.fig, self.facet_names, values, self.trace_facets, default, caption)


def hover(lines: Sequence[str]) -> str:
    return "<br>".join(lines)
