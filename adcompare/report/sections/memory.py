"""What reverse mode keeps: tape bytes against depth and n (counted, so exact), and peak device memory."""

from __future__ import annotations

import plotly.graph_objects as go

from adcompare.report import results as R
from adcompare.report.blocks import FacetedFigure, no_data, note
from adcompare.report.results import family_label, parsed
from adcompare.report.sections.charts import bar_chart, group_series, keep_series_with, series_figure
from adcompare.report.sections.common import GREY, Context, Section, caveats, orders

ORDER = 40
TITLE = "Memory: what reverse mode keeps"


def steps(m: R.Measurement) -> int:
    return parsed(m)[2]["steps"]


def size(m: R.Measurement) -> int:
    return parsed(m)[1]


def depth_facet(m: R.Measurement):
    problem, n, opts = parsed(m)
    if "steps" not in opts:
        return None
    rest = {k: v for k, v in opts.items() if k != "steps"}
    return family_label(problem, {"n": n, **rest}), str(m.get("dtype", "float64"))


def n_facet(m: R.Measurement):
    problem, n, opts = parsed(m)
    return family_label(problem, opts), str(m.get("dtype", "float64"))


def add_forward_zero(fig: FacetedFigure, ms: list[R.Measurement], x_of) -> None:
    """Forward mode's tape, 0 bytes by construction, as a grey line in every panel."""
    xs = [x_of(m) for m in ms]
    for machine in fig.columns:
        fig.add(go.Scatter(x=[min(xs), max(xs)], y=[0, 0], mode="lines",
                           name="forward mode, every backend: 0 bytes", legendgroup="forward",
                           line={"color": GREY, "width": 3, "dash": "dot"},
                           hovertemplate="forward mode records nothing: 0 bytes<extra></extra>"), machine)


def tape_blocks(ctx: Context, tape: list[R.Measurement]) -> list:
    blocks: list = []
    depth_ms = keep_series_with(tape, depth_facet, lambda m: parsed(m)[2].get("steps"))
    n_ms = [m for m in keep_series_with(tape, n_facet, size) if m.value > 0]   # a log axis has no 0
    if depth_ms:
        fig = series_figure(ctx, group_series(ctx, depth_ms, depth_facet, steps), ("problem", "dtype"), steps,
                            x_title="depth: integrator steps", y_title="tape bytes", x_log=False, y_log=False)
        add_forward_zero(fig, depth_ms, steps)
        fig.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="B", rangemode="tozero")
        blocks += ["<h3>Tape bytes vs depth</h3>", fig.chart(
            "Reverse-mode tape vs depth at fixed n: linear growth, slope = bytes saved per step. Tape bytes are "
            "counted, not timed: their CI is the value itself.", orders())]
    else:
        blocks.append(no_data("tape memory across depths (several `steps` at one n)", R.TAPE))
    if n_ms:
        deep_first = sorted({n_facet(m)[0] for m in n_ms}, key=lambda text: ("steps=" not in text, text))
        fig = series_figure(ctx, group_series(ctx, n_ms, n_facet, size), ("problem", "dtype"), size,
                            x_title="n (state size)", y_title="tape bytes", x_log=True, y_log=True)
        fig.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="B")
        blocks += ["<h3>Tape bytes vs n</h3>", fig.chart(
            "Reverse-mode tape vs n at fixed depth, log–log: slope 1 means the tape is a fixed number of n-vectors "
            "per step. Forward mode (0 bytes) has no place on a log axis.", orders({"problem": deep_first}))]
    else:
        blocks.append(no_data("tape memory across n (several n at one depth)", R.TAPE))
    return blocks


def build(ctx: Context) -> Section:
    intro = ("<p>Reverse mode must keep what the backward pass needs — the <em>tape</em>: inputs of every "
             "primitive, for every step of the integrator — so its memory grows with depth and with n. "
             "Forward mode carries the tangent alongside the value and discards both as it goes: its tape is "
             "<b>0 bytes by construction</b>, the grey line. Measured here on Lorenz-96 under RK4, where "
             "<code>steps</code> sets the depth.</p>")
    tape = [m for m in ctx.results.of(R.TAPE) if parsed(m)]
    peak = [m for m in ctx.results.of(R.PEAK) if parsed(m)]
    blocks: list = caveats(ctx, tape + peak, [R.TAPE, R.PEAK])
    blocks += tape_blocks(ctx, tape) if tape else [no_data("tape memory", R.TAPE)]
    blocks.append("<h3>Peak device memory</h3>")
    if not peak:
        blocks.append(no_data("peak device memory (measured on GPU targets only)", R.PEAK))
    else:
        blocks.append(note("Peak GPU memory of one call beyond what was allocated before it "
                           "(torch <code>max_memory_allocated</code>, JAX <code>peak_bytes_in_use</code>)."))
        fig = bar_chart(ctx, peak, ("operator", "dtype"),
                        lambda m: (str(m.get("operator", "")), str(m.get("dtype", "float64"))),
                        y_title="peak device bytes")
        fig.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="B")
        blocks.append(fig.chart("", orders()))
    return Section("memory", TITLE, intro, blocks)
