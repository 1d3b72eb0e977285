"""The report's sections: each turns one slice of the results into text, tables and charts.

Every number shown carries its machine, commit and dtype in the hover text; the full
environment of every run is in the last section.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from adcompare.backends import DTYPES
from adcompare.errors import UserError
from adcompare.problems import get_problem
from adcompare.operators import JACOBIAN_STRATEGIES, OPERATORS
from adcompare.report import results as R
from adcompare.report import runinfo as info
from adcompare.report.blocks import (Chart, FacetedFigure, Styles, esc, fmt_seconds, fmt_value,
                                     hover, no_data, note, table, target_key)
from adcompare.report.crossover import CrossPoint, crossover_points, crossover_summary, times
from adcompare.report.example import COTANGENTS, WorkedExample
from adcompare.report.results import family_label, parsed

CHEAP_GRADIENT_BOUND = (3.0, 4.0)   # reverse mode costs at most ~3–4 primal evaluations (Griewank)
GREY = "#6b7280"
MAX_SIZE_TICKS = 14    # beyond this many distinct sizes, one tick per decade
BAND = "#16a34a"
CROSSOVER_FACETS = ("problem", "dtype", "jacobian")   # jacobian: a strategy, batched or loop


@dataclasses.dataclass
class Section:
    id: str
    title: str
    intro: str                                  # HTML
    blocks: list = dataclasses.field(default_factory=list)   # HTML strings and Charts


@dataclasses.dataclass
class Context:
    results: R.ResultSet
    styles: Styles
    registry_order: list[str]

    def machines(self, measurements: Sequence[R.Measurement]) -> list[str]:
        found = {m.run.machine for m in measurements}
        return [name for name in self.results.machines if name in found]


# --- shared helpers --------------------------------------------------------------------------

def measured_hover(m: R.Measurement, *extra: str) -> str:
    what = " · ".join(str(m.get(k)) for k in ("case", "operator", "dtype") if m.get(k) is not None)
    return hover([f"<b>{esc(m.get('target', '?'))}</b>", esc(what), *extra,
                  f"{fmt_value(m.value, m.unit)}",
                  f"machine {esc(m.run.machine)} · commit {esc(m.run.short_commit)}"])


def dtype_order(name: str) -> int:
    return DTYPES.index(name) if name in DTYPES else len(DTYPES)


def op_order(name: str) -> int:
    names = list(OPERATORS)
    return names.index(name) if name in names else len(names)


def orders(extra: dict | None = None) -> dict:
    base = {"operator": sorted(OPERATORS, key=op_order), "dtype": list(DTYPES), "jacobian": list(JACOBIAN_STRATEGIES)}
    return {**base, **(extra or {})}


# --- 0. machines -----------------------------------------------------------------------------

def machines_section(ctx: Context) -> Section:
    cards = []
    for run in ctx.results.latest:
        if any(c[0] == run.machine for c in cards):
            continue
        count = sum(1 for m in ctx.results.measurements if m.run.machine == run.machine)
        cards.append((run.machine, f"""
