"""Chart kinds several sections draw: lines of a value against a size (with CI error bars and
hollow markers for noisy figures) and grouped bars per case."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from typing import Callable, Sequence

import plotly.graph_objects as go

from adcompare.report import results as R
from adcompare.report.blocks import FacetedFigure, error_bars, label, target_key
from adcompare.report.results import parsed
from adcompare.report.sections.common import (GREY, Context, add_noisy_key, measured_hover, symbols)

MAX_SIZE_TICKS = 14    # beyond this many distinct sizes, one tick per decade
BAND = "#16a34a"
NOISY_OPACITY = 0.45   # a bar flagged as noisy is drawn faded


@dataclasses.dataclass
class Series:
    """One line: a target's measurements in one view of one machine, sorted by x."""

    machine: str
    target: str
    facets: tuple
    ms: list[R.Measurement]


def group_series(ctx: Context, measurements: Sequence[R.Measurement], facet_of, x_of) -> list[Series]:
    grouped: dict[tuple, list[R.Measurement]] = defaultdict(list)
    for m in measurements:
        facets = facet_of(m)
        if facets is not None:
            grouped[(m.run.machine, str(m.get("target")), tuple(facets))].append(m)
    return [Series(machine, target, facets, sorted(ms, key=x_of))
            for (machine, target, facets), ms in sorted(
                grouped.items(), key=lambda kv: (kv[0][2], target_key(kv[0][1], ctx.registry_order)))]


def series_figure(ctx: Context, series: Sequence[Series], facet_names: Sequence[str], x_of, *, x_title: str,
                  y_title: str, x_log=True, y_log=True, linear_guide: bool = False,
                  extra_hover: Callable[[Series], str] | None = None) -> FacetedFigure:
    """Lines of value vs x with 95 % CI error bars, one per target, one panel per machine, views by
    facets; `linear_guide` adds, per view and machine, a dotted line of slope 1 (cost ∝ x) through
    the geometric mean of the values at the largest x."""
    machines = ctx.machines(m for s in series for m in s.ms)
    fig = ctx.faceted(machines, facet_names, x_title=x_title, y_title=y_title, x_log=x_log, y_log=y_log)
    for s in series:
        extra = extra_hover(s) if extra_hover else ""
        fig.add(go.Scatter(
            x=[x_of(m) for m in s.ms], y=[m.value for m in s.ms], mode="lines+markers", name=label(s.target),
            legendgroup=label(s.target), line=ctx.styles.line(s.target),
            marker={**ctx.styles.marker(s.target), "symbol": symbols(ctx, s.target, s.ms)},
            error_y={**error_bars([m.value for m in s.ms], [m.ci for m in s.ms]), "color": ctx.styles.colour(s.target)},
            text=[measured_hover(m, extra) for m in s.ms], hovertemplate="%{text}<extra></extra>"),
            s.machine, s.facets)
    for machine in machines:
        add_noisy_key(fig, [m for s in series if s.machine == machine for m in s.ms], machine)
    if linear_guide:
        add_linear_guides(fig, series, x_of)
    # Label the sizes measured when every view measured the same ones; otherwise (problems with
    # different sweeps share the axis) one tick per decade, so no view shows ticks it has no data at.
    per_view: dict[tuple, set] = defaultdict(set)
    for s in series:
        per_view[s.facets] |= {x_of(m) for m in s.ms if x_of(m) > 0}
    xs = spaced(sorted(set().union(*per_view.values()))) if per_view else []
    if x_log and xs and len(xs) <= MAX_SIZE_TICKS and len({frozenset(v) for v in per_view.values()}) == 1:
        fig.fig.update_xaxes(tickvals=xs, ticktext=[size_label(x) for x in xs])
    return fig


def add_linear_guides(fig: FacetedFigure, series: Sequence[Series], x_of) -> None:
    views: dict[tuple, list[R.Measurement]] = defaultdict(list)
    for s in series:
        views[(s.machine, s.facets)] += s.ms
    for (machine, facets), ms in views.items():
        xs = [x_of(m) for m in ms]
        lo, hi = min(xs), max(xs)
        at_hi = [m.value for m in ms if x_of(m) == hi and m.value > 0]
        if lo <= 0 or lo == hi or not at_hi:
            continue
        anchor = math.exp(statistics.mean(math.log(v) for v in at_hi))
        fig.add(go.Scatter(x=[lo, hi], y=[anchor * lo / hi, anchor], mode="lines", name="slope 1: cost ∝ n",
                           legendgroup="guide", line={"color": GREY, "width": 1.5, "dash": "dot"},
                           hoverinfo="skip"), machine, facets)


