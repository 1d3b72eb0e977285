"""One-off costs against the steady-state call: preparation (trace, compile, warm up) in process,
and a fresh interpreter's first call."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import plotly.graph_objects as go

from adcompare.report import results as R
from adcompare.measure.numbers import fmt_seconds, times
from adcompare.report.blocks import error_bars, fmt_measured, label, no_data, note, table, target_key
from adcompare.report.sections.common import GREY, Context, Section, add_noisy_key, caveats, measured_hover, symbols

ORDER = 60
TITLE = "Compile time vs steady state"
KINDS = {"prepare (in process)": R.PREPARE, "first call (fresh interpreter)": R.FIRST_CALL}


def steady_key(m: R.Measurement) -> tuple:
    return m.run.machine, m.get("target"), m.get("dtype", "float64"), m.get("case"), m.get("operator")


def pairs_of(ctx: Context) -> list[tuple[str, R.Measurement, R.Measurement]]:
    """(kind, one-off measurement, the steady-state measurement of the same case and operator)."""
    steady = {steady_key(m): m for m in ctx.results.of(R.TIME)}
    return [(kind, m, steady[steady_key(m)]) for kind, name in KINDS.items() for m in ctx.results.of(name)
            if steady_key(m) in steady]


def chart(ctx: Context, pairs):
    machines = ctx.machines(m for _, m, _ in pairs)
    fig = ctx.faceted(machines, ("measure",), x_title="steady-state time per call", y_title="one-off time",
                      x_log=True, y_log=True, height=470)
    series: dict[tuple, list] = defaultdict(list)
    for kind, m, t in pairs:
        series[(m.run.machine, str(m.get("target")), kind)].append((m, t))
    for (machine, target, kind), items in sorted(series.items(), key=lambda kv: target_key(kv[0][1], ctx.registry_order)):
        ms = [m for m, _ in items]
        steady = [t for _, t in items]
        fig.add(go.Scatter(
            x=[t.value for t in steady], y=[m.value for m in ms], mode="markers", name=label(target),
            legendgroup=label(target),
            marker={**ctx.styles.marker(target), "symbol": symbols(ctx, target, ms), "size": 9, "opacity": 0.85},
            error_x={**error_bars([t.value for t in steady], [t.ci for t in steady]), "color": ctx.styles.colour(target)},
            error_y={**error_bars([m.value for m in ms], [m.ci for m in ms]), "color": ctx.styles.colour(target)},
            text=[measured_hover(m, f"steady state {fmt_measured(t)}", f"{m.value / t.value:.3g}× a call")
                  for m, t in items], hovertemplate="%{text}<extra></extra>"), machine, (kind,))
    for machine in machines:
        add_noisy_key(fig, [m for _, m, _ in pairs if m.run.machine == machine], machine)
    xlo, xhi = min(t.value for *_, t in pairs) / 2, max(t.value for *_, t in pairs) * 2
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
    fig.fig.update_xaxes(exponentformat="SI", minexponent=1, ticksuffix="s", range=[math.log10(xlo), math.log10(xhi)])
    fig.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="s", range=[math.log10(ylo), math.log10(yhi)])
    return fig.chart("Circles CPU, diamonds GPU, hollow when flagged noisy; error bars are 95 % CIs of both times. "
                     "Hover for case, operator and both times.")


def tables(ctx: Context, pairs) -> list[str]:
    machines = ctx.results.machines
    per: dict[tuple, list] = defaultdict(list)
    for kind, m, t in pairs:
        per[(m.run.machine, str(m.get("target")), kind)].append((m, t))
    rows = []
    for (machine, target, kind), items in sorted(per.items(), key=lambda kv: (
            machines.index(kv[0][0]), target_key(kv[0][1], ctx.registry_order), kv[0][2])):
        values = [m.value for m, _ in items]
        rows.append([machine, target, kind, fmt_seconds(statistics.median(values)),
                     f"{fmt_seconds(min(values))} … {fmt_seconds(max(values))}",
                     times(statistics.median(m.value / t.value for m, t in items)), len(items),
                     sum(1 for m, _ in items if m.ci is not None)])
    detail = [[m.run.machine, str(m.get("target")), kind, str(m.get("case")), str(m.get("operator")),
               fmt_measured(m), fmt_measured(t)]
              for kind, m, t in sorted(pairs, key=lambda p: (machines.index(p[1].run.machine),
                                                             target_key(str(p[1].get("target")), ctx.registry_order),
                                                             p[0], str(p[1].get("case")), str(p[1].get("operator"))))]
    return [table(["machine", "target", "measure", "median one-off time", "range over cases",
                   "median × steady-state call", "cases", "with a 95 % CI"], rows, cls="compact"),
            "<details><summary>Table: every one-off time and its steady state, with 95 % CIs</summary>"
            + table(["machine", "target", "measure", "case", "operator", "one-off time", "steady state"], detail,
                    cls="compact") + "</details>"]


def build(ctx: Context) -> Section:
    intro = ("<p>Preparation converts inputs, traces and compiles (JIT), then makes one warm-up call; first-call "
             "latency is import + prepare + first run in a fresh interpreter, where no cache helps. Each point is "
             "one case and operator; the dotted diagonals mark 1×, 10×, 100×, … the steady-state call, so the "
             "label a point sits near says how many calls pay for the preparation.</p>")
    one_off = ctx.results.of(R.PREPARE) + ctx.results.of(R.FIRST_CALL)
    blocks: list = caveats(ctx, one_off, [R.PREPARE, R.FIRST_CALL])
    if not one_off:
        return Section("compile", TITLE, intro, [*blocks, no_data("preparation and first-call times",
                                                                  R.PREPARE + " / " + R.FIRST_CALL)])
    pairs = pairs_of(ctx)
    if not pairs:
        return Section("compile", TITLE, intro, [*blocks, no_data("steady-state times matching the prepared cases",
                                                                  R.TIME)])
    unmatched = len(one_off) - len(pairs)
    if unmatched:
        blocks.append(note(f"{unmatched} one-off time{'s' * (unmatched != 1)} without a steady-state time of the same "
                           "case and operator are not plotted."))
    return Section("compile", TITLE, intro, [*blocks, chart(ctx, pairs), *tables(ctx, pairs)])