<div class="card"><h3>{esc(run.machine)}</h3><dl>
<dt>CPU</dt><dd>{esc(info.cpu(run))} · {esc(info.cores(run))} cores</dd>
<dt>GPU</dt><dd>{esc(info.gpu(run))}</dd>
<dt>threads</dt><dd>{esc(info.threads(run))}</dd>
<dt>commit</dt><dd><code>{esc(run.short_commit)}</code> · {esc(run.date)}</dd>
<dt>numbers</dt><dd>{count} measurements</dd></dl></div>"""))
    several = len(cards) > 1
    intro = ("These results hold runs from several machines; every chart below puts them side by side, "
             "one column per machine, on the same axes." if several else
             "These results come from one machine. With runs from several machines (say a CPU box and a "
             "GPU box) under <code>results/</code>, every chart shows them side by side.")
    return Section("machines", "Machines", note(intro), ['<div class="cards">' + "".join(c for _, c in cards) + "</div>"])


# --- 1. worked example -----------------------------------------------------------------------

def vec(a: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:g}" for v in a) + ")"


def matrix_html(m: np.ndarray) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{v:g}</td>" for v in row) + "</tr>" for row in m)
    return f'<table class="matrix">{rows}</table>'


def example_section(example: WorkedExample) -> Section:
    x = vec(example.x)
    intro = (f"<p>The tutorial, as results. At x = {x} the Jacobian of <code>poly3</code> (closed form, left) "
             "gives vᵀJ for two cotangents; each backend below computed the same products with its own "
             "reverse mode <em>while this page was built</em>. ✓ means it matches the closed form to "
             "float64 rounding.</p>")
    maths = (f'<div class="example"><pre class="math">{esc(example.description)}</pre>'
             f'<div><p class="label">J at x = {x}</p>{matrix_html(example.jacobian)}'
             + "".join(f'<p class="label">v = {vec(np.array(v))} → vᵀJ = <b>{vec(e)}</b></p>'
                       for v, e in zip(COTANGENTS, example.expected))
             + "</div></div>")
    head = ("<tr><th>backend</th>" + "".join(
        f"<th>v = {vec(np.array(v))}</th><th></th>" for v in COTANGENTS) + "<th>what it is</th></tr>")
    body = []
    for row in example.rows:
        if row.unavailable:
            body.append(f'<tr class="unavailable"><td><b>{esc(row.backend)}</b></td>'
                        f'<td colspan="{2 * len(COTANGENTS)}">unavailable here: {esc(row.unavailable)}</td>'
                        f"<td>{esc(row.summary)}</td></tr>")
            continue
        cells = []
        for p in row.products:
            value = vec(p.got) if p.got is not None else esc(p.error or "no result")
            mark = '<span class="ok">✓</span>' if p.ok else '<span class="bad">✗</span>'
            cells.append(f'<td class="num">{value}</td><td>{mark}</td>')
        body.append(f"<tr><td><b>{esc(row.backend)}</b></td>{''.join(cells)}<td>{esc(row.summary)}</td></tr>")
    if not example.rows:
        body.append(f'<tr><td colspan="{2 + 2 * len(COTANGENTS)}">no backends are registered</td></tr>')
    tbl = f'<div class="table-wrap"><table class="example-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'
    return Section("example", "1 · The worked example, computed live", intro, [maths, tbl])


# --- 2. forward vs reverse -------------------------------------------------------------------

def ratio_ticks(limit: int) -> tuple[list[int], list[str]]:
    step = 2 if limit > 4 else 1
    vals = [v for v in range(-limit, limit + 1) if v % step == 0]
    text = ["even" if v == 0 else (f"fwd {2 ** -v:g}× faster" if v < 0 else f"rev {2 ** v:g}× faster") for v in vals]
    return vals, text


def crossover_section(ctx: Context) -> Section:
    intro = ("<p>A full Jacobian of f: Rⁿ → Rᵐ costs n forward passes (one per input direction) or m reverse "
             "passes (one per output direction), so theory says t<sub>fwd</sub>/t<sub>rev</sub> ≈ n/m: forward "
             "mode wins when n &lt; m, reverse when n &gt; m, and they cross at n = m. The grid holds n·m fixed "
             "and sweeps the aspect ratio n:m. Colour shows log₂(t<sub>fwd</sub>/t<sub>rev</sub>): "
             "<span class='fwd'>blue, forward faster</span>; <span class='rev'>red, reverse faster</span>; "
             "the cell text says by how much. <b>jacobian</b> picks how the passes run: <i>batched</i>, all "
             "directions in one vectorised call (vmap, vector mode), or <i>loop</i>, a Python loop of n JVPs or m "
             "VJPs — the textbook count, and the only Jacobian a backend without batching (autograd) has.</p>")
    points = crossover_points(ctx.results)
    if not points:
        return Section("crossover", "2 · Forward vs reverse: where they cross", intro,
                       [no_data("the n × m crossover grid", R.CROSSOVER)])
    machines = [mc for mc in ctx.results.machines if any(p.machine == mc for p in points)]
    families = sorted({p.family for p in points})
    aspects = sorted({(p.n / p.m, p.aspect) for p in points})
    limit = max(1, math.ceil(max(abs(p.log2_ratio) for p in points)))
    tickvals, ticktext = ratio_ticks(limit)

    # heatmap: backends × aspect ratio, one per machine / family / dtype / strategy
    max_targets = max(len({p.target for p in points if p.machine == mc}) for mc in machines)
    heat = FacetedFigure(machines, CROSSOVER_FACETS, height=140 + 42 * max_targets,
                         x_title="aspect ratio n:m", shared_y=False, spacing=0.14)
    groups: dict[tuple, list[CrossPoint]] = defaultdict(list)
    for p in points:
        groups[(p.machine, p.family, p.dtype, p.strategy)].append(p)
    for (machine, family, dtype, strategy), pts in groups.items():
        xs = [label for _, label in aspects if any(p.aspect == label for p in pts)]
        ys = sorted({p.target for p in pts}, key=lambda t: target_key(t, ctx.registry_order))
        cell = {(p.target, p.aspect): p for p in pts}
        z, text, tips = [], [], []
        for t in ys:
            row = [cell.get((t, x)) for x in xs]
            z.append([p.log2_ratio if p else None for p in row])
            text.append([f"{'fwd' if p.winner == 'forward' else 'rev'} {times(p.factor)}" if p else "" for p in row])
            tips.append([hover([f"<b>{esc(t)}</b> · {esc(family)} · {dtype} · {strategy}",
                                f"n = {p.n}, m = {p.m} (n:m = {p.aspect})",
                                f"forward {fmt_seconds(p.t_fwd)} · reverse {fmt_seconds(p.t_rev)}",
                                f"<b>{p.winner} wins, {p.factor:.3g}×</b>",
                                f"machine {esc(machine)} · commit {esc(p.commit)}"]) if p else ""
                         for p in row])
        heat.add(go.Heatmap(z=z, x=xs, y=ys, text=text, texttemplate="%{text}", customdata=tips,
                            hovertemplate="%{customdata}<extra></extra>", coloraxis="coloraxis",
                            xgap=2, ygap=2, name=""), machine, (family, dtype, strategy))
    heat.fig.update_layout(coloraxis={
        "colorscale": [[0, "#2166ac"], [0.5, "#f7f7f7"], [1, "#b2182b"]], "cmin": -limit, "cmax": limit,
        "colorbar": {"title": {"text": "t_fwd / t_rev"}, "tickvals": tickvals, "ticktext": ticktext, "len": 0.9}})
    heat.fig.update_yaxes(autorange="reversed")
    heat_chart = heat.chart("Rows: backend:device. Columns: input:output aspect ratio, n:m, from many outputs "
                            "(left) to many inputs (right).", orders(extra={"problem": families}))

    # line: measured log-ratio vs log2(n/m), theory on the diagonal
    lines = FacetedFigure(machines, CROSSOVER_FACETS, x_title="aspect ratio n:m",
                          y_title="t_fwd / t_rev")
    xs_all = [math.log2(r) for r, _ in aspects]
    for (machine, family, dtype, strategy), pts in sorted(groups.items(), key=lambda kv: [target_key(kv[1][0].target,
                                                                               ctx.registry_order)]):
        by_target: dict[str, list[CrossPoint]] = defaultdict(list)
        for p in pts:
            by_target[p.target].append(p)
        for target in sorted(by_target, key=lambda t: target_key(t, ctx.registry_order)):
            tp = sorted(by_target[target], key=lambda p: p.n / p.m)
            lines.add(go.Scatter(
                x=[math.log2(p.n / p.m) for p in tp], y=[p.log2_ratio for p in tp], mode="lines+markers",
                name=target, legendgroup=target, line=ctx.styles.line(target), marker=ctx.styles.marker(target),
                text=[hover([f"<b>{esc(target)}</b> · {esc(family)} · {dtype} · {strategy}", f"n = {p.n}, m = {p.m}",
                             f"forward {fmt_seconds(p.t_fwd)} · reverse {fmt_seconds(p.t_rev)}",
                             f"<b>{p.winner} wins, {p.factor:.3g}×</b>",
                             f"machine {esc(machine)} · commit {esc(p.commit)}"]) for p in tp],
                hovertemplate="%{text}<extra></extra>"), machine, (family, dtype, strategy))
    for machine in machines:
        lines.add(go.Scatter(x=[min(xs_all), max(xs_all)], y=[min(xs_all), max(xs_all)], mode="lines",
                             name="theory: t_fwd/t_rev = n/m", legendgroup="theory",
                             line={"color": GREY, "dash": "dot", "width": 1.5}, hoverinfo="skip"), machine)
    lines.fig.update_xaxes(tickvals=xs_all, ticktext=[label for _, label in aspects])
    lines.fig.update_yaxes(tickvals=tickvals, ticktext=ticktext)
    lines.fig.add_hline(y=0, line={"color": "#111827", "width": 1})
    lines.fig.add_vline(x=0, line={"color": GREY, "width": 1, "dash": "dash"})
    line_chart = lines.chart("Below the black line forward mode is faster, above it reverse. The dotted diagonal "
                             "is theory (t_fwd/t_rev = n/m, crossing at n = m, the dashed vertical); where a "
                             "curve crosses zero is the measured crossover.",
                             orders(extra={"problem": families}))

    summary_rows = []
    by_series: dict[tuple, list[CrossPoint]] = defaultdict(list)
    for p in points:
        by_series[(p.machine, p.target, p.family, p.dtype, p.strategy)].append(p)
    for (machine, target, family, dtype, strategy), pts in sorted(
            by_series.items(), key=lambda kv: (machines.index(kv[0][0]), kv[0][2], dtype_order(kv[0][3]),
                                               JACOBIAN_STRATEGIES.index(kv[0][4]),
                                               target_key(kv[0][1], ctx.registry_order))):
        pts = sorted(pts, key=lambda p: p.n / p.m)
        best_fwd = min(pts, key=lambda p: p.log2_ratio)
        best_rev = max(pts, key=lambda p: p.log2_ratio)
        summary_rows.append([machine, target, family, dtype, strategy,
                             f"{best_fwd.factor:.3g}× at {best_fwd.aspect}" if best_fwd.winner == "forward" else "never",
                             f"{best_rev.factor:.3g}× at {best_rev.aspect}" if best_rev.winner == "reverse" else "never",
                             crossover_summary(pts)])
    summary = table(["machine", "target", "problem", "dtype", "jacobian", "forward's best win", "reverse's best win",
                     "measured crossover (theory: n = m)"], summary_rows, cls="compact")
    return Section("crossover", "2 · Forward vs reverse: where they cross", intro,
                   [heat_chart, line_chart, "<h3>Crossover per backend</h3>", summary])


# --- 3. scaling ------------------------------------------------------------------------------

def series_chart(ctx: Context, measurements: Sequence[R.Measurement], facet_names: Sequence[str],
                 facet_of, x_of, *, x_title: str, y_title: str, x_log=True, y_log=True, caption="",
                 facet_orders=None, linear_guide: bool = False) -> Chart:
    """Lines of value vs x, one per target, one column per machine, views by `facet_of(m)`;
    `linear_guide` adds, per view and machine, a dotted line of slope 1 (cost ∝ x) through the
    geometric mean of the values at the largest x."""
    grouped: dict[tuple, list[R.Measurement]] = defaultdict(list)
    for m in measurements:
        facets = facet_of(m)
        if facets is not None:
            grouped[(m.run.machine, m.get("target"), tuple(facets))].append(m)
    machines = ctx.machines(measurements)
    fig = FacetedFigure(machines, facet_names, x_title=x_title, y_title=y_title, x_log=x_log, y_log=y_log)
    for (machine, target, facets), ms in sorted(
            grouped.items(), key=lambda kv: (kv[0][2], target_key(kv[0][1], ctx.registry_order))):
        ms = sorted(ms, key=x_of)
        fig.add(go.Scatter(x=[x_of(m) for m in ms], y=[m.value for m in ms], mode="lines+markers", name=target,
                           legendgroup=target, line=ctx.styles.line(target), marker=ctx.styles.marker(target),
                           text=[measured_hover(m) for m in ms], hovertemplate="%{text}<extra></extra>"),
                machine, facets)
    if linear_guide:
        add_linear_guides(fig, grouped, x_of)
    # Label the sizes measured when every view measured the same ones; otherwise (problems with
    # different sweeps share the axis) one tick per decade, so no view shows ticks it has no data at.
    per_view: dict[tuple, set] = defaultdict(set)
    for (_, _, facets), ms in grouped.items():
        per_view[facets] |= {x_of(m) for m in ms if x_of(m) > 0}
    xs = spaced(sorted(set().union(*per_view.values())))
    if x_log and len(xs) <= MAX_SIZE_TICKS and len({frozenset(v) for v in per_view.values()}) == 1:
        fig.fig.update_xaxes(tickvals=xs, ticktext=[size_label(x) for x in xs])
    return fig.chart(caption, orders(facet_orders))


def add_linear_guides(fig: FacetedFigure, grouped: dict[tuple, list[R.Measurement]], x_of) -> None:
    views: dict[tuple, list[R.Measurement]] = defaultdict(list)
    for (machine, _, facets), ms in grouped.items():
        views[(machine, facets)] += ms
    for (machine, facets), ms in views.items():
        xs = [x_of(m) for m in ms]
        lo, hi = min(xs), max(xs)
        if lo <= 0 or lo == hi:
            continue
        at_hi = [m.value for m in ms if x_of(m) == hi and m.value > 0]
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


def scaling_family(problem: str, n: int, opts: dict[str, int]) -> str:
    """The line a case belongs to on a scaling chart: options that follow n by default (affine's
    m = n) are spelled `m=n`, so all sizes of the family share one line."""
    try:
        registered = get_problem(problem)
    except UserError:
        return family_label(problem, opts)
    follows_n = {k for k, v in opts.items()
                 if registered.options.get(k, 0) is None and v == registered.option_default(k, n)}
    label = family_label(problem, {k: v for k, v in opts.items() if k not in follows_n})
    return label + "".join(f", {k}=n" for k in sorted(follows_n))


def scaling_section(ctx: Context) -> Section:
    intro = ("<p>Steady-state time of one call (preparation and JIT compilation excluded) against the input "
             "size n, on log–log axes: a slope of 1 is linear cost, a flat start is per-call overhead. Pick the "
             "problem, operator and dtype from the menus; all backends share one chart. Solid lines and "
             "circles are CPU, dashed lines and diamonds GPU.</p>")
    ms = [m for m in ctx.results.of(R.TIME) if parsed(m)]
    if not ms:
        return Section("scaling", "3 · Scaling with n", intro, [no_data("steady-state times", R.TIME)])

    def facet(m):
        problem, n, opts = parsed(m)
        return scaling_family(problem, n, opts), str(m.get("operator", "")), str(m.get("dtype", "float64"))

    problems = sorted({facet(m)[0] for m in ms})
    chart = series_chart(ctx, ms, ("problem", "operator", "dtype"), facet, lambda m: parsed(m)[1],
                         x_title="n (input size)", y_title="time per call",
                         caption="The dotted line has slope 1 (time ∝ n); a curve flatter than it is "
                                 "still paying per-call overhead. Hover a point for the exact time, case, machine "
                                 "and commit.",
                         facet_orders={"problem": problems}, linear_guide=True)
    chart.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="s")
    return Section("scaling", "3 · Scaling with n", intro, [chart])


# --- 4. memory -------------------------------------------------------------------------------

def memory_section(ctx: Context) -> Section:
    intro = ("<p>Reverse mode must keep what the backward pass needs — the <em>tape</em>: inputs of every "
             "primitive, for every step of the integrator — so its memory grows with depth and with n. "
             "Forward mode carries the tangent alongside the value and discards both as it goes: its tape is "
             "<b>0 bytes by construction</b>, the grey line. Measured here on Lorenz-96 under RK4, where "
             "<code>steps</code> sets the depth.</p>")
    blocks: list = []
    tape = [m for m in ctx.results.of(R.TAPE) if parsed(m)]
    if not tape:
        blocks.append(no_data("tape memory", R.TAPE))
    else:
        def depth_facet(m):
            problem, n, opts = parsed(m)
            if "steps" not in opts:
                return None
            rest = {k: v for k, v in opts.items() if k != "steps"}
            return family_label(problem, {"n": n, **rest}), str(m.get("dtype", "float64"))

        def n_facet(m):
            problem, n, opts = parsed(m)
            return family_label(problem, opts), str(m.get("dtype", "float64"))

        depth_ms = keep_series_with(tape, depth_facet, lambda m: parsed(m)[2].get("steps"))
        n_ms = keep_series_with(tape, n_facet, lambda m: parsed(m)[1])
        if depth_ms:
            chart = series_chart(ctx, depth_ms, ("problem", "dtype"), depth_facet,
                                 lambda m: parsed(m)[2]["steps"], x_title="depth: integrator steps",
                                 y_title="tape bytes", x_log=False, y_log=False,
                                 caption="Reverse-mode tape vs depth at fixed n: linear growth, slope = bytes "
                                         "saved per step.")
            add_forward_zero(chart, ctx, depth_ms, lambda m: parsed(m)[2]["steps"])
            chart.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="B", rangemode="tozero")
            blocks += ["<h3>Tape bytes vs depth</h3>", chart]
        else:
            blocks.append(no_data("tape memory across depths (several `steps` at one n)", R.TAPE))
        if n_ms:
            deep_first = sorted({n_facet(m)[0] for m in n_ms}, key=lambda label: ("steps=" not in label, label))
            chart = series_chart(ctx, n_ms, ("problem", "dtype"), n_facet, lambda m: parsed(m)[1],
                                 facet_orders={"problem": deep_first},
                                 x_title="n (state size)", y_title="tape bytes", x_log=True, y_log=True,
                                 caption="Reverse-mode tape vs n at fixed depth, log–log: slope 1 means the "
                                         "tape is a fixed number of n-vectors per step. Forward mode (0 bytes) "
                                         "has no place on a log axis.")
            chart.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="B")
            blocks += ["<h3>Tape bytes vs n</h3>", chart]
        else:
            blocks.append(no_data("tape memory across n (several n at one depth)", R.TAPE))

    peak = [m for m in ctx.results.of(R.PEAK) if parsed(m)]
    blocks.append("<h3>Peak device memory</h3>")
    if not peak:
        blocks.append(no_data("peak device memory (measured on GPU targets only)", R.PEAK))
    else:
        blocks.append(note("Peak GPU memory of one call beyond what was allocated before it "
                           "(torch <code>max_memory_allocated</code>, JAX <code>peak_bytes_in_use</code>)."))
        blocks.append(bar_chart(ctx, peak, ("operator", "dtype"),
                                lambda m: (str(m.get("operator", "")), str(m.get("dtype", "float64"))),
                                y_title="peak device bytes"))
        blocks[-1].fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="B")
    return Section("memory", "4 · Memory: what reverse mode keeps", intro, blocks)


def keep_series_with(ms, facet_of, x_of, minimum: int = 2):
    """Measurements whose (machine, target, view) series has at least `minimum` distinct x values."""
    xs: dict[tuple, set] = defaultdict(set)
    for m in ms:
        f = facet_of(m)
        if f is not None:
            xs[(m.run.machine, m.get("target"), f)].add(x_of(m))
    return [m for m in ms if facet_of(m) is not None and len(xs[(m.run.machine, m.get("target"), facet_of(m))]) >= minimum]


def add_forward_zero(chart: Chart, ctx: Context, ms, x_of) -> None:
    xs = [x_of(m) for m in ms]
    machines = ctx.machines(ms)
    for i, machine in enumerate(machines):
        chart.fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[0, 0], mode="lines",
                                       name="forward mode, every backend: 0 bytes", legendgroup="forward",
                                       showlegend=i == 0, line={"color": GREY, "width": 3, "dash": "dot"},
                                       hovertemplate="forward mode records nothing: 0 bytes<extra></extra>"),
                            row=1, col=i + 1)
        chart.trace_facets.append(None)


def case_tick(m: R.Measurement) -> str:
    """A bar group's label on two or three short lines (problem, n, options), so labels never
    need rotating and never collide."""
    p = parsed(m)
    if p is None:
        return str(m.get("case"))
    problem, n, opts = p
    extra = ", ".join(f"{k}={v}" for k, v in opts.items())
    return f"{problem}<br>n={n}" + (f"<br>{extra}" if extra else "")


def bar_chart(ctx: Context, ms, facet_names, facet_of, *, y_title: str, y_log: bool = False,
              caption: str = "", band: tuple[float, float] | None = None, facet_orders=None) -> Chart:
    """Grouped bars: x = case, one bar per target, one column per machine."""
    machines = ctx.machines(ms)
    fig = FacetedFigure(machines, facet_names, y_title=y_title, y_log=y_log, height=480)
    fig.fig.update_layout(barmode="group", bargap=0.25, margin={"b": 90},
                          legend={"y": -0.3})
    fig.fig.update_xaxes(tickangle=0)
    grouped: dict[tuple, list] = defaultdict(list)
    for m in ms:
        grouped[(m.run.machine, m.get("target"), tuple(facet_of(m)))].append(m)
    cases = list(dict.fromkeys(str(m.get("case")) for m in ms))
    for (machine, target, facets), items in sorted(
            grouped.items(), key=lambda kv: (kv[0][2], target_key(kv[0][1], ctx.registry_order))):
        items = sorted(items, key=lambda m: cases.index(str(m.get("case"))))
        fig.add(go.Bar(x=[case_tick(m) for m in items], y=[m.value for m in items], name=target,
                       legendgroup=target, marker={"color": ctx.styles.colour(target),
                                                   "pattern": {"shape": "/" if ctx.styles.line(target)["dash"] == "dash" else ""}},
                       text=[measured_hover(m) for m in items], textposition="none",
                       hovertemplate="%{text}<extra></extra>"), machine, facets)
    if band:
        fig.fig.add_hrect(y0=band[0], y1=band[1], row="all", col="all", fillcolor=BAND, opacity=0.18, line_width=0)
        fig.add(go.Scatter(x=[None], y=[None], mode="markers", name=f"cheap-gradient bound {band[0]:g}–{band[1]:g}",
                           marker={"symbol": "square", "size": 14, "color": BAND, "opacity": 0.35},
                           hoverinfo="skip"), machines[0])
    return fig.chart(caption, orders(facet_orders))


# --- 5. cost ratios and compile time ---------------------------------------------------------

def ratios_section(ctx: Context) -> Section:
    lo, hi = CHEAP_GRADIENT_BOUND
    intro = (f"<p>Cost ratios are measured in one process, so they are robust to machine drift: vjp/primal, "
             f"jvp/primal, and for a Jacobian, jacobian / (min(n, m) · primal). The cheap-gradient principle "
             f"bounds a reverse (or forward) pass by a small constant times the primal, about {lo:g}–{hi:g} "
             f"(green band). Above it, the backend's overhead dominates; well below 1 for Jacobians, batching "
             f"pays.</p>")
    blocks: list = []
    ratios = [m for m in ctx.results.of(R.RATIO) if m.get("case") is not None]
    if not ratios:
        blocks.append(no_data("cost ratios", R.RATIO))
    else:
        ops = sorted({str(m.get("operator")) for m in ratios}, key=op_order)
        cells: dict[tuple, dict[str, R.Measurement]] = defaultdict(dict)
        for m in ratios:
            cells[(m.run.machine, m.get("target"), m.get("dtype", "float64"), m.get("case"))][str(m.get("operator"))] = m
        machines = ctx.results.machines
        rows = []
        for key in sorted(cells, key=lambda k: (machines.index(k[0]), target_key(k[1], ctx.registry_order),
                                                str(k[2]), str(k[3]))):
            row = [esc(v) for v in key]
            for op in ops:
                m = cells[key].get(op)
                if m is None:
                    row.append('<span class="na">n/a</span>')
                else:
                    cls = "within" if m.value <= hi else "above"
                    row.append(f'<span class="{cls}" title="{esc(m.run.machine)} · commit '
                               f'{esc(m.run.short_commit)}">{m.value:.3g}</span>')
            rows.append(row)
        blocks.append(bar_chart(ctx, ratios, ("operator", "dtype"),
                                lambda m: (str(m.get("operator", "")), str(m.get("dtype", "float64"))),
                                y_title="cost ratio (× primal)", y_log=True, band=CHEAP_GRADIENT_BOUND,
                                caption="Bars inside or under the green band meet the cheap-gradient bound."))
        blocks.append(f"<details open><summary>Table: every cost ratio (green ≤ {hi:g}, amber above)</summary>"
                      + table(["machine", "target", "dtype", "case", *ops], rows, cls="compact ratios", raw=True)
                      + "</details>")
    blocks += compile_blocks(ctx)
    return Section("ratios", "5 · Cost ratios and compile time", intro, blocks)


def compile_blocks(ctx: Context) -> list:
    blocks: list = ["<h3>Compile / prepare time vs steady state</h3>"]
    prepare = ctx.results.of(R.PREPARE)
    first = ctx.results.of(R.FIRST_CALL)
    if not prepare and not first:
        return blocks + [no_data("preparation and first-call times", R.PREPARE + " / " + R.FIRST_CALL)]
    steady = {(m.run.machine, m.get("target"), m.get("dtype", "float64"), m.get("case"), m.get("operator")): m.value
              for m in ctx.results.of(R.TIME)}
    kinds = {"prepare (in process)": prepare, "first call (fresh interpreter)": first}
    pairs = []
    for kind, ms in kinds.items():
        for m in ms:
            t = steady.get((m.run.machine, m.get("target"), m.get("dtype", "float64"), m.get("case"), m.get("operator")))
            if t:
                pairs.append((kind, m, t))
    blocks.append(note("Preparation converts inputs, traces and compiles (JIT), then makes one warm-up call; "
                       "first-call latency is the same measured in a fresh interpreter, where no cache helps. "
                       "Each point is one case and operator; the dotted diagonals mark 1×, 10×, 100×, … the "
                       "steady-state call, so the label a point sits near says how many calls pay for the "
                       "preparation."))
    if not pairs:
        return blocks + [no_data("steady-state times matching the prepared cases", R.TIME)]
    machines = [mc for mc in ctx.results.machines if any(p[1].run.machine == mc for p in pairs)]
    fig = FacetedFigure(machines, ("measure",), x_title="steady-state time per call", y_title="one-off time",
                        x_log=True, y_log=True, height=470)
    series: dict[tuple, list] = defaultdict(list)
    for kind, m, t in pairs:
        series[(m.run.machine, m.get("target"), kind)].append((m, t))
    for (machine, target, kind), items in sorted(series.items(),
                                                 key=lambda kv: target_key(kv[0][1], ctx.registry_order)):
        fig.add(go.Scatter(x=[t for _, t in items], y=[m.value for m, _ in items], mode="markers", name=target,
                           legendgroup=target, marker={**ctx.styles.marker(target), "size": 9, "opacity": 0.85},
                           text=[measured_hover(m, f"steady state {fmt_seconds(t)}", f"{m.value / t:.3g}× a call")
                                 for m, t in items], hovertemplate="%{text}<extra></extra>"), machine, (kind,))
    xlo, xhi = min(t for *_, t in pairs) / 2, max(t for *_, t in pairs) * 2
    ylo, yhi = min(m.value for _, m, _ in pairs) / 2, max(m.value for _, m, _ in pairs) * 2
    for machine in machines:
        for factor in (10.0 ** k for k in range(0, 10)):
            x0, x1 = max(xlo, ylo / factor), min(xhi, yhi / factor)   # the part inside the plot
            if x0 >= x1:
                continue
            mid = math.sqrt(x0 * x1)
            fig.add(go.Scatter(x=[x0, mid, x1], y=[x0 * factor, mid * factor, x1 * factor], mode="lines+text",
                               text=["", f"{factor:,.0f}×", ""], textposition="top left", showlegend=False,
                               name="", line={"color": "#d1d5db", "width": 1, "dash": "dot"},
                               textfont={"color": GREY, "size": 11}, hoverinfo="skip"), machine)
    fig.fig.update_xaxes(exponentformat="SI", minexponent=1, ticksuffix="s",
                         range=[math.log10(xlo), math.log10(xhi)])
    fig.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="s",
                         range=[math.log10(ylo), math.log10(yhi)])
    blocks.append(fig.chart("Circles CPU, diamonds GPU; hover for case, operator and both times."))

    rows = []
    per: dict[tuple, list] = defaultdict(list)
    for kind, m, t in pairs:
        per[(m.run.machine, m.get("target"), kind)].append((m.value, m.value / t))
    for (machine, target, kind), vals in sorted(per.items(), key=lambda kv: (
            machines.index(kv[0][0]), target_key(kv[0][1], ctx.registry_order), kv[0][2])):
        rows.append([machine, target, kind, fmt_seconds(statistics.median(v for v, _ in vals)),
                     times(statistics.median(r for _, r in vals)), len(vals)])
    blocks.append(table(["machine", "target", "measure", "median one-off time", "median × steady-state call",
                         "cases"], rows, cls="compact"))
    return blocks


# --- 6. runs and environment -----------------------------------------------------------------

def flatten(node, prefix="") -> list[tuple[str, str]]:
    """Nested dicts and lists of dicts as ("threads.blas.0.num_threads", "1") rows."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node):
        items = enumerate(node)
    else:
        text = ", ".join(map(str, node)) if isinstance(node, list) else "none" if node is None else str(node)
        return [(prefix.rstrip("."), text)]
    return [row for k, v in items for row in flatten(v, f"{prefix}{k}.")]


