"""Steady-state time against n, per operator and dtype, with the log–log slope of every line and its CI."""

from __future__ import annotations

from adcompare.measure import stats
from adcompare.errors import UserError
from adcompare.problems import get_problem
from adcompare.report import results as R
from adcompare.report.blocks import no_data, table
from adcompare.report.results import family_label, parsed
from adcompare.report.sections.charts import Series, group_series, series_figure
from adcompare.report.sections.common import Context, Section, caveats, dtype_order, op_order, orders

ORDER = 30
TITLE = "Scaling with n"
FACETS = ("problem", "operator", "dtype")


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


def size(m: R.Measurement) -> int:
    return parsed(m)[1]


def slope(s: Series) -> tuple[float, tuple[float, float] | None] | None:
    """The least-squares slope of ln t against ln n (`stats.loglog_slope`) and its 95 % CI; the CI
    only when every point has a spread (one without would enter the bootstrap as exact)."""
    sizes = [size(m) for m in s.ms]
    if len(set(sizes)) < 2 or min(sizes) <= 0:
        return None
    estimates = [m.figure.estimate if m.figure else None for m in s.ms]
    with_ci = all(e is not None for e in estimates)
    if not with_ci:
        estimates = [stats.exact(m.value) for m in s.ms]
    value, ci = stats.loglog_slope(sizes, estimates)
    return value, ci if with_ci else None


def slope_text(result) -> str:
    if result is None:
        return ""
    value, ci = result
    return f"log–log slope {value:.2f} " + (f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "(no CI: a point has none)")


def build(ctx: Context) -> Section:
    intro = ("<p>Steady-state time of one call (preparation and JIT compilation excluded) against the input "
             "size n, on log–log axes, with 95 % CIs as error bars: a slope of 1 is linear cost, a flat start is "
             "per-call overhead. Every line's log–log slope, with its CI by bootstrap over the points' CIs, is in "
             "its hover text and in the table below. Pick the problem, operator and dtype from the menus; all "
             "backends share one chart. Solid lines and circles are CPU, dashed lines and diamonds GPU; a hollow "
             "marker is a figure flagged as noisy.</p>")
    ms = [m for m in ctx.results.of(R.TIME) if parsed(m)]
    notes = caveats(ctx, ms, [R.TIME])
    if not ms:
        return Section("scaling", TITLE, intro, [*notes, no_data("steady-state times", R.TIME)])

    def facet(m):
        problem, n, opts = parsed(m)
        return scaling_family(problem, n, opts), str(m.get("operator", "")), str(m.get("dtype", "float64"))

    series = group_series(ctx, ms, facet, size)
    slopes = {id(s): slope(s) for s in series}
    problems = sorted({facet(m)[0] for m in ms})
    fig = series_figure(ctx, series, FACETS, size, x_title="n (input size)", y_title="time per call",
                        linear_guide=True, extra_hover=lambda s: slope_text(slopes[id(s)]))
    fig.fig.update_yaxes(exponentformat="SI", minexponent=1, ticksuffix="s")

    chart = fig.chart("The dotted line has slope 1 (time ∝ n); a curve flatter than it is still paying per-call "
                      "overhead. Hover a point for the exact time and its CI, the line's slope, case, machine and "
                      "commit.", orders({"problem": problems}))
    rows = []
    for s in sorted(series, key=lambda s: (ctx.results.machines.index(s.machine), s.facets[0], op_order(s.facets[1]),
                                           dtype_order(s.facets[2]))):
        result = slopes[id(s)]
        if result is None:
            continue
        value, ci = result
        sizes = sorted({size(m) for m in s.ms})
        rows.append([s.machine, s.target, *s.facets, f"{sizes[0]:g} … {sizes[-1]:g} ({len(sizes)} sizes)",
                     f"{value:.2f}", f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "no CI (a point has none)"])
    slope_table = ("<details><summary>Table: the log–log slope of every line, with its 95 % CI</summary>"
                   + table(["machine", "target", "problem", "operator", "dtype", "n", "slope", "95 % CI"], rows,
                           cls="compact slopes") + "</details>")
    return Section("scaling", TITLE, intro, [*notes, chart, slope_table])
