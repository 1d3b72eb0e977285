"""Forward vs reverse over the n × m grid: a heatmap of who wins (ties apart), the measured
factor against theory with its CI, and the crossover point per series with its CI."""

from __future__ import annotations

import math
from collections import defaultdict

import plotly.graph_objects as go

from adcompare.operators import JACOBIAN_STRATEGIES
from adcompare.report import results as R
from adcompare.measure.numbers import fmt_interval, times
from adcompare.report.blocks import WARN, error_bars, label, no_data, table, target_key
from adcompare.report.crossover import (FORWARD, TIE, CrossPoint, crossover_points, crossover_text,
                                        series_crossover, verdict_counts)
from adcompare.report.sections.common import (GREY, Context, Section, add_noisy_key, caveats, dtype_order,
                                              measured_hover, orders, symbols, value_line)

ORDER = 20
FACETS = ("problem", "dtype", "jacobian")   # jacobian: a strategy, batched or loop
TIE_COLOUR = "#c7c2b8"                      # neutral, apart from the blue–white–red scale of wins
TITLE = "Forward vs reverse: where they cross"
CELL_FONT = {"size": 11}                    # the same in win and tie cells (plotly sizes each trace's own)


def ratio_ticks(limit: int) -> tuple[list[int], list[str]]:
    step = max(1, math.ceil(limit / 4))     # at most nine ticks
    vals = [v for v in range(-limit, limit + 1) if v % step == 0]
    text = ["even" if v == 0 else (f"fwd {2 ** -v:g}× faster" if v < 0 else f"rev {2 ** v:g}× faster") for v in vals]
    return vals, text


def verdict_line(p: CrossPoint) -> str:
    if p.verdict == TIE:
        return "<b>tie</b>: the 95 % CI of t_fwd/t_rev contains 1"
    if not p.confirmed:
        return f"{p.faster} faster by {times(p.factor)} (no CI, so no winner established)"
    return f"<b>{p.verdict} wins, {fmt_interval(p.factor, p.factor_ci, 'ratio')}</b>"


def cell_label(p: CrossPoint) -> str:
    """Heatmap cell text: 'fwd 59×', 'rev 12×', 'tie'; '?' without a CI; ⚠ when flagged noisy."""
    text = "tie" if p.verdict == TIE else f"{'fwd' if p.faster == FORWARD else 'rev'} {times(p.factor)}"
    if not p.confirmed:
        text += "?"
    return text + (f" {WARN}" if p.measurement.noisy else "")


def point_hover(p: CrossPoint) -> str:
    return measured_hover(p.measurement, f"n = {p.n}, m = {p.m} (n:m = {p.aspect})", verdict_line(p),
                          value=f"t_fwd/t_rev {value_line(p.measurement)}")


def heatmap(ctx: Context, points: list[CrossPoint], machines: list[str], aspects: list[tuple[float, str]],
            families: list[str], limit: int):
    max_targets = max(len({p.target for p in points if p.machine == mc}) for mc in machines)
    heat = ctx.faceted(machines, FACETS, height=140 + 42 * max_targets, x_title="aspect ratio n:m",
                       shared_y=False, spacing=0.14, max_columns=2)   # cells need the width for their text
    groups: dict[tuple, list[CrossPoint]] = defaultdict(list)
    for p in points:
        groups[(p.machine, p.family, p.dtype, p.strategy)].append(p)
    for (machine, family, dtype, strategy), pts in groups.items():
        xs = [name for _, name in aspects if any(p.aspect == name for p in pts)]
        targets = sorted({p.target for p in pts}, key=lambda t: target_key(t, ctx.registry_order))
        ys = [label(t) for t in targets]
        cell = {(p.target, p.aspect): p for p in pts}
        rows = [[cell.get((t, x)) for x in xs] for t in targets]
        win = dict(z=[[p.log2_ratio if p and p.verdict != TIE else None for p in row] for row in rows],
                   text=[[cell_label(p) if p and p.verdict != TIE else "" for p in row] for row in rows])
        tie = dict(z=[[0 if p and p.verdict == TIE else None for p in row] for row in rows],
                   text=[[cell_label(p) if p and p.verdict == TIE else "" for p in row] for row in rows])
        tips = [[point_hover(p) if p else "" for p in row] for row in rows]
        facets = (family, dtype, strategy)
        heat.add(go.Heatmap(x=xs, y=ys, texttemplate="%{text}", textfont=CELL_FONT, customdata=tips, hoverongaps=False,
                            hovertemplate="%{customdata}<extra></extra>", coloraxis="coloraxis",
                            xgap=2, ygap=2, name="", **win), machine, facets)
        if any(p and p.verdict == TIE for row in rows for p in row):
            heat.add(go.Heatmap(x=xs, y=ys, texttemplate="%{text}", textfont=CELL_FONT, customdata=tips,
                                hoverongaps=False,
                                hovertemplate="%{customdata}<extra></extra>", zmin=0, zmax=1, showscale=False,
                                colorscale=[[0, TIE_COLOUR], [1, TIE_COLOUR]], xgap=2, ygap=2, name="", **tie),
                     machine, facets)
    tickvals, ticktext = ratio_ticks(limit)
    heat.fig.update_layout(coloraxis={
        "colorscale": [[0, "#2166ac"], [0.5, "#f7f7f7"], [1, "#b2182b"]], "cmin": -limit, "cmax": limit,
        "colorbar": {"title": {"text": "t_fwd / t_rev"}, "tickvals": tickvals, "ticktext": ticktext, "len": 0.9}})
    heat.fig.update_yaxes(autorange="reversed")
    return heat.chart("Rows: backend:device. Columns: input:output aspect ratio, n:m, from many outputs (left) to "
                      "many inputs (right). Grey cells marked <b>tie</b>: the 95 % CI of t_fwd/t_rev contains 1, so "
                      "neither mode wins. A cell marked ? has no CI (the winner is the point estimate only); "
                      f"{WARN} marks a figure flagged as noisy (hover for why).", orders(extra={"problem": families}))