def spaced(xs: Sequence[float], min_ratio: float = 1.6) -> list[float]:
    """Drop sizes closer than `min_ratio` to the last one kept, so tick labels never overlap."""
    kept: list[float] = []
    for x in xs:
        if not kept or x >= kept[-1] * min_ratio:
            kept.append(x)
    return kept


def size_label(x: float) -> str:
    """8 -> '8', 4096 -> '4096', 100000 -> '100k', 2000000 -> '2M'."""
    for suffix, scale, start in (("M", 1e6, 1e6), ("k", 1e3, 1e4)):
        if x >= start and x % scale == 0:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def keep_series_with(ms, facet_of, x_of, minimum: int = 2):
    """Measurements whose (machine, target, view) series has at least `minimum` distinct x values."""
    xs: dict[tuple, set] = defaultdict(set)
    for m in ms:
        f = facet_of(m)
        if f is not None:
            xs[(m.run.machine, m.get("target"), f)].add(x_of(m))
    return [m for m in ms if facet_of(m) is not None and len(xs[(m.run.machine, m.get("target"), facet_of(m))]) >= minimum]


def case_tick(m: R.Measurement) -> str:
    """A bar group's label on two or three short lines (problem, n, options), so labels never
    need rotating and never collide."""
    p = parsed(m)
    if p is None:
        return label(m.get("case"))
    problem, n, opts = p
    extra = ", ".join(f"{k}={v}" for k, v in opts.items())
    return f"{label(problem)}<br>n={n}" + (f"<br>{label(extra)}" if extra else "")


def bar_chart(ctx: Context, ms, facet_names, facet_of, *, y_title: str, y_log: bool = False,
              band: tuple[float, float] | None = None) -> FacetedFigure:
    """Grouped bars with 95 % CI error bars: x = case, one bar per target, one panel per machine;
    a bar flagged as noisy is faded."""
    machines = ctx.machines(ms)
    fig = ctx.faceted(machines, facet_names, y_title=y_title, y_log=y_log, height=480)
    fig.fig.update_layout(barmode="group", bargap=0.25, margin={"b": 90}, legend={"y": -0.3 / fig.rows})
    fig.fig.update_xaxes(tickangle=0)
    grouped: dict[tuple, list] = defaultdict(list)
    for m in ms:
        grouped[(m.run.machine, str(m.get("target")), tuple(facet_of(m)))].append(m)
    cases = list(dict.fromkeys(str(m.get("case")) for m in ms))
    for (machine, target, facets), items in sorted(
            grouped.items(), key=lambda kv: (kv[0][2], target_key(kv[0][1], ctx.registry_order))):
        items = sorted(items, key=lambda m: cases.index(str(m.get("case"))))
        gpu = ctx.styles.line(target)["dash"] == "dash"
        fig.add(go.Bar(x=[case_tick(m) for m in items], y=[m.value for m in items], name=label(target),
                       legendgroup=label(target),
                       marker={"color": ctx.styles.colour(target), "pattern": {"shape": "/" if gpu else ""},
                               "opacity": [NOISY_OPACITY if m.noisy else 1.0 for m in items]},
                       error_y={**error_bars([m.value for m in items], [m.ci for m in items]), "color": "#374151"},
                       text=[measured_hover(m) for m in items], textposition="none",
                       hovertemplate="%{text}<extra></extra>"), machine, facets)
    if band and machines:
        fig.fig.add_hrect(y0=band[0], y1=band[1], row="all", col="all", fillcolor=BAND, opacity=0.18, line_width=0)
        fig.add(go.Scatter(x=[None], y=[None], mode="markers", name=f"cheap-gradient bound {band[0]:g}–{band[1]:g}",
                           marker={"symbol": "square", "size": 14, "color": BAND, "opacity": 0.35},
                           hoverinfo="skip"), machines[0])
    return fig
