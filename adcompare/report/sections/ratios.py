"""Cost ratios against the cheap-gradient bound: vjp/primal, jvp/primal, jacobian/(min(n, m)·primal)."""

from __future__ import annotations

from collections import defaultdict

from adcompare.report import results as R
from adcompare.measure.numbers import fmt_interval
from adcompare.report.blocks import WARN, ci_reason, esc, no_data, table, target_key
from adcompare.report.sections.charts import bar_chart
from adcompare.report.sections.common import Context, Section, caveats, op_order, orders

ORDER = 50
TITLE = "Cost ratios"
CHEAP_GRADIENT_BOUND = (3.0, 4.0)   # reverse mode costs at most ~3–4 primal evaluations (Griewank)


def bound_class(m: R.Measurement, bound: float) -> str:
    """within: the whole CI is at or under the bound; above: the whole CI is over it; else straddles."""
    lo, hi = m.ci if m.ci is not None else (m.value, m.value)
    return "within" if hi <= bound else "above" if lo > bound else "straddles"


def ratio_cell(m: R.Measurement | None, bound: float) -> str:
    if m is None:
        return '<span class="na">n/a</span>'
    text = fmt_interval(m.value, m.ci, "ratio") if m.ci is not None else f"{m.value:.3g}× ({ci_reason(m)})"
    flag = f" {WARN}" if m.noisy else ""
    title = f"{m.run.machine} · commit {m.run.short_commit}" + (f" · flags: {', '.join(m.flags)}" if m.flags else "")
    return f'<span class="{bound_class(m, bound)}" title="{esc(title)}">{esc(text)}{flag}</span>'


def build(ctx: Context) -> Section:
    lo, hi = CHEAP_GRADIENT_BOUND
    intro = (f"<p>Cost ratios time the operator and the primal in one process, in random-order rounds, so they "
             f"are robust to machine drift: vjp/primal, jvp/primal, and for a Jacobian, jacobian / (min(n, m) · "
             f"primal), each with its 95 % CI over independent processes. The cheap-gradient principle bounds a "
             f"reverse (or forward) pass by a small constant times the primal, about {lo:g}–{hi:g} (green band). "
             f"Above it, the backend's overhead dominates; well below 1 for Jacobians, batching pays.</p>")
    ratios = [m for m in ctx.results.of(R.RATIO) if m.get("case") is not None]
    blocks: list = caveats(ctx, ratios, [R.RATIO])
    if not ratios:
        return Section("ratios", TITLE, intro, [*blocks, no_data("cost ratios", R.RATIO)])
    ops = sorted({str(m.get("operator")) for m in ratios}, key=op_order)
    cells: dict[tuple, dict[str, R.Measurement]] = defaultdict(dict)
    for m in ratios:
        cells[(m.run.machine, str(m.get("target")), str(m.get("dtype", "float64")), str(m.get("case")))][
            str(m.get("operator"))] = m
    machines = ctx.results.machines
    rows = []
    for key in sorted(cells, key=lambda k: (machines.index(k[0]), target_key(k[1], ctx.registry_order), k[2], k[3])):
        rows.append([esc(v) for v in key] + [ratio_cell(cells[key].get(op), hi) for op in ops])
    fig = bar_chart(ctx, ratios, ("operator", "dtype"),
                    lambda m: (str(m.get("operator", "")), str(m.get("dtype", "float64"))),
                    y_title="cost ratio (× primal)", y_log=True, band=CHEAP_GRADIENT_BOUND)
    blocks.append(fig.chart("Bars inside or under the green band meet the cheap-gradient bound; error bars are 95 % "
                            "CIs; a faded bar is a figure flagged as noisy (hover for why).", orders()))
    blocks.append(f"<details open><summary>Table: every cost ratio with its 95 % CI (green: the whole CI ≤ {hi:g}; "
                  f"amber: above; grey: the CI straddles {hi:g})</summary>"
                  + table(["machine", "target", "dtype", "case", *ops], rows, cls="compact ratios", raw=True)
                  + "</details>")
    return Section("ratios", TITLE, intro, blocks)