def lines(ctx: Context, points: list[CrossPoint], machines: list[str], aspects: list[tuple[float, str]],
          families: list[str], limit: int):
    fig = ctx.faceted(machines, FACETS, x_title="aspect ratio n:m", y_title="t_fwd / t_rev")
    xs_all = [math.log2(r) for r, _ in aspects]
    series: dict[tuple, list[CrossPoint]] = defaultdict(list)
    for p in points:
        series[(p.machine, p.family, p.dtype, p.strategy, p.target)].append(p)
    for (machine, family, dtype, strategy, target), pts in sorted(
            series.items(), key=lambda kv: target_key(kv[0][4], ctx.registry_order)):
        pts = sorted(pts, key=lambda p: p.n / p.m)
        facets = (family, dtype, strategy)
        ms = [p.measurement for p in pts]
        fig.add(go.Scatter(
            x=[math.log2(p.n / p.m) for p in pts], y=[p.log2_ratio for p in pts], mode="lines+markers",
            name=label(target), legendgroup=label(target), line=ctx.styles.line(target),
            marker={**ctx.styles.marker(target), "symbol": symbols(ctx, target, ms)},
            error_y={**error_bars([p.ratio for p in pts], [p.ci for p in pts], math.log2),
                     "color": ctx.styles.colour(target)},
            text=[point_hover(p) for p in pts], hovertemplate="%{text}<extra></extra>"), machine, facets)
        found = series_crossover(pts)
        cross, with_ci = found
        if cross.point is not None:
            x = math.log2(cross.point)
            bounds = (cross.low, cross.high) if with_ci and cross.low and cross.high else None
            fig.add(go.Scatter(
                x=[x], y=[0], mode="markers", name=label(target), legendgroup=label(target), showlegend=False,
                marker={"symbol": "x-thin", "size": 12, "line": {"width": 2, "color": ctx.styles.colour(target)}},
                error_x={**error_bars([cross.point], [bounds], math.log2), "color": ctx.styles.colour(target)},
                text=[f"<b>{label(target)}</b> · {label(family)} · {label(dtype)} · {label(strategy)}<br>"
                      f"crossover {crossover_text(pts, found)}"], hovertemplate="%{text}<extra></extra>"),
                machine, facets)
    for machine in machines:
        fig.add(go.Scatter(x=[min(xs_all), max(xs_all)], y=[min(xs_all), max(xs_all)], mode="lines",
                           name="theory: t_fwd/t_rev = n/m", legendgroup="theory",
                           line={"color": GREY, "dash": "dot", "width": 1.5}, hoverinfo="skip"), machine)
        add_noisy_key(fig, [p.measurement for p in points if p.machine == machine], machine)
    tickvals, ticktext = ratio_ticks(limit)
    fig.fig.update_xaxes(tickvals=xs_all, ticktext=[name for _, name in aspects])
    fig.fig.update_yaxes(tickvals=tickvals, ticktext=ticktext)
    fig.fig.add_hline(y=0, line={"color": "#111827", "width": 1})
    fig.fig.add_vline(x=0, line={"color": GREY, "width": 1, "dash": "dash"})
    return fig.chart("Below the black line forward mode is faster, above it reverse; error bars are 95 % CIs. The "
                     "dotted diagonal is theory (t_fwd/t_rev = n/m, crossing at n = m, the dashed vertical). The × on "
                     "the black line is the measured crossover of each curve, its horizontal bar the crossover's 95 % "
                     "CI (by bootstrap over the cells' CIs).", orders(extra={"problem": families}))


