"""Sparse Jacobians: colour counts against their lower bounds, sparse against dense Jacobians in
both modes over n, the sparse crossover (c_col JVPs against c_row VJPs) with its CI, and what
detection and colouring cost against one dense Jacobian."""

from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go

from adcompare.families import sparse as family
from adcompare.measure import stats
from adcompare.problems import all_problems
from adcompare.report import results as R
from adcompare.measure.numbers import fmt_interval, times
from adcompare.report.blocks import label, no_data, note, table, target_key
from adcompare.report.results import parsed
from adcompare.report.sections.charts import group_series, series_figure
from adcompare.report.sections.common import GREY, Context, Section, caveats, orders
from adcompare.report.sections.workloads import sizes, winner_text

ORDER = 28
TITLE = "Sparse Jacobians"
FACTOR = family.SPARSE_FACTOR.name
SPEEDUP = family.SPARSE_SPEEDUP.name
DETECTION = family.DETECTION.name
COLORING = family.COLORING.name
SETUP = family.SETUP_RATIO.name
COLORS = family.COLORS.name
BOUND = family.LOWER_BOUND.name
JACOBIANS = ("jacobian-fwd", "jacobian-rev", "jacobian-fwd-sparse", "jacobian-rev-sparse")


def structured() -> list[str]:
    return [p.name for p in all_problems() if p.sparse_jacobian]


def n_of(m: R.Measurement) -> int:
    inst = sizes(str(m.get("case")))
    return inst[0] if inst else parsed(m)[1]


def of(ctx: Context, benchmark: str) -> list[R.Measurement]:
    names = structured()
    return [m for m in ctx.results.of(benchmark) if parsed(m) and parsed(m)[0] in names]


def by_case(ms) -> dict[tuple, R.Measurement]:
    return {(m.run.machine, str(m.get("case")), m.get("mode")): m for m in ms}


def time_chart(ctx: Context, ms):
    series = group_series(ctx, ms, lambda m: (parsed(m)[0], str(m.get("operator"))), n_of)
    fig = series_figure(ctx, series, ("problem", "jacobian"), n_of, x_title="n (inputs)",
                        y_title="seconds per Jacobian", linear_guide=False)
    return fig.chart("One line per backend; pick the problem and the Jacobian (dense: n tangents or m cotangents; "
                     "sparse: one per colour, decompressed into CSR). Error bars: 95 % CIs.",
                     orders({"problem": structured(), "jacobian": list(JACOBIANS)}))


def colour_chart(ctx: Context, colours, bounds):
    machines = ctx.machines(colours)
    fig = ctx.faceted(machines, ("problem",), x_title="n (inputs)", y_title="colours (products per Jacobian)",
                      x_log=True, y_log=True)
    bound = by_case(bounds)
    lines: dict[tuple, list] = defaultdict(list)
    for m in colours:
        lines[(m.run.machine, parsed(m)[0], str(m.get("mode")))].append(m)
    for (machine, problem, mode), items in sorted(lines.items()):
        items.sort(key=n_of)
        name = "columns (forward)" if mode == "fwd" else "rows (reverse)"
        fig.add(go.Scatter(x=[n_of(m) for m in items], y=[m.value for m in items], mode="lines+markers", name=name,
                           legendgroup=mode, text=[f"{label(m.get('case'))}: {m.value:g} {name}" for m in items],
                           hovertemplate="%{text}<extra></extra>",
                           line={"dash": "solid" if mode == "fwd" else "dash"}), machine, (problem,))
        lows = [bound.get((machine, str(m.get("case")), mode)) for m in items]
        fig.add(go.Scatter(x=[n_of(m) for m, b in zip(items, lows) if b], y=[b.value for b in lows if b],
                           mode="markers", name=f"lower bound, {'rows' if mode == 'fwd' else 'columns'}' non-zeros",
                           legendgroup=f"bound-{mode}", marker={"symbol": "line-ew-open", "size": 14, "color": GREY}),
                machine, (problem,))
    return fig.chart("Colours of the greedy distance-2 colouring (best of natural, largest-first and smallest-last "
                     "orders), against n; grey dashes: the lower bound (most non-zeros in one row for columns, in one "
                     "column for rows).", orders({"problem": structured()}))


def colour_rows(ctx: Context, colours, bounds) -> list[list[str]]:
    bound = by_case(bounds)
    rows = []
    for m in sorted(colours, key=lambda m: (ctx.results.machines.index(m.run.machine), parsed(m)[0], n_of(m),
                                            str(m.get("mode")))):
        b = bound.get((m.run.machine, str(m.get("case")), m.get("mode")))
        rows.append([m.run.machine, str(m.get("case")), str(m.get("mode")), f"{m.value:g}",
                     f"{b.value:g}" if b else "-", f"{m.value / b.value:.2f}×" if b and b.value else "-"])
    return rows