def runs_section(ctx: Context) -> Section:
    intro = ("<p>Every number above comes from one of these runs; hover text in each chart names its machine "
             "and commit. Charts show each machine's newest commit; older runs are listed for reference. "
             "Fields the run did not record read <i>unknown</i>.</p>")
    dtypes: dict[str, set] = defaultdict(set)
    for m in ctx.results.measurements:
        if m.get("dtype"):
            dtypes[str(m.run.path)].add(str(m.get("dtype")))
    latest = {r.path for r in ctx.results.latest}
    fields = {
        "commit": lambda r: r.short_commit,
        "commit date": lambda r: r.date,
        "recorded": info.recorded_at,
        "plotted": lambda r: "yes" if r.path in latest else "no (older commit)",
        "CPU": info.cpu,
        "cores": info.cores,
        "threads": info.threads,
        "BLAS kernel": info.blas_kernel,
        "GPU": info.gpu,
        "dtypes measured": lambda r: ", ".join(sorted(dtypes.get(str(r.path), ()), key=dtype_order)) or "none",
        "grid": info.grid,
        "OS": lambda r: f"{r.machine_info.get('os', 'unknown')} · {r.machine_info.get('arch', 'unknown')}",
        "RAM": lambda r: ram_text(r.machine_info.get("ram")),
        "asv environment": lambda r: r.env_name,
    }
    for name in info.version_names(ctx.results.runs):
        fields[name] = lambda r, name=name: info.versions(r).get(name, "unknown")
    runs = ctx.results.runs
    rows = [[label, *(fn(r) for r in runs)] for label, fn in fields.items()]
    blocks = [table(["", *(r.machine for r in runs)], rows, cls="runs")]
    outcome_rows = []
    for name in sorted(ctx.results.outcomes):
        c = ctx.results.outcomes[name]
        unit = next((m.unit for m in ctx.results.of(name)), R._unit(name, ctx.results.benchmarks.get(name)))
        outcome_rows.append([name, unit, c.get("ok", 0), c.get("skipped", 0), c.get("failed", 0)])
    blocks += ["<h3>Benchmarks in these results</h3>",
               note("n/a (skipped) combinations cannot run on that machine — no GPU, operator not applicable, "
                    "too large; failed ones raised an error during the run."),
               table(["asv benchmark", "unit", "numbers", "n/a", "failed"], outcome_rows, cls="compact")]
    details = []
    for run in ctx.results.runs:
        if run.env:
            details.append(f"<details><summary>{esc(run.machine)} · {esc(run.short_commit)}: full environment "
                           f"record</summary>{table(['key', 'value'], flatten(run.env), cls='compact')}</details>")
    if details:
        blocks += ["<h3>Environment records</h3>", *details]
    return Section("runs", "6 · Machines, versions and runs", intro, blocks)


def ram_text(kib) -> str:
    """machine.json's ram is in kB (from /proc/meminfo)."""
    try:
        return f"{int(kib) / 2**20:.1f} GiB"
    except (TypeError, ValueError):
        return "unknown"