def best_win(pts: list[CrossPoint], mode: str) -> str:
    wins = [p for p in pts if p.verdict == mode]
    if not wins:
        return "never"
    best = max(wins, key=lambda p: (p.confirmed, p.factor))
    return f"{fmt_interval(best.factor, best.factor_ci, 'ratio')} at {best.aspect}"


def summary(ctx: Context, points: list[CrossPoint], machines: list[str]) -> str:
    by_series: dict[tuple, list[CrossPoint]] = defaultdict(list)
    for p in points:
        by_series[(p.machine, p.target, p.family, p.dtype, p.strategy)].append(p)
    rows = []
    for (machine, target, family, dtype, strategy), pts in sorted(
            by_series.items(), key=lambda kv: (machines.index(kv[0][0]), kv[0][2], dtype_order(kv[0][3]),
                                               JACOBIAN_STRATEGIES.index(kv[0][4]) if kv[0][4] in JACOBIAN_STRATEGIES
                                               else len(JACOBIAN_STRATEGIES),
                                               target_key(kv[0][1], ctx.registry_order))):
        pts = sorted(pts, key=lambda p: p.n / p.m)
        counts = verdict_counts(pts)
        cells = f"{counts['forward']} / {counts['tie']} / {counts['reverse']}"
        if counts["unconfirmed"]:
            cells += f" (+{counts['unconfirmed']} without CI)"
        rows.append([machine, target, family, dtype, strategy, cells, best_win(pts, "forward"),
                     best_win(pts, "reverse"), crossover_text(pts)])
    return table(["machine", "target", "problem", "dtype", "jacobian", "cells: fwd / tie / rev",
                  "forward's best win [95 % CI]", "reverse's best win [95 % CI]",
                  "measured crossover [95 % CI] (theory: n = m)"], rows, cls="compact crossover-summary")


def build(ctx: Context) -> Section:
    intro = ("<p>A full Jacobian of f: Rⁿ → Rᵐ costs n forward passes (one per input direction) or m reverse "
             "passes (one per output direction), so theory says t<sub>fwd</sub>/t<sub>rev</sub> ≈ n/m: forward "
             "mode wins when n &lt; m, reverse when n &gt; m, and they cross at n = m. The grid holds n·m fixed "
             "and sweeps the aspect ratio n:m. Both arms of each cell are timed in one process and the factor "
             "t<sub>fwd</sub>/t<sub>rev</sub> carries a 95 % CI over independent processes; a factor whose CI "
             "contains 1 is a <b>tie</b>, not a win. Colour shows log₂(t<sub>fwd</sub>/t<sub>rev</sub>): "
             "<span class='fwd'>blue, forward faster</span>; <span class='rev'>red, reverse faster</span>. "
             "<b>jacobian</b> picks how the passes run: <i>batched</i>, all directions in one vectorised call "
             "(vmap, vector mode), or <i>loop</i>, a Python loop of n JVPs or m VJPs — the textbook count, and "
             "the only Jacobian a backend without batching (autograd) has.</p>")
    points = crossover_points(ctx.results)
    notes = caveats(ctx, [p.measurement for p in points], [R.CROSSOVER])
    if not points:
        return Section("crossover", TITLE, intro, [*notes, no_data("the n × m crossover grid", R.CROSSOVER)])
    machines = ctx.machines(p.measurement for p in points)
    families = sorted({p.family for p in points})
    aspects = sorted({(p.n / p.m, p.aspect) for p in points})
    limit = max(1, math.ceil(max(abs(p.log2_ratio) for p in points)))
    return Section("crossover", TITLE, intro, [
        *notes, heatmap(ctx, points, machines, aspects, families, limit),
        lines(ctx, points, machines, aspects, families, limit),
        "<h3>Crossover per backend</h3>", summary(ctx, points, machines)])