def setup_rows(ctx: Context) -> list[list[str]]:
    detection = {(m.run.machine, str(m.get("case"))): m for m in of(ctx, DETECTION)}
    setup = by_case(of(ctx, SETUP))
    rows = []
    for m in sorted(of(ctx, COLORING), key=lambda m: (ctx.results.machines.index(m.run.machine), parsed(m)[0],
                                                     n_of(m), str(m.get("mode")))):
        d = detection.get((m.run.machine, str(m.get("case"))))
        s = setup.get((m.run.machine, str(m.get("case")), m.get("mode")))
        if s is None:
            verdict = "no dense Jacobian fits"
        elif s.ci is None:
            verdict = "(no CI)"
        else:
            verdict = "cheaper" if s.ci[1] < 1 else "dearer" if s.ci[0] > 1 else "tie"
        rows.append([m.run.machine, str(m.get("case")), str(m.get("mode")),
                     fmt_interval(d.value, d.ci, "seconds") if d else "-", fmt_interval(m.value, m.ci, "seconds"),
                     fmt_interval(s.value, s.ci, "ratio") if s else "-", verdict])
    return rows


def speedup_text(m: R.Measurement | None) -> str:
    if m is None:
        return "-"
    if m.ci is not None and stats.is_tie(m.ci):
        return f"tie ({fmt_interval(m.value, m.ci, 'ratio')})"
    return fmt_interval(m.value, m.ci, "ratio") if m.ci else times(m.value) + " (no CI)"


def winner_rows(ctx: Context) -> list[list[str]]:
    speed = {(m.run.machine, str(m.get("target")), str(m.get("case")), m.get("mode")): m for m in of(ctx, SPEEDUP)}
    rows = []
    for m in sorted(of(ctx, FACTOR), key=lambda m: (ctx.results.machines.index(m.run.machine), parsed(m)[0], n_of(m),
                                                   target_key(str(m.get("target")), ctx.registry_order))):
        key = (m.run.machine, str(m.get("target")), str(m.get("case")))
        fwd, rev = m.parts.get("fwd"), m.parts.get("rev")
        rows.append([m.run.machine, str(m.get("target")), str(m.get("case")),
                     fmt_interval(fwd.value, fwd.ci, "seconds") if fwd else "-",
                     fmt_interval(rev.value, rev.ci, "seconds") if rev else "-", winner_text(m),
                     speedup_text(speed.get((*key, "fwd"))), speedup_text(speed.get((*key, "rev")))])
    return rows


def subsection(title: str, explanation: str, headers: list[str], rows: list[list[str]]) -> list:
    """A titled, explained table, or nothing when it has no rows."""
    return [f"<h3>{title}</h3>", note(explanation), table(headers, rows, cls="compact")] if rows else []


def build(ctx: Context) -> Section:
    intro = ("<p>With a sparsity pattern and a colouring, a Jacobian costs one forward pass per <i>column colour</i> "
             "(columns of one colour share no row) or one reverse pass per <i>row colour</i>, instead of n or m. Our "
             "engine detects the pattern (index sets through its primitives) for every backend; the greedy "
             "distance-2 colouring seeds the backend's batched JVPs or VJPs, and the products are decompressed "
             "into a CSR matrix. Which mode wins then depends on the two colour counts, not on n and m: the sparse "
             "crossover. Every time and ratio comes with its 95 % CI; a winner is named only when the CI excludes "
             "1.</p>")
    times_ms = [m for m in of(ctx, R.TIME) if m.get("operator") in JACOBIANS]
    colours, bounds = of(ctx, COLORS), of(ctx, BOUND)
    shown = times_ms + colours + of(ctx, FACTOR)
    blocks: list = caveats(ctx, shown, [R.TIME, FACTOR, SPEEDUP, SETUP])
    if not colours and not of(ctx, FACTOR):
        return Section("sparse", TITLE, intro, [*blocks, no_data("sparse Jacobians", FACTOR + " / " + COLORS)])
    if colours:
        blocks += ["<h3>Colours against n</h3>", colour_chart(ctx, colours, bounds),
                   table(["machine", "case", "mode", "colours", "lower bound", "colours / bound"],
                         colour_rows(ctx, colours, bounds), cls="compact")]
    if times_ms:
        blocks += ["<h3>Time against n: dense and sparse, forward and reverse</h3>", time_chart(ctx, times_ms)]
    blocks += subsection("The sparse crossover",
                         "t_fwd/t_rev of the two sparse Jacobians, timed in the same processes, and each mode's "
                         "speedup t_dense/t_sparse where a dense Jacobian fits.",
                         ["machine", "target", "case", "sparse forward", "sparse reverse", "winner [95 % CI]",
                          "forward: dense / sparse", "reverse: dense / sparse"], winner_rows(ctx))
    blocks += subsection("What the compression costs to set up",
                         "Detection and colouring, each done afresh, on our engine; their sum against one dense "
                         "Jacobian of the same mode on the same engine (cheaper: the CI is below 1).",
                         ["machine", "case", "mode", "detection", "colouring", "(detection + colouring) / dense",
                          "verdict"], setup_rows(ctx))
    return Section("sparse", TITLE, intro, blocks)
